#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# Streaming through user-echo-server's engines at equal thread counts, interleaved run by run
# (issue 14.2: the io_uring engine must stream at least as fast as epoll; splice is shown too).
# Each round runs every engine once, one after the other, so a change in the machine's load
# hits all of them; the table gives each engine's median (min-max) MB/s and its ratio to epoll
# in the same rounds, with the load average before and after. Servers and client run in a
# network namespace of their own, so the fixed ports never meet another run's.
#
#   scripts/user-stream.sh [--threads "1 2"] [--rounds 5] [--duration 2] [--connections 4]
#
# Quote numbers only from a quiet machine (load average well below 1 before the run).
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "$0")/lib.sh"

threads_list="1 2"
rounds=5
duration=2
connections=4
while [ $# -gt 0 ]; do
	case $1 in
	--threads) threads_list=$2; shift 2 ;;
	--rounds) rounds=$2; shift 2 ;;
	--duration) duration=$2; shift 2 ;;
	--connections) connections=$2; shift 2 ;;
	-h | --help) print_usage; exit 0 ;;
	*) die "unknown option '$1' (see --help)" ;;
	esac
done
[ "$(id -u)" -eq 0 ] || die "needs root (it creates a network namespace)"
server=$KECHO_BUILD/user-echo-server
bench=$KECHO_BUILD/bench
if [ ! -x "$server" ] || [ ! -x "$bench" ]; then die "build first: $server and $bench are missing"; fi

netns=kecho-stream-$$
work=$(mktemp -d)
pids=()
cleanup() {
	set +e # every step runs, whatever a server's exit status was
	for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null; done
	ip netns delete "$netns" 2>/dev/null || true
	rm -rf "$work"
}
trap cleanup EXIT
ip netns add "$netns"
ip -n "$netns" link set lo up
in_netns() { nsenter --net="/var/run/netns/$netns" "$@"; }

engines="epoll uring splice"
declare -A port=([epoll]=12346 [uring]=12348 [splice]=12350)

# Starts one server per engine with $1 threads and waits for each ready line.
start_servers() {
	pids=()
	for engine in $engines; do
		# $! is the server itself (nsenter execs it, no shell between), so kill reaches it
		nsenter --net="/var/run/netns/$netns" "$server" --engine "$engine" --threads "$1" --address 127.0.0.1 \
			>"$work/$engine.out" 2>&1 &
		pids+=($!)
	done
	for engine in $engines; do
		for _ in $(seq 50); do grep -q "echoing on" "$work/$engine.out" && break; sleep 0.1; done
		grep -q "echoing on" "$work/$engine.out" || die "$engine server did not start: $(cat "$work/$engine.out")"
	done
}

stop_servers() {
	for pid in "${pids[@]}"; do
		kill "$pid"
		if ! wait "$pid"; then die "a server exited non-zero"; fi
	done
	pids=()
}

# One bench stream run against $1's port; prints MB/s echoed back.
stream_once() {
	rm -f "$work/run.csv"
	in_netns "$bench" --mode user --port "${port[$1]}" --workload stream --connections "$connections" \
		--size 64K --window 256K --duration "$duration" --warmup 0.5 --csv "$work/run.csv" >/dev/null ||
		die "bench failed against $1"
	awk -F, 'NR == 2 { print $10 }' "$work/run.csv"
}

# median min max of the numbers on stdin
summary() { sort -g | awk '{ v[NR] = $1 } END { printf "%.0f %.0f %.0f\n", (NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2), v[1], v[NR] }'; }

echo "# user-echo-server stream, $connections connections, 64 KiB writes, 256 KiB window, ${duration} s x $rounds interleaved rounds"
echo "# load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
printf '%-8s %-7s %8s %8s %8s %9s\n' threads engine median min max vs-epoll
for threads in $threads_list; do
	start_servers "$threads"
	for engine in $engines; do : >"$work/$engine.mbs"; done
	for _ in $(seq "$rounds"); do
		for engine in $engines; do stream_once "$engine" >>"$work/$engine.mbs"; done
	done
	stop_servers
	read -r epoll_median _ _ < <(summary <"$work/epoll.mbs")
	for engine in $engines; do
		read -r median low high < <(summary <"$work/$engine.mbs")
		printf '%-8s %-7s %8s %8s %8s %9s\n' "$threads" "$engine" "$median" "$low" "$high" \
			"$(awk -v a="$median" -v b="$epoll_median" 'BEGIN { printf "%.2fx", (b > 0 ? a / b : 0) }')"
	done
done
echo "# load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
