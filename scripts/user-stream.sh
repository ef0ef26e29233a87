#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# Streaming through user-echo-server's engines at equal thread counts, interleaved run by run
# (issue 14.2: the io_uring engine must stream at least as fast as epoll; splice is shown too).
# Each round runs every engine once, one after the other (bench --repeat), so a change in the
# machine's load hits all of them; bench report's table gives each engine's median (min-max) MB/s
# and its ratio to the first in the same rounds, with the load average before and after. Servers
# and client run in a network namespace of their own, so the fixed ports never meet another run's.
#
#   scripts/user-stream.sh [--threads "1 2"] [--rounds 5] [--duration 2] [--connections 4]
#                          [--engines "epoll uring splice"] [--pingpong "1 8 64 1000"]
#
# --engines: the servers compared, the first being the baseline of the ratio column; an entry
# ENGINE+OPTION=VALUE+... starts that engine with extra options, e.g. uring+--uring-features=no-bundle
# (the A/B of an io_uring feature). --pingpong: after the stream rounds, ping-pong (64 B) at these
# connection counts against the same servers, interleaved the same way (req/s, ratio to the first).
# Each table comes with its CPU split: the server's own CPU time per MB (per request for ping-pong),
# median over the rounds, less disturbed by other load on the machine than the rates are.
#
# Quote numbers only from a quiet machine (load average well below 1 before the run).
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "$0")/lib.sh"

threads_list="1 2"
rounds=5
duration=2
connections=4
engines="epoll uring splice"
pingpong=""
while [ $# -gt 0 ]; do
	case $1 in
	--threads) threads_list=$2; shift 2 ;;
	--rounds) rounds=$2; shift 2 ;;
	--duration) duration=$2; shift 2 ;;
	--connections) connections=$2; shift 2 ;;
	--engines) engines=$2; shift 2 ;;
	--pingpong) pingpong=$2; shift 2 ;;
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

# Each entry gets a port of its own (in this namespace) and a name bench can use as its target's.
declare -A port key server_pid
next_port=23000
for entry in $engines; do
	port[$entry]=$next_port
	key[$entry]=$(printf '%s' "$entry" | tr -c 'A-Za-z0-9_.+-' '.')
	next_port=$((next_port + 1))
done
baseline=${key[${engines%% *}]}

# Starts one server per entry with $1 threads and waits for each ready line.
start_servers() {
	pids=()
	for entry in $engines; do
		local engine=${entry%%+*} extra=()
		if [ "$engine" != "$entry" ]; then IFS=+ read -ra extra <<<"${entry#*+}"; fi
		# $! is the server itself (nsenter execs it, no shell between), so kill reaches it
		nsenter --net="/var/run/netns/$netns" "$server" --engine "$engine" --threads "$1" --address 127.0.0.1 \
			--port "${port[$entry]}" "${extra[@]}" >"$work/${key[$entry]}.out" 2>&1 &
		pids+=($!)
		server_pid[$entry]=$!
	done
	for entry in $engines; do
		local name=${key[$entry]}
		for _ in $(seq 50); do grep -q "echoing on" "$work/$name.out" && break; sleep 0.1; done
		grep -q "echoing on" "$work/$name.out" || die "$name server did not start: $(cat "$work/$name.out")"
	done
}

stop_servers() {
	for pid in "${pids[@]}"; do
		kill "$pid"
		if ! wait "$pid"; then die "a server exited non-zero"; fi
	done
	pids=()
}

# interleave THREADS HEADING WORKLOAD OPTIONS...: the workload against every server, $rounds rounds,
# each round every server once (bench interleaves them), each server's process named for its CPU;
# then bench report's table (median, min-max, ratio to the first entry) and CPU split (the
# server's CPU per unit, and against the first entry's).
interleave() {
	local threads=$1 heading=$2 workload=$3 targets=() json=$work/run.json
	shift 3
	for entry in $engines; do
		targets+=(--target "${key[$entry]}=127.0.0.1:${port[$entry]}"
			--server-info "mode=${key[$entry]} engine=$entry threads=$threads pid=${server_pid[$entry]}")
	done
	rm -f "$json"
	in_netns "$bench" "$workload" "${targets[@]}" "$@" --repeat "$rounds" --duration "$duration" --warmup 0.5 \
		--baseline "$baseline" --json "$json" >/dev/null || die "bench failed: $workload against $engines"
	echo "# $threads thread(s), $heading; load average now $(cut -d' ' -f1-3 /proc/loadavg)"
	"$bench" report "$json" --baseline "$baseline" || die "bench report failed"
}

echo "# user-echo-server stream, $connections connections, 64 KiB writes, 256 KiB window, ${duration} s x $rounds interleaved rounds"
[ -z "$pingpong" ] || echo "# then ping-pong, 64 B, at $pingpong connections (req/s), same rounds"
echo "# the CPU split gives the server process's CPU time per MB echoed (per request for ping-pong)"
echo "# load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
for threads in $threads_list; do
	start_servers "$threads"
	interleave "$threads" "stream MB/s" stream --connections "$connections" --size 64K --window 256K
	for conns in $pingpong; do
		interleave "$threads" "ping-pong $conns connections, req/s" pingpong --connections "$conns"
	done
	stop_servers
done
echo "# load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
