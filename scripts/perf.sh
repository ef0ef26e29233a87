#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# Reproduces the tables of docs/performance.md: bpf (sockmap) against the user-space server
# (epoll and io_uring, 1 and 2 threads) at 1/8/64/1000 connections, the busy-polling floor,
# stream 64 KiB, the burst bench, and per-request kernel counters (work items, context switches,
# system calls) when perf is installed. Every comparison is one interleaved bench run (A B C A B C);
# bench report turns the runs and perf stat's counts into the tables.
#
#   scripts/perf.sh [--duration SEC] [--repeat N] [--out DIR] [--no-build] [--quick]
#
# About 7 minutes with the defaults (2 s runs, 3 repeats); --quick (1 s, 2 repeats) about 3.
# Servers listen on private loopback ports (KECHO_PERF_PORT_BASE, default 22340, + 6..18) so a
# developer's instances on the default ports are left alone. Results: DIR (default
# <top>/results/perf): JSON per run, PNG plots, summary.md, load.txt (the load at each run).
set -euo pipefail
. "$(dirname "$0")/lib.sh"

duration=2 repeat=3 out=$KECHO_TOP/results/perf build=1
while [ $# -gt 0 ]; do
	case $1 in
	-h | --help) print_usage; exit 0 ;;
	--no-build) build=0; shift ;;
	--quick) duration=1 repeat=2; shift ;;
	--duration) need_value "$@"; duration=$2; shift 2 ;;
	--repeat) need_value "$@"; repeat=$2; shift 2 ;;
	--out) need_value "$@"; out=$2; shift 2 ;;
	*) bad_usage "unknown argument '$1'" ;;
	esac
done
[[ $duration =~ ^[0-9]+(\.[0-9]+)?$ ]] || bad_usage "--duration takes seconds, not '$duration'"
[[ $repeat =~ ^[1-9][0-9]*$ ]] || bad_usage "--repeat takes a positive whole number, not '$repeat'"
need_root "$@"

if [ "$build" = 1 ]; then
	"$KECHO_TOP/scripts/install-deps.sh"
	build_all
fi
bench=$KECHO_BUILD/bench server=$KECHO_BUILD/user-echo-server loader=$KECHO_BUILD/echo-loader
for b in "$bench" "$server" "$loader"; do
	[ -x "$b" ] || die "$b is missing: build first (cmake --build $KECHO_BUILD) or drop --no-build"
done
mkdir -p "$out" || die "cannot create $out"
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true # 1,000 connections per run

base=${KECHO_PERF_PORT_BASE:-22340}
port_bpf=$((base + 7)) port_epoll1=$((base + 6)) port_epoll2=$((base + 16))
port_uring1=$((base + 8)) port_uring2=$((base + 18)) port_floor=$((base + 9))
port_uring_each=$((base + 28))
warmup=0.5
trap server_stop_all EXIT
trap 'exit 130' INT TERM

# start NAME PORT COMMAND...: lib.sh's server_start on a port that must be free (ours alone).
start() {
	listening "$2" && die "port $2 is taken: set KECHO_PERF_PORT_BASE to a free range (now $base)"
	server_start "$@" || die "$1 did not start (see above)"
}
stop_all() { server_stop_all; }

# The machine may be shared: every run records the load and the busiest processes next to it.
note_load() {
	local line
	line="$1: load $(cut -d' ' -f1-3 /proc/loadavg), busiest: $(ps -eo pcpu,comm --sort=-pcpu --no-headers | head -n 3 | awk '{printf "%s %s%%; ", $2, $1}')"
	# A real-time spinner takes its core from everything measured (kworkers included): say so.
	rt=$(ps -eo pid,cls,pcpu,psr,comm --no-headers | awk '($2 == "FF" || $2 == "RR") && $3 > 20 {printf "pid %s %s %s%% on cpu %s; ", $1, $5, $3, $4}')
	[ -z "$rt" ] || line="$line WARNING real-time process(es) spinning, the machine is smaller: $rt"
	echo "$line" >>"$out/load.txt"
	say "$line"
}

# run TAG ARGS...: one bench run, its table on stdout, JSON (and PNG) in $out.
run() {
	local tag=$1
	shift
	note_load "$tag"
	"$bench" "$@" --json "$out/$tag.json" --plot "$out/$tag.png" || say "bench reported errors for $tag"
}

: >"$out/load.txt"
say "results in $out; ${repeat} interleaved runs of ${duration} s (after ${warmup} s warmup) per mode"
start bpf "$port_bpf" "$loader" attach --address 127.0.0.1 --port "$port_bpf"
start epoll1 "$port_epoll1" "$server" --address 127.0.0.1 --port "$port_epoll1" --threads 1
start epoll2 "$port_epoll2" "$server" --address 127.0.0.1 --port "$port_epoll2" --threads 2
start uring1 "$port_uring1" "$server" --engine uring --address 127.0.0.1 --port "$port_uring1" --threads 1
start uring2 "$port_uring2" "$server" --engine uring --address 127.0.0.1 --port "$port_uring2" --threads 2

common=(--duration "$duration" --warmup "$warmup" --repeat "$repeat" --mode "bpf,user,uring"
	--mode-port "bpf=$port_bpf")
t1=(--mode-port "user=$port_epoll1" --mode-port "uring=$port_uring1")
t2=(--mode-port "user=$port_epoll2" --mode-port "uring=$port_uring2")

# 1. Ping-pong, 64 B: bpf against the user server at 1 and 2 threads (each its own interleaved run).
for c in 1 8 64 1000; do
	run "pingpong-c$c-t1" "${common[@]}" "${t1[@]}" --workload pingpong --connections "$c"
	run "pingpong-c$c-t2" "${common[@]}" "${t2[@]}" --workload pingpong --connections "$c"
done
# 2. Stream 64 KiB writes, 4 connections, 256 KiB in flight each.
stream=(--workload stream --connections 4 --size 64K --window 256K)
run stream-t1 "${common[@]}" "${t1[@]}" "${stream[@]}"
run stream-t2 "${common[@]}" "${t2[@]}" "${stream[@]}"
# 3. kecho's burst bench: 1,000 threads x 10 rounds, one 13-byte message each.
note_load burst
"$bench" --mode bpf,user,uring --mode-port "bpf=$port_bpf" "${t1[@]}" --workload burst \
	--repeat "$repeat" --json "$out/burst.json" || say "bench reported errors for burst"

# 4. Per-request counters: the client's and the server's own system calls and context switches
# (perf stat on each process), and the work items and kworker switches of the whole machine
# (the sockmap echo's sends run in kworkers). The client is the same for every server; bench report
# gives each count per request.
if command -v perf >/dev/null; then
	logs=$(mktemp -d /tmp/kecho-perf.XXXXXX)
	start uring_each "$port_uring_each" "$server" --engine uring --uring-submit each \
		--address 127.0.0.1 --port "$port_uring_each" --threads 1
	echo
	echo "# per request (${duration} s runs; uring_each: io_uring with one system call per operation)"
	for m in bpf epoll1 uring1 uring_each; do
		pid=$(server_pid "$m")
		port_var=port_$m
		for c in 1 8 64; do
			note_load "counters-$m-c$c" 2>/dev/null
			perf stat -p "$pid" -x, -e raw_syscalls:sys_enter,context-switches -o "$logs/server.txt" &
			server_perf=$!
			perf stat -a -x, -e workqueue:workqueue_execute_start -e sched:sched_switch \
				--filter 'prev_comm ~ "kworker*"' -o "$logs/kworkers.txt" &
			kworker_perf=$!
			sleep 0.2
			perf stat -x, -e raw_syscalls:sys_enter,context-switches -o "$logs/client.txt" -- \
				"$bench" pingpong --target "$m-c$c=127.0.0.1:${!port_var}" --connections "$c" \
				--duration "$duration" --warmup 0 --json "$logs/count.json" >/dev/null 2>&1 ||
				say "bench failed for $m c=$c"
			kill -INT "$server_perf" "$kworker_perf" 2>/dev/null || true
			wait "$server_perf" "$kworker_perf" 2>/dev/null || true
			"$bench" report "$logs/count.json" --perf-stat "client=$logs/client.txt" \
				--perf-stat "server=$logs/server.txt" --perf-stat "kworkers=$logs/kworkers.txt" |
				sed -n '/^per req/,$p' || say "no counts for $m c=$c"
		done
	done | tee "$out/counters.txt"
	echo "(client = the bench client, server = the server process (the loader for bpf), kworkers = the whole"
	echo " machine's work items and kworker context switches)"
	rm -rf "$logs"
else
	say "perf is not installed (apt-get install linux-perf): per-request counters skipped"
fi

# 5. The floor (busy polling) alone: it spins on a core and would slow whatever ran next to it.
stop_all
start floor "$port_floor" "$server" --engine floor --address 127.0.0.1 --port "$port_floor"
for c in 1 8 64 1000; do
	run "floor-c$c" --duration "$duration" --warmup "$warmup" --repeat "$repeat" --mode floor \
		--port "$port_floor" --workload pingpong --connections "$c"
done
stop_all

# Summary: bench report of every run, the ping-pong ones against the best user-space server of
# the same interleaved run.
report() { # report TITLE FILE [bench report options]
	local title=$1 file=$2
	shift 2
	echo "## $title"
	echo
	echo '```'
	"$bench" report "$file" "$@" 2>&1 || echo "(run failed)"
	echo '```'
	echo
}
{
	for c in 1 8 64 1000; do
		for t in t1 t2; do report "ping-pong, $c connections, $t" "$out/pingpong-c$c-$t.json" --baseline best-user; done
	done
	for c in 1 8 64 1000; do report "floor alone, $c connections" "$out/floor-c$c.json" --baseline floor; done
	for t in t1 t2; do report "stream, $t" "$out/stream-$t.json"; done
	report burst "$out/burst.json"
	echo "Load during the runs (1/5/15-minute averages, 2 cores):"
	sed 's/^/    /' "$out/load.txt"
} >"$out/summary.md"
echo
cat "$out/summary.md"
