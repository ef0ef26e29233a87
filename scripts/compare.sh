#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# The README's main command: compares every echo server this host can run, each at its best
# configuration, and writes results/, with results/summary.md (machine, validation, each server at
# its best with its 95% interval, ratios with theirs, ties called ties, the sweeps, latency against
# load, the burst and its phases, every table), results/all.csv (every run) and the figures
# (sweep.png, latency-vs-load.png, burst-scatter.png, cdf-*.png); results/manifest.json declares each
# file's role and parameters. The servers are the server registry's (`bench servers`); --target adds
# any TCP echo server (a peer), validated and compared the same way.
#
#   scripts/compare.sh [--quick] [--layout shared|split] [--no-build] [--target NAME=HOST:PORT]...
#                                                  the whole job, one machine
#   scripts/compare.sh --serve [--address ADDR]    start the servers here and wait (Ctrl-C stops)
#   scripts/compare.sh --remote ADDR [--quick]     the client side against a --serve host
#   scripts/compare.sh --help
#
# The job, each step bench's (this script only arranges):
# - validation: `bench verify --quick` against every server and target; a server that fails it, or
#   any later run, is listed as FAILED with its first error and never ranked;
# - each user-space engine runs at 1, 2, 4, ... up to the (server) CPUs threads, each a server of its
#   own (`uring-2t`: io_uring with 2 threads), and echo-loader at as many accept threads;
# - ping-pong at 1/8/64/1000 connections: first a sweep (every server configuration x the client's
#   epoll workers 1, 2, 4, 8; one run each), then each server's best row of the sweep again
#   (`bench --best-of`), interleaved, until the 95% interval of its median is within +/-5% (`--ci`)
#   or 8 runs; the same for stream (server threads swept) and kecho's burst (1,000 threads x 5
#   rounds a run; there echo-loader's accept threads are swept too: accepting is all the loader does,
#   and in ping-pong and stream every connection is accepted before the measuring starts);
# - latency against load (open loop at 10/25/50/75/90 % of the fastest server's maximum, 64
#   connections, each server at its best there), the busy-poll floor alone, and the kernel module
#   inside a QEMU guest (emulated).
# --quick: a first look in about a minute on 2 cores: short runs, 2 at most per server (too few for
#   a 95% interval: nothing is ranked), connections 1/64/1000, client workers 1 and 4, server threads
#   1 and the CPUs, the burst at 250 threads x 3 rounds, loads 25/50/90 %, no guest; summary.md says so.
# --target NAME=HOST:PORT (repeatable): another echo server, already running, compared beside ours in
#   every client workload (its threads are its own: only the client is swept for it).
# --layout split (needs 2+ CPUs): servers and client on disjoint CPUs in two network namespaces
# joined by a veth pair, with each side's receive processing steered (RPS) to its own CPUs, as
# two hosts would have it (docs/performance.md, "Layout"). shared (default): loopback, no pinning.
#
# Knobs (environment): KECHO_DURATION (seconds per run, 1), KECHO_WARMUP (0.25), KECHO_REPEAT (the run
# cap per server, 8), KECHO_CI (the interval's target half-width in percent, 5), KECHO_SCREEN (runs per
# row of a sweep, 1), KECHO_SERVER_THREADS ("1 2": the thread counts; --remote: the serving host's),
# KECHO_RESULTS (<top>/results), KECHO_VM=0 skips the guest.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

quick=0 layout=shared role=all remote='' address=127.0.0.1 build=1 peers=()
while [ $# -gt 0 ]; do
	case $1 in
	-h | --help) print_usage; exit 0 ;;
	--quick) quick=1; shift ;;
	--target) need_value "$@"; peers+=("$2"); shift 2 ;;
	--no-build) build=0; shift ;;
	--serve) role=serve address=0.0.0.0; shift ;;
	--layout) need_value "$@"; layout=$2; shift 2 ;;
	--remote) need_value "$@"; role=remote remote=$2; shift 2 ;;
	--address) need_value "$@"; address=$2; shift 2 ;;
	*) bad_usage "unknown argument '$1'" ;;
	esac
done
case $layout in shared | split) ;; *) bad_usage "--layout takes shared or split, not '$layout'" ;; esac
[ "$layout" = shared ] || [ "$role" = all ] || bad_usage "--layout split is for the one-machine job (two hosts are split already)"
need_root "$@"

if [ "$build" = 1 ]; then
	"$KECHO_TOP/scripts/install-deps.sh"
	build_all
fi
bench=$KECHO_BUILD/bench server=$KECHO_BUILD/user-echo-server loader=$KECHO_BUILD/echo-loader
[ -x "$bench" ] || die "$bench is missing: the build did not produce the bench"
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true # 1,000 connections per run

duration=${KECHO_DURATION:-1} warmup=${KECHO_WARMUP:-0.25} cap=${KECHO_REPEAT:-8} ci=${KECHO_CI:-5}
screen=${KECHO_SCREEN:-1}
burst_threads=1000 burst_rounds=5
connection_counts=(1 8 64 1000)
sweep_workers=(1 2 4 8)         # the client's epoll workers: on loopback they alone can flip a ranking
load_percents=(10 25 50 75 90) # latency against load, of the fastest server's closed-loop maximum
load_repeat=2 reference_repeat=3 # runs of each open-loop rate and of the busy-poll reference
if [ "$quick" = 1 ]; then
	duration=0.3 warmup=0.1 cap=2 burst_threads=250 burst_rounds=3 load_repeat=1 reference_repeat=1
	connection_counts=(1 64 1000) sweep_workers=(1 4) load_percents=(25 50 90)
fi
results=${KECHO_RESULTS:-$KECHO_TOP/results}
mkdir -p "$results" || die "cannot create $results"
status=0
tag=compare-$$
run_dir=/tmp/kecho-$tag
cgroup_root=$(findmnt -n -t cgroup2 -o TARGET 2>/dev/null | head -n 1)
netns_made=()
bench_prefix=() server_prefix=() client_cpus='' server_cpus=any host=127.0.0.1
server_info=()  # --server-info arguments for bench, one per server started
targets_all=()  # --target arguments: every server configuration compared in every workload
targets_more=() # ... and those compared in the burst only (echo-loader's other accept thread counts)
peer_names=()   # the --target servers (a peer's failure is a result; one of ours fails the job)

# shellcheck disable=SC2317  # called through the EXIT trap
cleanup() {
	local ns
	server_stop_all
	stop_kmod_native
	for ns in "${netns_made[@]}"; do ip netns delete "$ns" 2>/dev/null || true; done
	rm -rf "$run_dir" "$manifest_lines"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- the servers -----------------------------------------------------------------------------
# thread_counts: the server thread counts compared: 1, 2, 4, ... below the CPUs the servers may use,
# and that count itself (KECHO_SERVER_THREADS overrides: "1 2"); --quick: 1 and the CPUs.
thread_counts() {
	if [ -n "${KECHO_SERVER_THREADS:-}" ]; then
		echo "$KECHO_SERVER_THREADS"
		return
	fi
	local cpus t=1 list=()
	cpus=$(nproc)
	[ "$server_cpus" = any ] || cpus=$(cpu_count "$server_cpus")
	if [ "$quick" = 1 ]; then
		list=(1)
	else
		while [ "$t" -lt "$cpus" ]; do list+=("$t") && t=$((t * 2)); done
	fi
	[ "$cpus" -le 1 ] && [ "${#list[@]}" -gt 0 ] || list+=("$cpus")
	echo "${list[*]}"
}

# server_table: one line per server configuration: name, mode, port, engine, threads, workloads
# (all, or burst: echo-loader's other accept thread counts), then the command. From the server
# registry: each user-space engine at every thread count (NAME = MODE-Nt, on the registry's port
# plus 100 per count after the first), then echo-loader at every accept thread count up to 8 (its
# own default, the largest, in every workload; the others in the burst). kecho.ko is loaded by
# start_kmod_native, the busy-poll references run alone (references_alone).
server_table() {
	local mode engine port program role _ t i counts accept=()
	read -ra counts < <(thread_counts)
	while read -r mode engine port program role _; do
		if [ "$program" != user-echo-server ] || [ "$role" != user ]; then continue; fi
		i=0
		for t in "${counts[@]}"; do
			echo "$mode-${t}t $mode $((port + 100 * i)) $engine $t all $server --engine $engine --threads $t"
			i=$((i + 1))
		done
	done < <(registry "$bench")
	for t in "${counts[@]}"; do [ "$t" -gt 8 ] || accept+=("$t"); done
	while read -r mode engine port program role _; do
		[ "$program" = echo-loader ] || continue
		i=0
		for t in "${accept[@]}"; do
			echo "$mode-${t}t $mode $((port + 100 * i)) $engine $t $([ "$t" = "${accept[-1]}" ] && echo all || echo burst)" \
				"$loader --run-dir $run_dir/$t attach --threads $t${cgroup_root:+ --cgroup $cgroup_root/kecho-bpf-$tag-$t}"
			i=$((i + 1))
		done
	done < <(registry "$bench")
}

# cpu_count LIST: how many CPUs a list "a-b" names.
cpu_count() { echo $((${1#*-} - ${1%-*} + 1)); }

# add_target NAME MODE PORT ENGINE THREADS WORKLOADS [PID]: the server as bench's --target and
# --server-info (of=MODE: the registry's server it is a configuration of).
add_target() {
	local name=$1 mode=$2 port=$3 engine=$4 threads=$5 workloads=$6 pid=${7:-}
	if [ "$workloads" = all ]; then targets_all+=(--target "$name=$host:$port"); else targets_more+=(--target "$name=$host:$port"); fi
	server_info+=(--server-info "mode=$name of=$mode engine=$engine threads=$threads cpus=$server_cpus port=$port${pid:+ pid=$pid}${role_host:+ host=$role_host started=compare.sh-serve}")
}
role_host='' # --remote: the serving host, recorded with each server

# start_one NAME MODE PORT ENGINE THREADS WORKLOADS COMMAND...: starts it listening on $address
# (pinned in split layout) and adds it to the targets.
start_one() {
	local name=$1 mode=$2 port=$3 engine=$4 threads=$5 workloads=$6
	shift 6
	if [ "$mode" = bpf ] && [ ! -x "$loader" ]; then
		say "bpf: $loader was not built: skipping the sockmap echo"
		return 1
	fi
	if [ "${#server_prefix[@]}" -eq 0 ] && listening "$port"; then
		say "$name: port $port is taken by another program: $name not compared (stop it, or run in a network namespace)"
		return 1
	fi
	local pin=()
	[ "$server_cpus" = any ] || pin=(taskset -c "$server_cpus")
	server_start "$name" "$port" "${server_prefix[@]}" "${pin[@]}" "$@" --address "$address" --port "$port" || return 1
	add_target "$name" "$mode" "$port" "$engine" "$threads" "$workloads" "$(server_pid "$name")"
}

# add_peers: the --target servers, in every workload, named as given.
add_peers() {
	local spec
	for spec in "${peers[@]}"; do
		targets_all+=(--target "$spec")
		peer_names+=("${spec%%=*}")
	done
}

# start_kmod_native: where this kernel loads modules, kecho.ko built for it (or kecho-dkms's) is
# loaded beside the others (on kmod's port of the registry) and unloaded at exit; elsewhere kmod
# runs in the guest.
kmod_loaded=0
start_kmod_native() {
	local ko port
	[ -e /proc/modules ] || return 1
	port=$(registry_field kmod port "$bench") || return 1
	if [ "$layout" = split ]; then
		say "kmod: the module listens in the host's own network namespace: not compared in the split layout"
		return 1
	fi
	# shellcheck source=scripts/kmod-native.sh
	. "$KECHO_TOP/scripts/kmod-native.sh"
	ko=$(kmod_for_running_kernel "$KECHO_BUILD") || return 1
	if listening "$port"; then
		say "kmod: port $port is taken by another program: kmod not compared"
		return 1
	fi
	insmod "$ko" port="$port" || { say "kmod: insmod $ko failed (see dmesg)"; return 1; }
	kmod_loaded=1
	say "kmod: loaded $ko (port $port)"
	add_target kmod kmod "$port" kecho.ko workqueue all
}

# shellcheck disable=SC2317  # also called through the EXIT trap
stop_kmod_native() {
	[ "$kmod_loaded" = 1 ] || return 0
	if rmmod kecho; then say "kmod: unloaded"; else say "kmod: rmmod kecho failed: unload it by hand"; fi
	kmod_loaded=0
}

# start_servers: every server of the table this host can run; sets modes (comma-separated) and
# ports ("user-1t PORT, ...": where each listens).
start_servers() {
	local name mode port engine threads workloads cmd started=() listens=()
	mkdir -p "$run_dir" || die "cannot create $run_dir"
	while read -r name mode port engine threads workloads cmd; do
		# shellcheck disable=SC2086  # cmd is a command line of words without spaces inside them
		start_one "$name" "$mode" "$port" "$engine" "$threads" "$workloads" $cmd && started+=("$name") &&
			listens+=("$name $port")
	done < <(server_table)
	start_kmod_native && started+=(kmod)
	[ ${#started[@]} -gt 0 ] || die "no server could be started (see the messages above)"
	modes=$(IFS=,; echo "${started[*]}")
	ports=$(printf '%s, ' "${listens[@]}")
	ports=${ports%, }
}

# --- placement -------------------------------------------------------------------------------
# split: client on the first half of the CPUs, servers on the rest, in two network namespaces
# joined by a veth pair. On one machine the receive softirq runs on the sending CPU, so the
# in-kernel echo would run on the client's CPUs (docs/performance.md, "Layout"): RPS on each veth end
# steers that side's receive processing to that side's CPUs, as a NIC's interrupt would on two hosts.
cpu_mask() { # CPU list "a-b" -> hex mask
	local first=${1%-*} last=${1#*-} mask=0 c
	for ((c = first; c <= last; c++)); do mask=$((mask | (1 << c))); done
	printf '%x' "$mask"
}
setup_split() {
	local cpus half
	cpus=$(nproc)
	[ "$cpus" -ge 2 ] || die "--layout split needs at least 2 CPUs (this machine has $cpus)"
	half=$((cpus / 2))
	client_cpus=0-$((half - 1)) server_cpus=$half-$((cpus - 1))
	local srv=kecho-$tag-srv cli=kecho-$tag-cli
	ip netns add "$srv" || die "cannot create network namespace $srv"
	netns_made+=("$srv")
	ip netns add "$cli" || die "cannot create network namespace $cli"
	netns_made+=("$cli")
	ip link add "k$$s" type veth peer name "k$$c" || die "cannot create the veth pair"
	cpu_mask "$server_cpus" >"/sys/class/net/k$$s/queues/rx-0/rps_cpus"
	cpu_mask "$client_cpus" >"/sys/class/net/k$$c/queues/rx-0/rps_cpus"
	ip link set "k$$s" netns "$srv" && ip link set "k$$c" netns "$cli"
	ip -n "$srv" addr add 10.251.0.1/24 dev "k$$s" && ip -n "$cli" addr add 10.251.0.2/24 dev "k$$c"
	ip -n "$srv" link set lo up && ip -n "$srv" link set "k$$s" up
	ip -n "$cli" link set lo up && ip -n "$cli" link set "k$$c" up
	server_prefix=(nsenter "--net=/var/run/netns/$srv") bench_prefix=(nsenter "--net=/var/run/netns/$cli")
	address=10.251.0.1 host=10.251.0.1
	say "layout split: client on CPUs $client_cpus (namespace $cli), servers on CPUs $server_cpus (namespace $srv), veth with RPS per side"
}

# --- the results' manifest --------------------------------------------------------------------
# results/manifest.json: every file this job writes, with its role and the parameters a result does
# not carry itself; bench summarize reads it (and no other file name). One JSON object a line in
# manifest_lines until write_manifest.
manifest_lines=$run_dir-manifest.jsonl
# manifest_add FILE ROLE [KEY=JSON]...: an entry (KEY=64, KEY='"text"'): a result's workload,
# connections, client configuration (auto, or the engine and its workers), load percent.
manifest_add() {
	local entry="{\"file\":\"$1\",\"role\":\"$2\"" item
	shift 2
	for item in "$@"; do entry+=",\"${item%%=*}\":${item#*=}"; done
	echo "$entry}" >>"$manifest_lines"
}
write_manifest() {
	[ -s "$manifest_lines" ] || return 0
	# The kernel matrix of the last guest runs, this job's or an earlier one's (--quick runs no guest).
	[ ! -f "$results/kernel-matrix.md" ] || manifest_add kernel-matrix.md kernel-matrix
	jq -s '{written_by: "scripts/compare.sh", files: .}' "$manifest_lines" >"$results/manifest.json" ||
		die "cannot write $results/manifest.json"
}

# --- the client side -------------------------------------------------------------------------
# run_bench TAG ROLE PARAMS -- ARGS...: one bench run; its table on stdout and in TAG.txt, JSON, CSV,
# each in the manifest (the JSON with its role and PARAMS, KEY=JSON words).
run_bench() {
	local name=$1 role=$2 params=() table=table
	shift 2
	while [ "$1" != -- ]; do params+=("$1") && shift; done
	shift
	local pin=()
	[ -z "$client_cpus" ] || pin=(--cpus "$client_cpus")
	[ "$role" != sweep ] || table="sweep-table"
	echo
	manifest_add "$name.json" "$role" "${params[@]}"
	manifest_add "$name.csv" csv
	manifest_add "$name.txt" "$table"
	"${bench_prefix[@]}" "$bench" "${server_info[@]}" "${pin[@]}" --layout "$layout" --baseline best-user "$@" \
		--json "$results/$name.json" --csv "$results/$name.csv" | tee "$results/$name.txt" || own_failures "$name.json"
}

# own_failures FILE: after bench said a server failed: a peer's failure is a result (summary.md lists
# it), one of ours fails the job.
own_failures() {
	local failed
	failed=$(jq -r '(.modes // [])[] | select(.failed) | .server' "$results/$1" 2>/dev/null | grep -vxF -f <(printf '%s\n' "${peer_names[@]}" '') || true)
	[ -z "$failed" ] && [ -f "$results/$1" ] && return 0
	say "bench reported errors for ${1%.json}${failed:+ from ${failed//$'\n'/, }} (see above)"
	status=1
}

# validate: bench verify --quick against every server configuration and target (verify.json).
validate() {
	local failed
	echo
	echo "# validation: bench verify --quick against every server"
	manifest_add verify.json verify
	"${bench_prefix[@]}" "$bench" verify --quick "${targets_all[@]}" "${targets_more[@]}" "${server_info[@]}" \
		--json "$results/verify.json" | grep -E '^(==|FAIL|verify:)' || true
	failed=$(jq -r '.cases[] | select(.passed | not) | .mode' "$results/verify.json" 2>/dev/null | sort -u |
		grep -vxF -f <(printf '%s\n' "${peer_names[@]}" '') || true)
	[ -f "$results/verify.json" ] || { say "bench verify wrote no result"; status=1; }
	[ -z "$failed" ] || { say "verify failed for ${failed//$'\n'/, }: see above"; status=1; }
}

# sweep_and_best NAME ROLE PARAMS -- SWEEP... -- COMMON... [-- BEST...]: NAME-sweep.json, every
# configuration SWEEP's targets and options give ($screen runs each), then NAME.json (role ROLE):
# each server at its best row of the sweep, interleaved, until its 95% interval is within +/-ci% or
# cap runs. COMMON goes to both, BEST to the second only.
sweep_and_best() {
	local name=$1 role=$2 params=() sweep=() common=() best=()
	shift 2
	while [ "$1" != -- ]; do params+=("$1") && shift; done
	shift
	while [ $# -gt 0 ] && [ "$1" != -- ]; do sweep+=("$1") && shift; done
	[ $# -eq 0 ] || shift
	while [ $# -gt 0 ] && [ "$1" != -- ]; do common+=("$1") && shift; done
	[ $# -eq 0 ] || shift
	best=("$@")
	run_bench "$name-sweep" sweep "${params[@]}" -- "${sweep[@]}" "${common[@]}" --repeat "$screen"
	[ -s "$results/$name-sweep.json" ] || { say "$name: no sweep result: its best is not measured"; return; }
	run_bench "$name" "$role" "${params[@]}" -- --best-of "$results/$name-sweep.json" "${common[@]}" "${best[@]}" \
		--ci "$ci" --repeat "$cap"
}

# The fastest server's closed-loop maximum at 64 connections (bench finds it).
fastest_at_64() {
	"$bench" report --best requests_per_s "$results/pingpong-c64.json" 2>/dev/null || echo 0
}

# The per-thread files bench burst --out wrote, one per row of the burst, in the manifest.
burst_series() {
	local name
	for name in $(jq -r '.modes[] | select(.runs | length > 0) | .mode' "$results/burst.json" 2>/dev/null); do
		[ -e "$results/burst-$name.txt" ] && manifest_add "burst-$name.txt" burst-series "mode=\"$name\""
	done
	return 0
}

# A sweep's note in summary.md: what it covered, and what --quick left out.
sweep_note() {
	local note
	note="server threads: $(thread_counts | sed 's/ /, /g')"
	[ -z "${1:-}" ] || note+="; client workers: $1"
	[ "$quick" = 0 ] || note+=" (--quick's subset; the whole job sweeps 1, 2, 4, ... up to the CPUs and client workers ${sweep_workers_full// /, })"
	echo "note=\"$note\""
}
sweep_workers_full="1 2 4 8"

pingpong_workloads() {
	local c client clients workers
	workers=$(IFS=,; echo "${sweep_workers[*]}")
	for c in "${connection_counts[@]}"; do
		# Up to 4 connections the client is a blocking thread per connection: no workers to sweep.
		client=epoll clients=(--workers "$workers")
		[ "$c" -gt 4 ] || client=auto clients=()
		sweep_and_best "pingpong-c$c" closed-loop workload='"pingpong"' "connections=$c" "client=\"$client\"" "$(sweep_note "$([ "$c" -gt 4 ] && echo "${workers//,/, }")")" -- \
			"${targets_all[@]}" "${clients[@]}" -- --connections "$c" "${timed[@]}"
	done
}

client_workloads() {
	local pct max
	timed=(--duration "$duration" --warmup "$warmup")
	validate
	pingpong_workloads
	sweep_and_best stream stream workload='"stream"' connections=4 "$(sweep_note)" -- "${targets_all[@]}" -- --workload stream \
		--connections 4 --size 64K --window 256K "${timed[@]}"
	sweep_and_best burst burst workload='"burst"' "threads=$burst_threads" "rounds=$burst_rounds" "$(sweep_note)" -- "${targets_all[@]}" \
		"${targets_more[@]}" -- --workload burst --threads "$burst_threads" --rounds "$burst_rounds" -- \
		--out "$results/burst.txt"
	burst_series
	max=$(fastest_at_64)
	[ "$max" -gt 0 ] || { say "no closed-loop maximum at 64 connections: latency against load skipped"; return; }
	echo
	echo "# latency against load: open loop at 64 connections, of the fastest server's maximum ($max req/s)"
	for pct in "${load_percents[@]}"; do
		run_bench "load-$pct" open-loop workload='"pingpong"' connections=64 client='"epoll"' "load_percent=$pct" percent_of_connections=64 -- \
			--best-of "$results/pingpong-c64-sweep.json" --connections 64 --rate $((max * pct / 100)) "${timed[@]}" \
			--repeat "$load_repeat"
	done
}
timed=() # --duration and --warmup of every closed- and open-loop run

references_alone() {
	# A busy-poll reference (floor) spins on a core even when idle: each is measured alone, after
	# the others are stopped.
	local c mode engine port program role _
	server_stop_all
	stop_kmod_native
	while read -r mode engine port program role _; do
		[ "$role" = reference ] || continue
		server_info=() targets_all=() targets_more=()
		start_one "$mode" "$mode" "$port" "$engine" 1 all "$server" --engine "$engine" --threads 1 || continue
		echo
		echo "# $mode: the busy-poll server alone (a reference: it burns a core)"
		for c in "${connection_counts[@]}"; do
			run_bench "$mode-pingpong-c$c" reference workload='"pingpong"' "connections=$c" client='"auto"' -- "${targets_all[@]}" --connections "$c" \
				"${timed[@]}" --repeat "$reference_repeat"
		done
		run_bench "$mode-stream" reference workload='"stream"' connections=4 -- "${targets_all[@]}" --workload stream --connections 4 \
			--size 64K --window 256K "${timed[@]}" --repeat "$reference_repeat"
		server_stop_all
	done < <(registry "$bench")
}

guest_kmod() {
	# Where the host cannot load modules, kmod vs bpf vs user runs inside a Debian guest under QEMU.
	local vm_compare=$KECHO_TOP/scripts/vm/compare-in-guest.sh vm_duration
	if [ -e /proc/modules ] || [ "${KECHO_VM:-1}" = 0 ] || [ "$quick" = 1 ]; then
		[ "$quick" = 1 ] && say "kmod: the guest comparison is skipped with --quick"
		return 0
	fi
	[ -x "$vm_compare" ] || { say "kmod: $vm_compare does not exist: kmod not compared"; return 0; }
	# What every guest kernel's last test run proved (scripts/test.sh boots each one), read before the
	# comparison below replaces the 6.1 guest's results with its own.
	"$KECHO_TOP/scripts/vm/kernel-matrix.sh" --build "$KECHO_BUILD" --out "$results/kernel-matrix.md" >/dev/null ||
		say "no kernel matrix: no guest kernel has been tested in $KECHO_BUILD/vm yet (scripts/test.sh)"
	echo
	echo "# kmod: compared inside a QEMU guest (emulated (TCG): compare ratios only; KECHO_VM=0 skips)"
	vm_duration=${duration%.*}
	[ "${vm_duration:-0}" -ge 1 ] 2>/dev/null || vm_duration=1
	manifest_add kmod-vm.txt guest-table
	"$vm_compare" --build "$KECHO_BUILD" --connections 8 --duration "$vm_duration" --warmup 1 |
		tee "$results/kmod-vm.txt" || {
		say "the in-guest comparison failed (see $KECHO_BUILD/vm/6.1-cloud/console.log)"
		status=1
	}
}

# Removes what an earlier run of this script wrote: the files its manifest declared, and what
# summarize drew (other files, e.g. kernel-matrix.md, stay).
clear_results() {
	local f
	if [ -f "$results/manifest.json" ]; then
		while IFS= read -r f; do rm -f "${results:?}/$f"; done < <(jq -r '.files[] | select(.role != "kernel-matrix").file' "$results/manifest.json")
	fi
	for f in "$results"/{pingpong,stream,burst,load,cdf}-* "$results"/{stream,burst,verify}.* \
		"$results"/{summary.md,all.csv,sweep.png,latency-vs-load.png,kmod-vm.txt,manifest.json}; do
		[ -e "$f" ] && rm -f "$f"
	done
	return 0
}

summarize() {
	echo
	write_manifest
	"$bench" summarize "$results" || { say "bench summarize failed"; status=1; }
	say "summary: $results/summary.md (figures and all.csv next to it)"
}

whole_job() {
	clear_results
	[ "$layout" = split ] && setup_split
	start_servers
	add_peers
	say "comparing: $modes${peers[*]:+ and ${peer_names[*]}}; each at its best of a sweep, runs of $duration s after $warmup s warmup until the 95% interval is within +/-$ci% (at most $cap); layout $layout; results in $results"
	client_workloads
	references_alone
	guest_kmod
	summarize
	exit $status
}

client_job() {
	host=$1
	address=$1
	role_host=$1
	clear_results
	local name mode port engine threads workloads _
	while read -r name mode port engine threads workloads _; do
		add_target "$name" "$mode" "$port" "$engine" "$threads" "$workloads"
	done < <(server_table)
	add_peers
	say "client side against $host (servers started there by compare.sh --serve); results in $results"
	client_workloads
	summarize
	exit $status
}

serve_and_wait() {
	start_servers
	echo "serving: $modes on $address (ports: $ports)"
	echo "from the client host: scripts/compare.sh --remote <this host's address>"
	echo "Ctrl-C (or SIGTERM) stops every server"
	trap 'exit 0' INT TERM
	while sleep 1; do :; done
}

case $role in
serve) serve_and_wait ;;
remote) client_job "$remote" ;;
all) whole_job ;;
esac
