#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# Reproduces the tables of docs/performance.md: bpf (sockmap) against the user-space server
# (epoll and io_uring, 1 and 2 threads) at 1/8/64/1000 connections, the busy-polling floor,
# stream 64 KiB, the burst bench, and per-request kernel counters (work items, context switches,
# system calls) when perf is installed. Every comparison is one interleaved bench run (A B C A B C).
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
command -v jq >/dev/null || die "jq is missing: run scripts/install-deps.sh"
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
# (the sockmap echo's sends run in kworkers). The client is the same for every server.
if command -v perf >/dev/null; then
	logs=$(mktemp -d /tmp/kecho-perf.XXXXXX)
	start uring_each "$port_uring_each" "$server" --engine uring --uring-submit each \
		--address 127.0.0.1 --port "$port_uring_each" --threads 1
	echo
	echo "# per request (${duration} s runs; uring-each: io_uring with one system call per operation)"
	printf '%-10s %5s %8s %8s %8s %8s %8s %8s %8s\n' server conns req/s \
		cli-sys cli-cs srv-sys srv-cs work kw-cs
	for m in bpf epoll1 uring1 uring_each; do
		pid=$(server_pid "$m")
		port_var=port_$m
		for c in 1 8 64; do
			note_load "counters-$m-c$c" 2>/dev/null
			perf stat -p "$pid" -x, -e raw_syscalls:sys_enter,context-switches -o "$logs/server.txt" &
			server_perf=$!
			perf stat -a -x, -e workqueue:workqueue_execute_start -e sched:sched_switch \
				--filter 'prev_comm ~ "kworker*"' -o "$logs/kworker.txt" &
			kworker_perf=$!
			sleep 0.2
			perf stat -x, -e raw_syscalls:sys_enter,context-switches -o "$logs/client.txt" -- \
				"$bench" --mode user --port "${!port_var}" --workload pingpong --connections "$c" \
				--duration "$duration" --warmup 0 --json "$logs/count.json" >/dev/null 2>&1 ||
				say "bench failed for $m c=$c"
			kill -INT "$server_perf" "$kworker_perf" 2>/dev/null || true
			wait "$server_perf" "$kworker_perf" 2>/dev/null || true
			rps=$(jq '.modes[0].runs[0].requests_per_s' "$logs/count.json" 2>/dev/null || echo 0)
			awk -F, -v rps="$rps" -v d="$duration" -v m="$m" -v c="$c" '
				FILENAME ~ /client/ && $3 ~ /sys_enter/ { cy = $1 }
				FILENAME ~ /client/ && $3 ~ /context-switches/ { cs = $1 }
				FILENAME ~ /server/ && $3 ~ /sys_enter/ { sy = $1 }
				FILENAME ~ /server/ && $3 ~ /context-switches/ { ss = $1 }
				FILENAME ~ /kworker/ && $3 ~ /workqueue/ { w = $1 }
				FILENAME ~ /kworker/ && $3 ~ /sched_switch/ { k = $1 }
				END {
					n = rps * d
					if (n <= 0) { printf "%-10s %5d (no requests measured)\n", m, c; exit }
					printf "%-10s %5d %8.0f %8.2f %8.2f %8.2f %8.2f %8.2f %8.2f\n", m, c, rps,
						cy / n, cs / n, sy / n, ss / n, w / n, k / n
				}' "$logs/client.txt" "$logs/server.txt" "$logs/kworker.txt"
		done
	done | tee "$out/counters.txt"
	echo "(cli = the bench client, srv = the server process (the loader for bpf), sys = system calls,"
	echo " cs = context switches, work = work items run machine-wide, kw-cs = kworker context switches)"
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

# Summary: per connection count, each configuration's median (min-max) req/s and p99, and
# bpf / the best user-space configuration of the same interleaved run.
{
	echo "| conns | run | bpf req/s | epoll req/s | uring req/s | bpf p99 us | best user p99 us | bpf / best user |"
	echo "|---|---|---|---|---|---|---|---|"
	for c in 1 8 64 1000; do
		for t in t1 t2; do
			jq -r --arg c "$c" --arg t "$t" '
				def s(m): .modes[] | select(.mode == m) | .summary;
				def r(x): "\(x.median | floor) (\(x.min | floor)-\(x.max | floor))";
				(s("bpf")) as $b | (s("user")) as $e | (s("uring")) as $u |
				(if $e.requests_per_s.median > $u.requests_per_s.median then $e else $u end) as $best |
				"| \($c) | \($t) | \(r($b.requests_per_s)) | \(r($e.requests_per_s)) | \(r($u.requests_per_s)) | \($b.p99_us.median | floor) | \($best.p99_us.median | floor) | \($b.requests_per_s.median / $best.requests_per_s.median * 100 | floor / 100) |"
			' "$out/pingpong-c$c-$t.json" 2>/dev/null || echo "| $c | $t | (run failed) |"
		done
	done
	echo
	echo "| conns | floor req/s (alone) | floor p99 us |"
	echo "|---|---|---|"
	for c in 1 8 64 1000; do
		jq -r --arg c "$c" '.modes[0].summary as $f |
			"| \($c) | \($f.requests_per_s.median | floor) (\($f.requests_per_s.min | floor)-\($f.requests_per_s.max | floor)) | \($f.p99_us.median | floor) |"' \
			"$out/floor-c$c.json" 2>/dev/null || echo "| $c | (run failed) |"
	done
	echo
	echo "| stream run | mode | MB/s back median (min-max) | CPU us/MB (whole machine) |"
	echo "|---|---|---|---|"
	for t in t1 t2; do
		jq -r --arg t "$t" '.modes[] | .summary as $s |
			"| \($t) | \(.mode) | \($s.recv_mb_per_s.median | floor) (\($s.recv_mb_per_s.min | floor)-\($s.recv_mb_per_s.max | floor)) | \($s.cpu_us_per_mb.median | floor) |"' \
			"$out/stream-$t.json" 2>/dev/null || echo "| $t | (run failed) |"
	done
	echo
	echo "| burst | mean us per exchange, median (min-max) | p99 us |"
	echo "|---|---|---|"
	jq -r '.modes[] | .summary as $s |
		"| \(.mode) | \($s.mean_us.median | floor) (\($s.mean_us.min | floor)-\($s.mean_us.max | floor)) | \($s.p99_us.median | floor) |"' \
		"$out/burst.json" 2>/dev/null || echo "| (run failed) |"
	echo
	echo "Load during the runs (1/5/15-minute averages, 2 cores):"
	sed 's/^/    /' "$out/load.txt"
} >"$out/summary.md"
echo
cat "$out/summary.md"
