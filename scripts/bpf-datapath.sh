#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# What the kernel offers for the bpf echo, measured against the user-space servers: data path
# (ping-pong, stream) and accept path (churn, kecho's burst) under knobs that change where and how
# the in-kernel echo's work runs. Everything runs in a network namespace of its own; the servers
# are started and stopped here. See --help.
set -euo pipefail
# shellcheck source=lib.sh disable=SC1091 # followed with shellcheck -x
. "$(dirname "$0")/lib.sh"

usage() {
	cat <<EOF
usage: $(basename "$0") [options]

Runs build/bench against every VARIANT for every WORKLOAD, REPEAT times interleaved (each repeat
starts every variant's server afresh, in turn), inside a network namespace of its own, and prints
per workload what \`bench report\` makes of the runs: the median of each metric with the primary
one's spread (min-max) and its ratio to epoll, then the CPU split: the machine's busy CPU, the
server process's CPU (for bpf the echo's work runs in softirq and kworkers, outside the loader:
compare the machine's) and CPU microseconds per unit of work (request, MB, cycle, client, and for
burst, where each exchange is a new connection, exchange). The servers and their ports are the
server registry's. The load average is recorded before and after every repeat; a run that starts
above 1.0 is not a quiet run.

options:
  --repeat N            runs per variant and workload (default $repeat)
  --duration SEC        seconds measured per ping-pong, stream and churn run (default $duration)
  --workloads LIST      comma-separated, from: pp1 pp8 pp64 pp1000 stream churn burst halfclose
                        (halfclose: clients that send ~4 KB and shut down writing, so the echo is
                        still in flight at their FIN: the loader's drain before close)
                        (default $workloads)
  --variants LIST       comma-separated, from (default $variants):
                          epoll, uring     user-echo-server --engine epoll|uring, 1 thread
                          epoll-2t, uring-2t  the same with --threads 2 (bpf accepts on 2 threads)
                          bpf              echo-loader attach with its defaults
                          bpf-1t           echo-loader --threads 1 (one accept thread, as before)
                          bpf-nometer      echo-loader --no-meter (no sk_msg program on egress)
                          bpf-rps          bpf with RPS on the namespace's loopback (every CPU)
                          bpf-nocork       bpf with net.ipv4.tcp_autocorking=0 in the namespace
                          bpf-base         --baseline-loader's echo-loader (e.g. an older build)
  --baseline-loader P   the echo-loader binary of variant bpf-base
  --burst-threads N     burst: threads released together (default $burst_threads, kecho's)
  --burst-rounds N      burst: rounds (default $burst_rounds, kecho's)
  --trace               burst: time every exchange's phases with \`echo-loader trace\` (arrival,
                        accept, the server's read or the sockmap's kworker, echo, client's read)
                        and print them per variant (median over the repeats of each phase's mean)
  --out DIR             keep the raw results, logs and burst per-thread files (burst-VARIANT-REPEAT.txt)
                        in DIR (default: a temporary directory)
  -h, --help            this text

Needs root (network namespace, BPF). Binaries from \$KECHO_BUILD (default <top>/build).
EOF
}

repeat=3
duration=3
workloads=pp1,pp8,pp64,churn,burst
variants=epoll,uring,bpf,bpf-1t,bpf-nometer,bpf-rps,bpf-nocork
baseline_loader=
burst_threads=1000
burst_rounds=10
trace=0
halfclose_clients=5000
out=

while [ $# -gt 0 ]; do
	case $1 in
	--repeat) need_value "$@"; repeat=$2; shift 2 ;;
	--duration) need_value "$@"; duration=$2; shift 2 ;;
	--workloads) need_value "$@"; workloads=$2; shift 2 ;;
	--variants) need_value "$@"; variants=$2; shift 2 ;;
	--baseline-loader) need_value "$@"; baseline_loader=$2; shift 2 ;;
	--burst-threads) need_value "$@"; burst_threads=$2; shift 2 ;;
	--burst-rounds) need_value "$@"; burst_rounds=$2; shift 2 ;;
	--trace) trace=1; shift ;;
	--out) need_value "$@"; out=$2; shift 2 ;;
	-h | --help) usage; exit 0 ;;
	*) bad_usage "unknown option '$1'" ;;
	esac
done

[[ $repeat =~ ^[1-9][0-9]*$ ]] || bad_usage "--repeat must be a positive integer, not '$repeat'"
[[ $duration =~ ^[0-9]+(\.[0-9]+)?$ ]] || bad_usage "--duration must be seconds, not '$duration'"
for w in ${workloads//,/ }; do
	case $w in pp1 | pp8 | pp64 | pp1000 | stream | churn | burst | halfclose) ;; *) bad_usage "unknown workload '$w'" ;; esac
done
for v in ${variants//,/ }; do
	case $v in
	epoll | uring | epoll-2t | uring-2t | bpf | bpf-1t | bpf-nometer | bpf-rps | bpf-nocork) ;;
	bpf-base) [ -x "$baseline_loader" ] || bad_usage "variant bpf-base needs --baseline-loader PATH (an executable echo-loader)" ;;
	*) bad_usage "unknown variant '$v'" ;;
	esac
done
[ "$(id -u)" -eq 0 ] || die "needs root (network namespace, BPF): run it as root"
for b in bench echo-loader user-echo-server; do
	[ -x "$KECHO_BUILD/$b" ] || die "$KECHO_BUILD/$b is missing: build first (cmake --build build)"
done
cgroup_root=$(findmnt -n -t cgroup2 -o TARGET | head -n 1)
[ -n "$cgroup_root" ] || die "no cgroup v2 hierarchy is mounted (echo-loader needs one)"

ns=kecho-dp-$$
out=${out:-$(mktemp -d /tmp/kecho-datapath.XXXXXX)}
mkdir -p "$out" || die "cannot create $out"
server_pid=
in_ns() { nsenter --net="/var/run/netns/$ns" "$@"; }

cleanup() {
	[ -z "$trace_pid" ] || kill -INT "$trace_pid" 2>/dev/null || true
	stop_server
	ip netns del "$ns" 2>/dev/null || true
	rmdir "$cgroup_root/$ns" 2>/dev/null || true
}
trap cleanup EXIT
trap 'exit 130' INT TERM

ip netns add "$ns" || die "cannot create network namespace $ns"
ip -n "$ns" link set lo up
ulimit -n "$(ulimit -Hn)"

# The namespace-wide knobs of a variant (each run starts from the defaults).
set_knobs() {
	local rps=0 cork=1
	[ "$1" = bpf-rps ] && rps=$(printf '%x' $(((1 << $(nproc)) - 1)))
	[ "$1" = bpf-nocork ] && cork=0
	# ip netns exec mounts the namespace's /sys: the only way to reach its loopback's queues.
	ip netns exec "$ns" sh -c "echo $rps > /sys/class/net/lo/queues/rx-0/rps_cpus"
	in_ns sysctl -qw net.ipv4.tcp_autocorking=$cork
}

# registry_port ENGINE: the registry's port of the server of that engine (epoll, uring, sockmap).
registry_port() {
	local mode engine port _
	while read -r mode engine port _; do
		if [ "$engine" = "$1" ]; then echo "$port"; fi
	done < <(registry)
}

# Starts the server of a variant in the namespace; sets server_pid and port.
start_server() {
	local v=$1 log=$out/server-$1.log loader=$KECHO_BUILD/echo-loader extra=()
	case $v in
	epoll | uring | epoll-2t | uring-2t)
		local engine=${v%-2t} threads=1
		[ "$engine" = "$v" ] || threads=2
		port=$(registry_port "$engine")
		nsenter --net="/var/run/netns/$ns" "$KECHO_BUILD/user-echo-server" --engine "$engine" --threads "$threads" \
			--port "$port" >>"$log" 2>&1 &
		;;
	*)
		port=$(registry_port sockmap)
		[ "$v" = bpf-1t ] && extra=(--threads 1)
		[ "$v" = bpf-nometer ] && extra=(--no-meter)
		[ "$v" = bpf-base ] && loader=$baseline_loader
		nsenter --net="/var/run/netns/$ns" "$loader" --run-dir "/tmp/$ns" attach --port "$port" \
			--cgroup "$cgroup_root/$ns" "${extra[@]}" >>"$log" 2>&1 &
		;;
	esac
	server_pid=$!  # nsenter execs the server: this is the server's pid
	local _
	for _ in $(seq 150); do
		in_ns bash -c "exec 3<>/dev/tcp/127.0.0.1/$port" 2>/dev/null && return 0
		kill -0 "$server_pid" 2>/dev/null || break
		sleep 0.1
	done
	die "the $v server did not start (see $log)"
}

stop_server() {
	[ -n "$server_pid" ] || return 0
	kill -TERM "$server_pid" 2>/dev/null || true
	local _
	for _ in $(seq 100); do
		kill -0 "$server_pid" 2>/dev/null || break
		sleep 0.1
	done
	kill -KILL "$server_pid" 2>/dev/null || true
	wait "$server_pid" 2>/dev/null || true
	server_pid=
}

# run_workload WORKLOAD VARIANT REPEAT: one bench run against the running server, the variant as
# its target (the server's process named for its CPU), its JSON in $out/WORKLOAD-VARIANT-REPEAT.json;
# false when bench wrote none.
run_workload() {
	local w=$1 v=$2 r=$3 json=$out/$1-$2-$3.json
	local target=(--target "$v=127.0.0.1:$port" --server-info "mode=$v pid=$server_pid" --json "$json")
	local bench=$KECHO_BUILD/bench
	rm -f "$json"
	case $w in
	pp*) in_ns "$bench" pingpong "${target[@]}" --connections "${w#pp}" --duration "$duration" --warmup 0.5 ;;
	stream) in_ns "$bench" stream "${target[@]}" --connections 4 --duration "$duration" --warmup 0.5 ;;
	churn) in_ns "$bench" churn "${target[@]}" --cycles 10000000 --duration-limit "$duration" ;;
	halfclose) in_ns "$bench" half-close "${target[@]}" --clients "$halfclose_clients" ;;
	burst)
		[ "$trace" = 0 ] || trace_start "$out/trace-$v-$r.json"
		in_ns "$bench" burst "${target[@]}" --threads "$burst_threads" --rounds "$burst_rounds" \
			--out "$out/burst-$v-$r.txt"
		[ "$trace" = 0 ] || trace_stop
		;;
	esac >>"$out/bench.log" 2>&1
	[ -s "$json" ]
}

# trace_start FILE: `echo-loader trace` on the server's port (the tracepoints see every
# namespace), its JSON report to FILE once trace_stop ends it.
trace_pid=
trace_start() {
	"$KECHO_BUILD/echo-loader" trace --port "$port" --json >"$1" 2>"$out/trace.err" &
	trace_pid=$!
	local _
	for _ in $(seq 100); do
		grep -q "^tracing port" "$out/trace.err" && return 0
		kill -0 "$trace_pid" 2>/dev/null || break
		sleep 0.1
	done
	die "echo-loader trace did not start: $(cat "$out/trace.err")"
}
trace_stop() {
	kill -INT "$trace_pid" 2>/dev/null || true
	wait "$trace_pid" || say "echo-loader trace failed: $(cat "$out/trace.err")"
	trace_pid=
}

measure() {
	run_workload "$@" || say "$1 against $2 failed (see $out/bench.log)"
}

say "namespace $ns, results in $out; load average $(cut -d' ' -f1-3 /proc/loadavg)"
for r in $(seq "$repeat"); do
	echo "repeat $r: load average before $(cut -d' ' -f1-3 /proc/loadavg)" >>"$out/load.txt"
	for v in ${variants//,/ }; do
		set_knobs "$v"
		start_server "$v"
		for w in ${workloads//,/ }; do measure "$w" "$v" "$r"; done
		stop_server
		sleep 1  # the previous server's sockets leave (TIME_WAIT does not block a listener)
	done
	set_knobs default
	echo "repeat $r: load average after $(cut -d' ' -f1-3 /proc/loadavg)" >>"$out/load.txt"
done

echo "bpf data and accept paths: $repeat interleaved runs per cell, $duration s per run, $(nproc) CPUs, kernel $(uname -r)"
cat "$out/load.txt"
for w in ${workloads//,/ }; do
	case $w in
	pp*) unit="req/s (pingpong, ${w#pp} connections x 64 B)" ;;
	stream) unit="MB/s (stream, 4 connections)" ;;
	churn) unit="cycles/s (churn: connect, echo, close)" ;;
	halfclose) unit="clients/s (half-close: $halfclose_clients clients, send, shut down writing, read every byte)" ;;
	burst) unit="mean us per thread (burst, $burst_threads threads x $burst_rounds rounds; lower is better)" ;;
	esac
	echo
	echo "$w: $unit"
	# Each variant's runs, repeat after repeat: bench report merges them per variant.
	files=() failed=()
	for v in ${variants//,/ }; do
		found=0
		for r in $(seq "$repeat"); do
			[ ! -s "$out/$w-$v-$r.json" ] || { files+=("$out/$w-$v-$r.json") && found=1; }
		done
		[ "$found" = 1 ] || failed+=("$v")
	done
	[ ${#files[@]} -eq 0 ] || "$KECHO_BUILD/bench" report "${files[@]}" --baseline epoll ||
		say "bench report failed for $w"
	for v in "${failed[@]}"; do echo "$v: failed (no run gave a result; see $out/bench.log)"; done
done

[ "$trace" = 1 ] && [[ ,$workloads, == *,burst,* ]] || exit 0
echo
echo "burst, traced: where an exchange's time went, mean us per phase (median over the repeats, min-max)"
traces=()
for v in ${variants//,/ }; do
	for r in $(seq "$repeat"); do
		[ ! -s "$out/trace-$v-$r.json" ] || traces+=("$v=$out/trace-$v-$r.json")
	done
done
[ ${#traces[@]} -eq 0 ] || "$KECHO_BUILD/bench" report "${traces[@]}" || say "bench report failed for the traces"
