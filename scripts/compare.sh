#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# The README's main command: compares every echo server this host can run and writes results/,
# with results/summary.md (machine, winners, noise, CPU split, latency against load, burst, every
# table), results/all.csv (every run) and the figures (sweep.png, latency-vs-load.png,
# burst-scatter.png, cdf-*.png); results/manifest.json declares each file's role and parameters.
# The servers are the server registry's (`bench servers`); --target adds any TCP echo server.
#
#   scripts/compare.sh [--quick] [--layout shared|split] [--no-build] [--target NAME=HOST:PORT]...
#                                                  the whole job, one machine
#   scripts/compare.sh --serve [--address ADDR]    start the servers here and wait (Ctrl-C stops)
#   scripts/compare.sh --remote ADDR [--quick]     the client side against a --serve host
#   scripts/compare.sh --help
#
# The job: ping-pong at 1/8/64/1000 connections (the client swept over 1, 2, 4, 8 workers at 64
# connections, each mode reported at its best), stream, kecho's burst bench (1,000 threads x 10
# rounds), latency against load (open loop at 10/25/50/75/90 % of the fastest mode's maximum, 64
# connections), the busy-poll floor alone, and the kernel module inside a QEMU guest (emulated).
# --quick: short runs, one of each, no guest: a first look in about a minute on 2 cores.
# --target NAME=HOST:PORT (repeatable): another echo server, already running, compared beside ours
# in every client workload (bench checks its every byte the same way).
# --layout split (needs 2+ CPUs): servers and client on disjoint CPUs in two network namespaces
# joined by a veth pair, with each side's receive processing steered (RPS) to its own CPUs, as
# two hosts would have it (docs/performance.md, "Layout"). shared (default): loopback, no pinning.
#
# Knobs (environment): KECHO_DURATION (seconds per run, 2), KECHO_WARMUP (0.5), KECHO_REPEAT (runs
# per mode, interleaved, 3), KECHO_BURST_REPEAT (burst runs per mode, interleaved, 5: one burst run's
# mean moves by tens of percent on 2 CPUs, where 1,000 client threads' scheduling is most of it),
# KECHO_RESULTS (<top>/results), KECHO_VM=0 skips the guest.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

quick=0 layout=shared role=all remote='' address=127.0.0.1 build=1 targets=() target_names=()
while [ $# -gt 0 ]; do
	case $1 in
	-h | --help) print_usage; exit 0 ;;
	--quick) quick=1; shift ;;
	--target) need_value "$@"; targets+=(--target "$2") target_names+=("${2%%=*}"); shift 2 ;;
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

duration=${KECHO_DURATION:-2} warmup=${KECHO_WARMUP:-0.5} repeat=${KECHO_REPEAT:-3}
burst_threads=1000 burst_rounds=10 burst_repeat=${KECHO_BURST_REPEAT:-5}
if [ "$quick" = 1 ]; then
	duration=0.5 warmup=0.2 repeat=1 burst_threads=250 burst_rounds=3 burst_repeat=1
fi
sweep_workers=(1 2 4 8)         # the client sweep at 64 connections (where it flips the ranking)
load_percents=(10 25 50 75 90) # latency against load, of the fastest mode's closed-loop maximum
results=${KECHO_RESULTS:-$KECHO_TOP/results}
mkdir -p "$results" || die "cannot create $results"
status=0
tag=compare-$$
run_dir=/tmp/kecho-$tag
cgroup_root=$(findmnt -n -t cgroup2 -o TARGET 2>/dev/null | head -n 1)
netns_made=()
bench_prefix=() server_prefix=() client_cpus='' server_cpus=any host=127.0.0.1
server_info=() # --server-info arguments for bench, one per server started

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
# server_table: one line per server compared together: mode, port, engine, command; from the server
# registry: the user-space servers first (the ratios' baseline), then the in-kernel echo of
# echo-loader. kecho.ko is loaded by start_kmod_native, the busy-poll references run alone
# (references_alone).
server_table() {
	local mode engine port program role _
	while read -r mode engine port program role _; do
		if [ "$program" = user-echo-server ] && [ "$role" = user ]; then
			echo "$mode $port $engine $server --engine $engine --threads 1"
		fi
	done < <(registry "$bench")
	# echo-loader's own default, said out loud so the run record names it: an accept thread per
	# online CPU, at most 8.
	local accept_threads
	accept_threads=$(nproc)
	[ "$accept_threads" -le 8 ] || accept_threads=8
	while read -r mode engine port program role _; do
		if [ "$program" = echo-loader ]; then
			echo "$mode $port $engine $loader --run-dir $run_dir attach --threads $accept_threads${cgroup_root:+ --cgroup $cgroup_root/kecho-bpf-$tag}"
		fi
	done < <(registry "$bench")
}

# threads_of COMMAND...: the value of its --threads option (1 when it has none).
threads_of() {
	while [ $# -gt 1 ]; do
		[ "$1" = --threads ] && { echo "$2"; return; }
		shift
	done
	echo 1
}

# start_one MODE PORT ENGINE COMMAND...: starts it listening on $address (pinned in split layout).
start_one() {
	local mode=$1 port=$2 engine=$3 pid
	shift 3
	if [ "$mode" = bpf ] && [ ! -x "$loader" ]; then
		say "bpf: $loader was not built: skipping the sockmap echo"
		return 1
	fi
	if [ "${#server_prefix[@]}" -eq 0 ] && listening "$port"; then
		say "$mode: port $port is taken by another program: $mode not compared (stop it, or run in a network namespace)"
		return 1
	fi
	local pin=()
	[ "$server_cpus" = any ] || pin=(taskset -c "$server_cpus")
	server_start "$mode" "$port" "${server_prefix[@]}" "${pin[@]}" "$@" --address "$address" --port "$port" || return 1
	pid=$(server_pid "$mode")
	server_info+=(--server-info "mode=$mode engine=$engine threads=$(threads_of "$@") cpus=$server_cpus pid=$pid port=$port")
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
	server_info+=(--server-info "mode=kmod engine=kecho.ko threads=workqueue cpus=any port=$port")
}

# shellcheck disable=SC2317  # also called through the EXIT trap
stop_kmod_native() {
	[ "$kmod_loaded" = 1 ] || return 0
	if rmmod kecho; then say "kmod: unloaded"; else say "kmod: rmmod kecho failed: unload it by hand"; fi
	kmod_loaded=0
}

# start_servers: every server of the table this host can run; sets modes (comma-separated) and
# ports ("user PORT, ...": where each listens).
start_servers() {
	local mode port engine cmd started=() listens=()
	while read -r mode port engine cmd; do
		# shellcheck disable=SC2086  # cmd is a command line of words without spaces inside them
		start_one "$mode" "$port" "$engine" $cmd && started+=("$mode") && listens+=("$mode $port")
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
# run_bench TAG ROLE PARAMS -- ARGS...: one bench comparison; its table on stdout and in TAG.txt,
# JSON, CSV, each in the manifest (the JSON with its role and PARAMS, KEY=JSON words).
run_bench() {
	local name=$1 role=$2 params=()
	shift 2
	while [ "$1" != -- ]; do params+=("$1") && shift; done
	shift
	local pin=()
	[ -z "$client_cpus" ] || pin=(--cpus "$client_cpus")
	echo
	manifest_add "$name.json" "$role" "${params[@]}"
	manifest_add "$name.csv" csv
	manifest_add "$name.txt" table
	"${bench_prefix[@]}" "$bench" --host "$host" "${server_info[@]}" "${pin[@]}" --layout "$layout" "$@" \
		--json "$results/$name.json" --csv "$results/$name.csv" | tee "$results/$name.txt" || {
		say "bench reported errors for $name (see above)"
		status=1
	}
}
timed=() # --duration/--warmup/--repeat of every closed- and open-loop run
set_timing() { timed=(--duration "$duration" --warmup "$warmup" --repeat "$repeat"); }

# The fastest mode's closed-loop maximum at 64 connections (any client configuration; bench finds it).
fastest_at_64() {
	"$bench" report --best requests_per_s "$results"/pingpong-c64-w*.json 2>/dev/null || echo 0
}

# burst_series LIST [TARGET]...: the per-thread files bench burst --out wrote, one per server (the
# comma-separated modes, then the --target names), in the manifest.
burst_series() {
	local name list=$1
	shift
	for name in ${list//,/ } "$@"; do
		[ -e "$results/burst-$name.txt" ] && manifest_add "burst-$name.txt" burst-series "mode=\"$name\""
	done
	return 0
}

client_workloads() {
	local list=$1 c w pct max
	set_timing
	for c in 1 8 1000; do
		run_bench "pingpong-c$c" closed-loop workload='"pingpong"' "connections=$c" client='"auto"' -- \
			--mode "$list" "${targets[@]}" --connections "$c" "${timed[@]}"
	done
	for w in "${sweep_workers[@]}"; do
		run_bench "pingpong-c64-w$w" closed-loop workload='"pingpong"' connections=64 client='"epoll"' "workers=$w" -- \
			--mode "$list" "${targets[@]}" --connections 64 --client epoll --workers "$w" "${timed[@]}"
	done
	run_bench stream stream workload='"stream"' connections=4 -- --mode "$list" "${targets[@]}" --workload stream \
		--connections 4 --size 64K --window 256K "${timed[@]}"
	run_bench burst burst workload='"burst"' "threads=$burst_threads" "rounds=$burst_rounds" -- \
		--mode "$list" "${targets[@]}" --workload burst --threads "$burst_threads" --rounds "$burst_rounds" \
		--repeat "$burst_repeat" --out "$results/burst.txt"
	burst_series "$list" "${target_names[@]}"
	max=$(fastest_at_64)
	[ "$max" -gt 0 ] || { say "no closed-loop maximum at 64 connections: latency against load skipped"; return; }
	echo
	echo "# latency against load: open loop at 64 connections, of the fastest mode's maximum ($max req/s)"
	for pct in "${load_percents[@]}"; do
		run_bench "load-$pct" open-loop workload='"pingpong"' connections=64 client='"epoll"' "load_percent=$pct" \
			percent_of_connections=64 -- --mode "$list" "${targets[@]}" --connections 64 --rate $((max * pct / 100)) \
			"${timed[@]}"
	done
}

references_alone() {
	# A busy-poll reference (floor) spins on a core even when idle: each is measured alone, after
	# the others are stopped.
	local c mode engine port program role _
	server_stop_all
	stop_kmod_native
	while read -r mode engine port program role _; do
		[ "$role" = reference ] || continue
		server_info=()
		start_one "$mode" "$port" "$engine" "$server" --engine "$engine" --threads 1 || continue
		echo
		echo "# $mode: the busy-poll server alone (a reference: it burns a core)"
		for c in 1 8 64 1000; do
			run_bench "$mode-pingpong-c$c" closed-loop workload='"pingpong"' "connections=$c" client='"auto"' -- \
				--mode "$mode" --connections "$c" "${timed[@]}"
		done
		run_bench "$mode-stream" stream workload='"stream"' connections=4 -- --mode "$mode" --workload stream \
			--connections 4 --size 64K --window 256K "${timed[@]}"
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
	for f in "$results"/{pingpong,stream,burst,load,cdf}-* "$results"/{stream,burst}.* \
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
	say "comparing: $modes; $repeat interleaved run(s) of $duration s after $warmup s warmup; layout $layout; results in $results"
	client_workloads "$modes"
	references_alone
	guest_kmod
	summarize
	exit $status
}

client_job() {
	host=$1
	address=$1
	clear_results
	local mode port engine cmd list=()
	while read -r mode port engine cmd; do
		list+=("$mode")
		server_info+=(--server-info "mode=$mode engine=$engine port=$port host=$host started=compare.sh-serve")
	done < <(server_table)
	say "client side against $host (servers started there by compare.sh --serve); results in $results"
	client_workloads "$(IFS=,; echo "${list[*]}")"
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
