#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# Reliability at scale, measured the same way for every server this host can run: load held,
# churn, half-close, slow and non-reading clients, resets, hostile input, faults, garbage arguments.
# Every figure is compared with its goal; a missed goal is reported as MISSED. Writes
# <out>/reliability.md and <out>/reliability.json; exit 0 iff every goal was met.
#
#   scripts/reliability.sh [--quick] [--faults] [--servers bpf,epoll,uring,splice,kmod] [--build DIR]
#                          [--out DIR] [--churn-seconds SEC] [--port PORT] [--loss PCT]
# Servers run one at a time on PORT (default 24346); --servers none runs only the garbage
# arguments. The servers are the server registry's (`bench servers`) but its busy-poll references,
# user-echo-server's named by their engine, kecho.ko's (in the VM) last.
# Root is needed for bpf and kmod only (and for --faults).
# --faults: instead, network faults for every server: PCT% (default 5) of the packets dropped in
# each direction by nftables rules in a network namespace of its own (numgen random), then verify,
# 1,000 half-closing clients and churn must lose no byte, leave no connection open on the port and
# (bpf) complete every drain. kmod's faults run in the VM guests (netem; scripts/vm/guest-plan.sh).
# --quick: small sizes, a minute or two per server, no VM. Full run: 10,000 connections held,
# 1,000,000 churn cycles or --churn-seconds (default 90; the table says which ended the run),
# 10,000 half-closing clients, 10,000 resets; kmod through the VM harness (its own smaller plan).
set -uo pipefail
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/vm/vm-lib.sh" # KECHO_VM_DEFAULT_KERNEL: where kmod's guest results land

quick=0 faults=0 loss=5 servers="" build=$KECHO_BUILD out=$KECHO_TOP/results churn_seconds="" port=24346
while [ $# -gt 0 ]; do
	case $1 in
	--quick) quick=1; shift ;;
	--faults) faults=1; shift ;;
	--loss) need_value "$@"; loss=$2; shift 2 ;;
	--servers) need_value "$@"; servers=$2; shift 2 ;;
	--build) need_value "$@"; build=$2; shift 2 ;;
	--out) need_value "$@"; out=$2; shift 2 ;;
	--churn-seconds) need_value "$@"; churn_seconds=$2; shift 2 ;;
	--port) need_value "$@"; port=$2; shift 2 ;;
	-h | --help) print_usage; exit 0 ;;
	*) bad_usage "unknown argument '$1'" ;;
	esac
done
export KECHO_BUILD=$build
# registry_servers: "name program" per server of the registry this script runs: the ones on this
# host first, kecho.ko's (the VM harness) last; user-echo-server's named by their engine.
registry_servers() {
	local mode engine port program role _ guest=()
	while read -r mode engine port program role _; do
		[ "$role" = reference ] && continue
		case $program in
		user-echo-server) echo "$engine $program" ;;
		kecho.ko) guest+=("$mode $program") ;;
		*) echo "$mode $program" ;;
		esac
	done < <(registry "$build/bench")
	printf '%s\n' "${guest[@]}"
}
[ -x "$build/bench" ] || build_all
# program_of NAME: the program that runs a server of registry_servers (empty for none).
program_of() {
	local name program
	while read -r name program; do [ "$name" = "$1" ] && echo "$program"; done < <(registry_servers)
	return 0
}
if [ -z "$servers" ]; then
	while read -r name program; do
		[ "$faults" = 1 ] && [ "$program" = kecho.ko ] && continue
		servers+=${servers:+,}$name
	done < <(registry_servers)
fi
for s in ${servers//,/ }; do
	[ "$s" = none ] || [ -n "$(program_of "$s")" ] ||
		bad_usage "unknown server '$s' in --servers ($(registry_servers | cut -d' ' -f1 | paste -sd, | sed 's/,/, /g'), none)"
	[ "$faults" = 1 ] && [ "$(program_of "$s")" = kecho.ko ] &&
		bad_usage "--faults runs on this host, which loads no modules: $s's faults run in the VM guests (ctest -L kmod-vm)"
done
[[ $loss =~ ^[0-9]+$ && $loss -ge 1 && $loss -le 50 ]] || bad_usage "--loss must be a whole percentage from 1 to 50, not '$loss'"
[ -z "$churn_seconds" ] || [[ $churn_seconds =~ ^[0-9]+$ && $churn_seconds -ge 1 ]] ||
	bad_usage "--churn-seconds must be a whole number of seconds, not '$churn_seconds'"
[[ $port =~ ^[0-9]+$ && $port -ge 1 && $port -le 65535 ]] || bad_usage "--port must be from 1 to 65535, not '$port'"
for s in ${servers//,/ }; do case $(program_of "$s") in echo-loader | kecho.ko) need_root "$@" ;; esac; done
[ "$faults" = 1 ] && need_root "$@"
command -v jq >/dev/null || die "jq not found: apt-get install jq (or run scripts/install-deps.sh)"

# Churn under loss: a number of cycles, bounded by a cap it should not reach (a retry cut short by
# the cap would count as a failure).
[ "$faults" = 1 ] && churn_seconds=${churn_seconds:-120}
fault_cycles=2000
[ "$quick" = 1 ] && fault_cycles=300
if [ "$quick" = 1 ]; then
	held=1000 hold=1 cycles=5000 churn_seconds=${churn_seconds:-20} clients=1000 resets=500
	slow_clients=4 slow_seconds=3
else
	held=10000 hold=5 cycles=1000000 churn_seconds=${churn_seconds:-90} clients=10000 resets=10000
	slow_clients=20 slow_seconds=10
fi
slab_margin_kb=$((64 * 1024)) # TIME_WAIT buckets of the churn stay in the slab for 60 s
tcp_margin=4                  # sockets in use (sockstat) beyond the start, inside our network namespace

for b in bench user-echo-server echo-loader; do
	[ -x "$build/$b" ] || { build_all; break; }
done
bench=$build/bench
mkdir -p "$out" || die "cannot create $out"
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true # 10,000 connections per process

work=$(mktemp -d /tmp/kecho-reliability.XXXXXX)
# Servers and clients run in a network namespace of their own (as root), so sockstat and the
# sockets on the port are ours alone; without root they share the host's and say so.
netns="" in_ns=() sockstat_scope="host-wide"
if [ "$(id -u)" -eq 0 ] && ip netns add "kecho-rel-$$" 2>/dev/null; then
	netns="kecho-rel-$$" in_ns=(nsenter "--net=/run/netns/kecho-rel-$$") sockstat_scope="network namespace"
	ip -n "$netns" link set lo up || die "cannot bring up loopback in network namespace $netns"
else
	tcp_margin=256 # the whole host's sockets come and go
fi
rows=$work/rows.jsonl
: >"$rows"
KECHO_SERVER_LOGS=$work/servers # lib.sh's server_start writes NAME.log there

# shellcheck disable=SC2317  # called through the EXIT trap
cleanup() {
	server_stop_all
	jobs -p | xargs -r kill 2>/dev/null
	[ -n "$netns" ] && ip netns del "$netns"
	rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# row SERVER CASE FIGURE GOAL MET(true|false) [DETAIL]
row() {
	jq -nc --arg server "$1" --arg case "$2" --arg figure "$3" --arg goal "$4" --argjson met "$5" \
		--arg detail "${6:-}" '{server: $server, case: $case, figure: $figure, goal: $goal, met: $met, detail: $detail}' \
		>>"$rows"
	say "$1 $2: $3 (goal: $4) $([ "$5" = true ] && echo met || echo MISSED)"
}

# is_loader NAME: the server is echo-loader's (the in-kernel echo: its stats, map and guard checked).
is_loader() { [ "$(program_of "$1")" = echo-loader ]; }
# The server under test as bench's target: its name on our port.
target_of() { echo "$1=127.0.0.1:$port"; }
# Our own loader instance (run dir, cgroup): a developer's running echo-loader is left alone.
loader() { "${in_ns[@]}" "$build/echo-loader" --run-dir "$work/run" "$@"; }
cgroup=$(awk '$3 == "cgroup2" { print $2; exit }' /proc/mounts)/kecho-reliability

# start_srv NAME: server NAME (echo-loader's, or a user-echo-server engine) on the port, in our
# network namespace, through lib.sh's server_start; stopped with server_stop NAME.
start_srv() {
	case $(program_of "$1") in
	echo-loader) server_start "$1" "$port" "${in_ns[@]}" "$build/echo-loader" --run-dir "$work/run" attach --port "$port" --cgroup "$cgroup" ;;
	*) server_start "$1" "$port" "${in_ns[@]}" "$build/user-echo-server" --engine "$1" --port "$port" ;;
	esac
}
# start_srv NAME, or a "did not start" row with its last log lines.
start_or_row() {
	start_srv "$1" || { row "$1" start "did not start" "starts" false "$(tail -n 2 "$(server_log "$1")")"; return 1; }
}

# fds NAME: descriptors the server holds now.
fds() { find "/proc/$(server_pid "$1")/fd" -mindepth 1 2>/dev/null | wc -l; }
meminfo_kb() { awk -v k="$1:" '$1 == k { print $2 }' /proc/meminfo; }
# shellcheck disable=SC2016  # awk's own $1 and $3
tcp_inuse() { "${in_ns[@]}" awk '$1 == "TCP:" { print $3 }' /proc/net/sockstat; }
# Connections to or from the echo port that are still open (not listening, not TIME_WAIT).
port_sockets() {
	"${in_ns[@]}" ss -Htan state established state syn-sent state syn-recv state fin-wait-1 state fin-wait-2 \
		state close-wait state last-ack state closing "( sport = :$port or dport = :$port )" | wc -l
}
in_map() { loader stats --json 2>/dev/null | jq -s '.[0].connections.in_map // "unknown"'; }

# settle NAME BASE: waits (at most 20 s) until the server holds no more descriptors than at the start.
settle() {
	local name=$1 base=$2 _
	for _ in $(seq 200); do
		[ "$(fds "$name")" -le "$base" ] && return 0
		sleep 0.1
	done
}

# bench_case SERVER WORKLOAD ARGS...: runs one bench workload; its JSON lands in $work/SERVER-WORKLOAD.json.
bench_case() {
	local name=$1 workload=$2 rc
	shift 2
	timeout 900 "${in_ns[@]}" "$bench" --target "$(target_of "$name")" --workload "$workload" \
		--json "$work/$name-$workload.json" "$@" >"$work/$name-$workload.out" 2>&1
	rc=$?
	if [ ! -s "$work/$name-$workload.json" ]; then
		row "$name" "$workload" "bench exit $rc, no result: $(tail -n 1 "$work/$name-$workload.out")" "a result" false
		return 1
	fi
	return 0
}

# metric SERVER WORKLOAD JQ: a jq expression over the first case's metrics.
metric() { jq -r ".cases[0].metrics | $3" "$work/$1-$2.json"; }
passed() { jq -r '.cases[0].passed' "$work/$1-$2.json"; }
detail() { jq -r '.cases[0].detail' "$work/$1-$2.json"; }

# echo_held_bytes: bpf's echo held in the kernel outside the sockets' own buffers since the loader
# started: bytes the verdict let through (received - dropped by the guard) never handed to TCP
# (echoed). A connection's share only grows until it is reset (its queue then goes) and never
# passes its pending bytes, which the guard keeps under --max-pending.
echo_held_bytes() { loader stats --json 2>/dev/null | jq -r '.bytes | .received - .dropped_by_guard - .echoed'; }

# slow_case NAME: slow and non-reading clients, with the server's RSS and MemAvailable sampled
# every 100 ms (and bpf's held echo read before and after); the memory each server bounds, checked.
slow_case() {
	local name=$1 pid sampler peak_rss drop held_before='' held_after held_mib bound clients ok
	pid=$(server_pid "$name")
	is_loader "$name" && held_before=$(echo_held_bytes)
	(
		for _ in $(seq 1200); do
			echo "$(awk '$1 == "VmRSS:" { print $2 }' "/proc/$pid/status" 2>/dev/null || echo 0) $(meminfo_kb MemAvailable)"
			sleep 0.1
		done
	) >"$work/$name-samples" &
	sampler=$!
	bench_case "$name" slow --clients "$slow_clients" --duration "$slow_seconds"
	kill "$sampler" 2>/dev/null
	wait "$sampler" 2>/dev/null
	[ -s "$work/$name-slow.json" ] || return
	# The first sample, taken as the clients start, is the base (page cache moves it between cases).
	peak_rss=$(awk '$1 > m { m = $1 } END { print int(m / 1024) }' "$work/$name-samples")
	drop=$(awk 'NR == 1 { base = $2; low = $2 } $2 < low { low = $2 } END { print int((base - low) / 1024) }' "$work/$name-samples")
	clients=$(metric "$name" slow '"\(.reset) reset, \(.flow_controlled) flow-controlled, max \(.bytes_accepted_max/1048576|round) MiB sent by one"')
	if is_loader "$name"; then
		# The guard drops every segment past --max-pending (16 MiB) of a connection, so the kernel
		# holds no more for it however late the loader's reset lands; what the client sends
		# meanwhile is acknowledged and dropped. MemAvailable is the whole machine's (other
		# programs move it): shown, not bounded.
		held_after=$(echo_held_bytes) held_mib=unknown
		[[ $held_before =~ ^[0-9]+$ && $held_after =~ ^[0-9]+$ ]] && held_mib=$(((held_after - held_before) / 1048576))
		bound=$((slow_clients * 17))
		ok=$([[ $held_mib =~ ^[0-9]+$ ]] && [ "$held_mib" -le "$bound" ] && [ "$(metric "$name" slow .unbounded)" = 0 ] && echo true || echo false)
		row "$name" "slow+non-reading: memory" "echo held in the kernel: $held_mib MiB; MemAvailable drop $drop MiB (machine-wide); $clients" \
			"held <= $bound MiB (--max-pending 16 MiB + 1 per client), none unbounded" "$ok" "$(detail "$name" slow)"
	else
		# Flow control: at most --max-buffer (4 MiB) unsent per connection, plus the process itself.
		bound=$((slow_clients * 4 + 64))
		ok=$([ "$peak_rss" -le "$bound" ] && [ "$(metric "$name" slow .unbounded)" = 0 ] && echo true || echo false)
		row "$name" "slow+non-reading: memory" "peak RSS $peak_rss MiB; $clients" \
			"peak RSS <= $bound MiB (4 MiB per client + 64), none unbounded" "$ok" "$(detail "$name" slow)"
	fi
	local result
	result=$(metric "$name" slow '"\(.bytes_checked_by_slow_readers) bytes checked by slow readers, \(.reset) of '"$slow_clients"' reset; serves after: \(.served_after)"')
	if is_loader "$name"; then
		# A slow reader still sends at full speed, so its unread echo passes --max-pending within
		# milliseconds: the guard resets it like a non-reader, usually before its first read.
		ok=$([ "$(passed "$name" slow)" = true ] && [ "$(metric "$name" slow .reset)" = "$slow_clients" ] && echo true || echo false)
		row "$name" "slow+non-reading: correctness" "$result" \
			"every client reset by the guard, what was read byte-exact, still serving" "$ok" "$(detail "$name" slow)"
	else
		row "$name" "slow+non-reading: correctness" "$result" "byte-exact, still serving" "$(passed "$name" slow)" \
			"$(detail "$name" slow)"
	fi
}

run_server() {
	local name=$1 base_fds base_slab base_tcp f s t m
	start_or_row "$name" || return
	sleep 0.5
	base_fds=$(fds "$name") base_slab=$(meminfo_kb Slab) base_tcp=$(tcp_inuse)

	if bench_case "$name" held --connections "$held" --hold "$hold"; then
		row "$name" "held" "$(metric "$name" held '"\(.echoed_after_hold)/\(.connections) echoed after \(.hold_seconds) s held; connect \(.connect_seconds*100|round/100) s"')" \
			"$held/$held echoed" "$(passed "$name" held)" "$(detail "$name" held)"
	fi
	if bench_case "$name" churn --cycles "$cycles" --duration-limit "$churn_seconds"; then
		row "$name" "churn" "$(metric "$name" churn '"\(.cycles_done) cycles\(if .time_capped then " (time cap)" else "" end), \(.cycles_per_second|round)/s, \(.failures) failures"')" \
			"$cycles cycles or ${churn_seconds} s cap, 0 failures" "$(passed "$name" churn)" "$(detail "$name" churn)"
	fi
	settle "$name" "$base_fds"
	sleep 2
	f=$(($(fds "$name") - base_fds))
	row "$name" "churn: server fds leaked" "$f" "0" "$([ "$f" -le 0 ] && echo true || echo false)"
	if is_loader "$name"; then
		m=$(in_map)
		row "$name" "churn: sockhash entries left" "$m" "0" "$([ "$m" = 0 ] && echo true || echo false)"
	fi
	s=$(($(meminfo_kb Slab) - base_slab))
	row "$name" "churn: Slab delta" "$((s / 1024)) MiB" "< $((slab_margin_kb / 1024)) MiB" "$([ "$s" -lt "$slab_margin_kb" ] && echo true || echo false)"
	t=$(($(tcp_inuse) - base_tcp))
	row "$name" "churn: TCP sockets in use delta" "$t" "<= $tcp_margin ($sockstat_scope)" "$([ "$t" -le "$tcp_margin" ] && echo true || echo false)" \
		"$("${in_ns[@]}" grep '^TCP:' /proc/net/sockstat)"
	t=$(port_sockets)
	row "$name" "churn: connections left on the port" "$t" "0" "$([ "$t" = 0 ] && echo true || echo false)"

	if bench_case "$name" half-close --clients "$clients"; then
		row "$name" "half-close" "$(metric "$name" half-close '"\(.bytes_lost) bytes lost of \(.bytes_sent), \(.failed_clients) clients failed"')" \
			"0 bytes lost, $clients clients" "$(passed "$name" half-close)" "$(detail "$name" half-close)"
	fi
	if bench_case "$name" resets --count "$resets"; then
		row "$name" "resets" "$(metric "$name" resets '"\(.resets)/\(.resets_planned) reset mid-stream, \(.failures) failures, serves after: \(.served_after)"')" \
			"$resets resets, 0 failures, still serving" "$(passed "$name" resets)" "$(detail "$name" resets)"
	fi
	settle "$name" "$base_fds"
	f=$(($(fds "$name") - base_fds))
	row "$name" "resets: server fds leaked" "$f" "0" "$([ "$f" -le 0 ] && echo true || echo false)"
	if is_loader "$name"; then
		m=$(in_map)
		row "$name" "resets: sockhash entries left" "$m" "0" "$([ "$m" = 0 ] && echo true || echo false)"
	fi

	slow_case "$name"

	local -a size_flag=()
	[ "$quick" = 1 ] && size_flag=(--quick) # 1 MiB messages instead of 16 MiB
	if bench_case "$name" bad-input "${size_flag[@]}"; then
		local n
		for n in $(jq -r '.cases | keys[]' "$work/$name-bad-input.json"); do
			row "$name" "bad input: $(jq -r ".cases[$n].name" "$work/$name-bad-input.json")" \
				"$(jq -r ".cases[$n].detail" "$work/$name-bad-input.json")" "byte-exact echo, still serving" \
				"$(jq -r ".cases[$n].passed" "$work/$name-bad-input.json")"
		done
	fi

	restart_under_retry "$name"
	! is_loader "$name" || sigkill_loader "$name"
	server_stop "$name"
}

# The server is stopped and started again while churn clients keep retrying (15 s window).
restart_under_retry() {
	local name=$1 bench_pid
	"${in_ns[@]}" "$bench" --target "$(target_of "$name")" --workload churn --cycles 100000000 \
		--duration-limit 8 --retry 15 --client-threads 2 --json "$work/$name-restart.json" >"$work/$name-restart.out" 2>&1 &
	bench_pid=$!
	sleep 2
	server_stop "$name"
	sleep 1
	start_srv "$name" || row "$name" "fault: restart while clients retry" "server did not start again" "restarts" false
	wait "$bench_pid"
	if [ -s "$work/$name-restart.json" ]; then
		row "$name" "fault: restart while clients retry" \
			"$(metric "$name" restart '"\(.cycles_done) cycles, \(.retries) retries, \(.failures) failures"')" \
			"0 failures after retries" "$(passed "$name" restart)" "$(detail "$name" restart)"
	else
		row "$name" "fault: restart while clients retry" "no result: $(tail -n 1 "$work/$name-restart.out")" "0 failures" false
	fi
}

# sigkill_loader NAME: SIGKILL of echo-loader under load: its programs, maps and link must go; a
# new attach must serve.
sigkill_loader() {
	local name=$1 ids left _ bench_pid
	ids=$(loader status --json 2>/dev/null | jq -r '[.programs[], .maps[]] | map(tostring) | join(" ")')
	"${in_ns[@]}" "$bench" --target "$(target_of "$name")" --workload pingpong --connections 64 --duration 6 --warmup 0 \
		>"$work/$name-kill-load.out" 2>&1 &
	bench_pid=$!
	sleep 2
	server_stop "$name" KILL
	wait "$bench_pid" 2>/dev/null
	for _ in $(seq 100); do
		left=""
		for id in $ids; do
			bpftool prog show id "$id" >/dev/null 2>&1 && left="$left prog:$id"
			bpftool map show id "$id" >/dev/null 2>&1 && left="$left map:$id"
		done
		[ -z "$left" ] && break
		sleep 0.1
	done
	row "$name" "fault: SIGKILL echo-loader under load" "left attached:${left:- nothing} (of ids $ids)" "nothing left" \
		"$([ -n "$ids" ] && [ -z "$left" ] && echo true || echo false)"
	if start_srv "$name" && "${in_ns[@]}" "$bench" --target "$(target_of "$name")" --workload verify --case size-1MiB \
		--case concurrent-200 >"$work/$name-reattach.out" 2>&1; then
		row "$name" "fault: new attach after SIGKILL serves" "verify size-1MiB, concurrent-200 passed" "serves" true
	else
		row "$name" "fault: new attach after SIGKILL serves" \
			"$(tail -n 2 "$work/$name-reattach.out" "$(server_log "$name")" | tr '\n' ' ')" "serves" false
	fi
}

# Garbage arguments: exit 2 and one lowercase line (a usage hint may follow), never a crash.
bad_arguments() {
	local -a cmds=(
		"$bench --mode nope" "$bench --workload nope" "$bench --port 0" "$bench --port 70000"
		"$bench --connections abc" "$bench --workload held --connections 0" "$bench --workload churn --cycles -5"
		"$bench --workload slow --clients 0" "$bench --size 12Q" "$bench --bogus-flag" "$bench --workload verify --case nope"
		"$bench --workload churn --mode user,uring" "$bench --workload resets --case size-1B"
		"$build/user-echo-server --port 0" "$build/user-echo-server --engine nope" "$build/user-echo-server --max-buffer 1Q"
		"$build/user-echo-server --threads -1" "$build/user-echo-server --address 999.1.1.1"
		"$build/echo-loader attach --port 99999" "$build/echo-loader attach --max-pending abc"
		"$build/echo-loader attach --insert nope" "$build/echo-loader nope" "$build/echo-loader stats --watch 0"
		"$KECHO_TOP/scripts/reliability.sh --servers nope" "$KECHO_TOP/scripts/vm/run-vm.sh --plan nope"
	)
	local c rc first lines ok
	for c in "${cmds[@]}"; do
		# shellcheck disable=SC2086  # each entry is a command line
		timeout 10 $c >/dev/null 2>"$work/stderr"
		rc=$?
		first=$(head -n 1 "$work/stderr") lines=$(wc -l <"$work/stderr")
		ok=false
		[ "$rc" = 2 ] && [ "$lines" -le 2 ] && [[ $first =~ ^[a-z][a-z0-9._-]*:\ [a-z0-9\'-] ]] && ok=true
		row cli "bad arguments: ${c#"$build/"}" "exit $rc: $first" "exit 2, one lowercase line" "$ok"
	done
}

# kmod inside the QEMU guest: the VM harness's own plan (1,000 connections, rmmod under load, bad
# module parameters, verify), not the sizes above. Only its kmod rows: the plan's in-guest runs of
# the other servers are the VM suite's business.
kmod_in_vm() {
	local label="$1 (VM plan test)"
	command -v qemu-system-x86_64 >/dev/null || { row "$label" run "qemu-system-x86_64 missing" "runs" false; return; }
	cmake --build "$build" --target vm-conn-holder >"$work/vm-build.out" 2>&1 ||
		{ row "$label" run "vm-conn-holder does not build: $(tail -n 1 "$work/vm-build.out")" "builds" false; return; }
	timeout 900 "$KECHO_TOP/scripts/vm/run-vm.sh" --build "$build" --plan test --timeout 600 --quiet \
		>"$work/vm.out" 2>&1
	local results=$build/vm/$KECHO_VM_DEFAULT_KERNEL/results.txt
	if ! grep -q "KECHO-RESULT" "$results" 2>/dev/null; then
		row "$label" run "no results: $(tail -n 1 "$work/vm.out")" "runs" false
		return
	fi
	local name verdict rest
	while read -r _ name verdict rest; do
		row "$label" "$name" "${rest:0:160}" "PASS" "$([ "$verdict" = PASS ] && echo true || echo false)"
	done < <(grep -E "KECHO-RESULT (kmod|insmod|rmmod|kernel-log)" "$results")
}

# Network faults: nftables drops $loss% of the packets to the port and $loss% of those from it
# (numgen random), in our network namespace only.
faults_on() {
	"${in_ns[@]}" nft -f - <<NFT
table inet kecho_faults {
	chain out {
		type filter hook output priority 0; policy accept;
		tcp dport $port numgen random mod 100 < $loss counter drop
		tcp sport $port numgen random mod 100 < $loss counter drop
	}
}
NFT
}
faults_off() { "${in_ns[@]}" nft delete table inet kecho_faults 2>/dev/null; }
# "TO FROM": packets dropped so far on their way to the server and from it.
faults_dropped() {
	"${in_ns[@]}" nft list chain inet kecho_faults out 2>/dev/null |
		awk '/counter packets/ { for (i = 1; i < NF; i++) if ($i == "packets") printf "%s ", $(i + 1) }'
}

# Waits (at most 60 s: lost FINs are retransmitted) until no connection is open on the port.
connections_left() {
	local n _
	for _ in $(seq 120); do
		n=$(port_sockets)
		[ "$n" = 0 ] && break
		sleep 0.5
	done
	echo "$n"
}

# Resets on the port while a server's fault cases run, by who sent them and the kernel's reason
# (echo-loader trace; kernels 6.10+ say why): reset_trace_start NAME, then reset_trace_row NAME.
reset_trace_start() {
	"$build/echo-loader" trace --port "$port" --json >"$work/$1-resets.json" 2>"$work/$1-resets.err" &
	trace_pid=$!
	for _ in $(seq 100); do grep -q 'tracing port' "$work/$1-resets.err" && return 0; sleep 0.1; done
	say "$1: echo-loader trace did not start: $(tail -n 1 "$work/$1-resets.err")"
}
# The server's own resets (aborts from its sockets) must be ones it accounts for itself: the user
# server never resets, bpf's loader counts its guard and drain-timeout resets. The kernel's answers
# to segments its sockets or no socket could take (a FIN retransmitted after close...) are listed.
reset_trace_row() {
	local name=$1 label=$2 expected=0 aborts why
	kill -INT "$trace_pid" 2>/dev/null
	wait "$trace_pid" 2>/dev/null
	[ "$(jq -r '.resets_sent' "$work/$name-resets.json" 2>/dev/null)" != null ] || return 0  # before 6.10: not counted
	! is_loader "$name" || expected=$(jq -r '.connections | .guard_resets + .drain_timeouts' "$work/bpf-faults-stats.json")
	aborts=$(jq -r '.resets_sent.server_abort.total' "$work/$name-resets.json")
	why=$(jq -r '.resets_sent | to_entries | map("\(.key) \(.value.total)" + (if .value.total > 0 then " (" + (.value.reasons | to_entries | map("\(.key) \(.value)") | join(", ")) + ")" else "" end)) | join("; ")' "$work/$name-resets.json")
	row "$name" "$label: resets" "$why" "server aborts = the server's own resets ($expected)" \
		"$([ "$aborts" = "$expected" ] && echo true || echo false)"
}

# verify, half-close and churn under packet loss; then nothing left open, every bpf drain done.
run_faults() {
	local name=$1 label="faults ($loss% loss each way)" d f p before after
	start_or_row "$name" || return
	if ! faults_on 2>"$work/nft.err"; then
		row "$name" "$label: nftables rules" "$(head -n 1 "$work/nft.err")" "rules in place" false
		server_stop "$name"
		return
	fi
	read -r before _ < <(faults_dropped)
	reset_trace_start "$name"
	if bench_case "$name" verify --quick; then
		p=$(jq -r '.passed' "$work/$name-verify.json") f=$(jq -r '.failed' "$work/$name-verify.json")
		row "$name" "$label: verify --quick" "$p passed, $f failed$(jq -r '[.cases[] | select(.passed | not) | ": \(.name) \(.detail)"] | join("")' "$work/$name-verify.json")" \
			"every case byte-exact" "$([ "$f" = 0 ] && [ "$p" -gt 0 ] && echo true || echo false)"
	fi
	if bench_case "$name" half-close --clients 1000; then
		row "$name" "$label: half-close" "$(metric "$name" half-close '"\(.bytes_lost) bytes lost of \(.bytes_sent), \(.failed_clients) clients failed"')" \
			"0 bytes lost, 1000 clients" "$([ "$(passed "$name" half-close)" = true ] && [ "$(metric "$name" half-close .bytes_lost)" = 0 ] && echo true || echo false)" \
			"$(detail "$name" half-close)"
	fi
	# bench's churn gives a connect 2 s, less than the kernel's second SYN retransmission (3 s): a
	# cycle whose handshake lost twice is retried (counted), as a real client would.
	if bench_case "$name" churn --cycles "$fault_cycles" --duration-limit "$churn_seconds" --retry 10; then
		row "$name" "$label: churn" "$(metric "$name" churn '"\(.cycles_done) cycles\(if .time_capped then " (time cap)" else "" end), \(.failures) failures, \(.retries) retried"')" \
			"$fault_cycles cycles within ${churn_seconds} s, 0 failures" \
			"$([ "$(passed "$name" churn)" = true ] && [ "$(metric "$name" churn .cycles_done)" = "$fault_cycles" ] && echo true || echo false)" \
			"$(detail "$name" churn)"
	fi
	d=$(connections_left)
	row "$name" "$label: connections left on the port" "$d (ss, after at most 60 s)" "0" "$([ "$d" = 0 ] && echo true || echo false)"
	if is_loader "$name"; then
		loader stats --json >"$work/bpf-faults-stats.json" 2>&1
		row "$name" "$label: drains" "$(jq -r '.connections | "\(.drain_timeouts) drain timeouts, \(.active) active, \(.in_map) in the map, \(.closed)/\(.accepted) closed"' "$work/bpf-faults-stats.json" 2>&1)" \
			"0 drain timeouts, 0 active, 0 in the map" \
			"$(jq -r '.connections | .drain_timeouts == 0 and .active == 0 and .in_map == 0' "$work/bpf-faults-stats.json" 2>/dev/null || echo false)"
	fi
	reset_trace_row "$name" "$label"
	read -r after d < <(faults_dropped)
	row "$name" "$label: packets dropped" "$((after - before)) to the server, ${d:-0} from it in all" "> 0 each way (the faults happened)" \
		"$([ $((after - before)) -gt 0 ] && [ "${d:-0}" -gt 0 ] && echo true || echo false)"
	faults_off
	server_stop "$name"
}

start_time=$(date +%s)
for s in ${servers//,/ }; do
	if [ "$s" = none ]; then
		:
	elif [ "$(program_of "$s")" = kecho.ko ] && [ "$quick" = 1 ]; then
		say "$s: skipped with --quick (the VM harness takes minutes)"
	elif [ "$(program_of "$s")" = kecho.ko ]; then
		kmod_in_vm "$s"
	elif [ "$faults" = 1 ]; then
		run_faults "$s"
	else
		run_server "$s"
	fi
done
[ "$faults" = 1 ] || bad_arguments

jq -s --argjson quick "$quick" --arg date "$(date -u +%FT%TZ)" --argjson seconds $(($(date +%s) - start_time)) \
	--argjson sizes "{\"held\":$held,\"hold_s\":$hold,\"churn_cycles\":$cycles,\"churn_seconds\":$churn_seconds,\"half_close_clients\":$clients,\"resets\":$resets,\"slow_clients\":$slow_clients,\"slow_seconds\":$slow_seconds}" \
	'{date: $date, quick: ($quick == 1), seconds: $seconds, sizes: $sizes, rows: ., met: (map(select(.met)) | length), missed: (map(select(.met | not)) | length)}' \
	"$rows" >"$out/reliability.json" || die "cannot write $out/reliability.json"
{
	echo "# Reliability at scale"
	echo
	echo "$(date -u +%F), $(uname -r), $(nproc) cores; $([ "$quick" = 1 ] && echo "quick run" || echo "full run") by scripts/reliability.sh."
	echo "Sizes: held $held connections ($hold s), churn $cycles cycles or a ${churn_seconds} s cap (the figure says which),"
	echo "half-close $clients clients, resets $resets, slow $slow_clients clients (half never read) for $slow_seconds s."
	echo "kmod runs the VM harness's own plan inside a QEMU guest (1,000 connections), not these sizes."
	echo
	echo "| server | case | figure | goal | met |"
	echo "|---|---|---|---|---|"
	jq -r '"| \(.server) | \(.case) | \(.figure | gsub("\\|"; "/")) | \(.goal) | \(if .met then "met" else "MISSED" end) |"' "$rows"
	echo
	jq -r '"\(map(select(.met)) | length) met, \(map(select(.met | not)) | length) missed."' -s "$rows"
} >"$out/reliability.md" || die "cannot write $out/reliability.md"
say "wrote $out/reliability.md and $out/reliability.json: $(jq -r '"\(.met) met, \(.missed) missed"' "$out/reliability.json")"
[ "$(jq -r .missed "$out/reliability.json")" = 0 ]
