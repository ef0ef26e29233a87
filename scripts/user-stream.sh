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
#                          [--engines "epoll uring splice"] [--pingpong "1 8 64 1000"]
#
# --engines: the servers compared, the first being the baseline of the ratio column; an entry
# ENGINE+OPTION=VALUE+... starts that engine with extra options, e.g. uring+--uring-features=no-bundle
# (the A/B of an io_uring feature). --pingpong: after the stream rounds, ping-pong (64 B) at these
# connection counts against the same servers, interleaved the same way (req/s, ratio to the first).
# Each table also gives the server's own CPU time per MB (per request for ping-pong), median over
# the rounds: less disturbed by other load on the machine than the rates are.
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

# Each entry gets a port of its own (in this namespace) and a file-name-safe key.
declare -A port key server_pid
next_port=23000
for entry in $engines; do
	port[$entry]=$next_port
	key[$entry]=$(printf '%s' "$entry" | tr -c 'A-Za-z0-9_' '_')
	next_port=$((next_port + 1))
done
baseline=${engines%% *}

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
		local engine=${key[$entry]}
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

# One bench run of workload $2 (with its options after) against $1's server; appends the rate
# ($rate_field) to $1's file $suffix and the server's CPU time per unit ($cpu_field) to $suffix.cpu.
run_once() {
	local entry=$1
	shift
	rm -f "$work/run.json"
	in_netns "$bench" --mode user --port "${port[$entry]}" --workload "$@" --duration "$duration" --warmup 0.5 \
		--server-info "mode=user engine=$entry pid=${server_pid[$entry]}" --json "$work/run.json" >/dev/null ||
		die "bench failed against $entry"
	jq -r ".modes[0].runs[0].$rate_field" "$work/run.json" >>"$work/${key[$entry]}$suffix"
	jq -r ".modes[0].runs[0].$cpu_field" "$work/run.json" >>"$work/${key[$entry]}$suffix.cpu"
}

# Runs "$@" (a workload and its options) $rounds times against every server in turn.
interleave() {
	for entry in $engines; do : >"$work/${key[$entry]}$suffix" && : >"$work/${key[$entry]}$suffix.cpu"; done
	for _ in $(seq "$rounds"); do
		for entry in $engines; do run_once "$entry" "$@"; done
	done
}

# Prints the table of the last interleave(): $1 the thread count, $2 the heading.
print_rows() {
	local base_median base_cpu median low high cpu
	echo "# $1 thread(s), $2; load average now $(cut -d' ' -f1-3 /proc/loadavg)"
	printf '%-8s %-40s %10s %10s %10s %9s %12s %9s\n' threads server median min max "vs $baseline" "server-cpu" \
		"vs $baseline"
	read -r base_median _ _ < <(summary <"$work/${key[$baseline]}$suffix")
	read -r base_cpu _ _ < <(summary <"$work/${key[$baseline]}$suffix.cpu")
	for entry in $engines; do
		read -r median low high < <(summary <"$work/${key[$entry]}$suffix")
		read -r cpu _ _ < <(summary <"$work/${key[$entry]}$suffix.cpu")
		printf '%-8s %-40s %10s %10s %10s %9s %12s %9s\n' "$1" "$entry" "$median" "$low" "$high" \
			"$(ratio "$median" "$base_median")" "$cpu" "$(ratio "$cpu" "$base_cpu")"
	done
}

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2fx", (b > 0 ? a / b : 0) }'; }

# median min max of the numbers on stdin (two decimals below 100, for CPU us per request)
summary() {
	sort -g | awk '{ v[NR] = $1 } END {
		m = NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
		f = m < 100 ? "%.2f %.2f %.2f\n" : "%.0f %.0f %.0f\n"
		printf f, m, v[1], v[NR] }'
}

echo "# user-echo-server stream, $connections connections, 64 KiB writes, 256 KiB window, ${duration} s x $rounds interleaved rounds"
[ -z "$pingpong" ] || echo "# then ping-pong, 64 B, at $pingpong connections (req/s), same rounds"
echo "# server-cpu: the server process's CPU time, us per MB echoed (per request for ping-pong)"
echo "# load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
for threads in $threads_list; do
	start_servers "$threads"
	suffix=.mbs rate_field=recv_mb_per_s cpu_field=server_cpu_us_per_mb
	interleave stream --connections "$connections" --size 64K --window 256K
	print_rows "$threads" "stream MB/s"
	for conns in $pingpong; do
		suffix=.pp$conns rate_field=requests_per_s cpu_field=server_cpu_us_per_request
		interleave pingpong --connections "$conns"
		print_rows "$threads" "ping-pong $conns connections, req/s"
	done
	stop_servers
done
echo "# load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
