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
per workload a table: median of the metric with its spread (min-max), the machine's busy CPU and
the server process's CPU (for bpf the echo's work runs in softirq and kworkers, outside the
loader: compare the machine's), and the ratio to epoll; for burst, where each exchange is a new
connection, also both in CPU microseconds per exchange. The load average is recorded before and
after every repeat; a run that starts above 1.0 is not a quiet run.

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
results=$out/results.txt
: >"$results"
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

# Starts the server of a variant in the namespace; sets server_pid, mode and port.
start_server() {
	local v=$1 log=$out/server-$1.log loader=$KECHO_BUILD/echo-loader extra=()
	case $v in
	epoll | uring | epoll-2t | uring-2t)
		local engine=${v%-2t} threads=1
		[ "$engine" = "$v" ] || threads=2
		mode=$([ "$engine" = epoll ] && echo user || echo uring)
		port=$([ "$engine" = epoll ] && echo 12346 || echo 12348)
		nsenter --net="/var/run/netns/$ns" "$KECHO_BUILD/user-echo-server" --engine "$engine" --threads "$threads" \
			--port "$port" >>"$log" 2>&1 &
		;;
	*)
		mode=bpf port=12347
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

# Busy and total jiffies of the whole machine; CPU jiffies of the server process.
machine_jiffies() { awk '/^cpu /{print $2+$3+$4+$7+$8, $2+$3+$4+$5+$6+$7+$8}' /proc/stat; }
process_jiffies() { awk '{print $14+$15}' "/proc/$server_pid/stat" 2>/dev/null || echo 0; }

# csv_value FILE COLUMN: the first run's value in the column with that header (bench's CSV gains
# columns over time: never pick one by position).
csv_value() {
	awk -F, -v name="$2" 'NR == 1 { for (i = 1; i <= NF; i++) if ($i == name) c = i }
		NR == 2 && c { print $c }' "$1"
}

# Runs one workload against the running server; prints its metric (empty on failure).
run_workload() {
	local w=$1 v=$2 r=$3 csv=$out/run.csv log=$out/bench.log
	local bench=("$KECHO_BUILD/bench" --mode "$mode" --host 127.0.0.1 --port "$port")
	rm -f "$csv"
	case $w in
	pp*) in_ns "${bench[@]}" --workload pingpong --connections "${w#pp}" --duration "$duration" --warmup 0.5 --csv "$csv" >>"$log" 2>&1 &&
		csv_value "$csv" requests_per_s ;;
	stream) in_ns "${bench[@]}" --workload stream --connections 4 --duration "$duration" --warmup 0.5 --csv "$csv" >>"$log" 2>&1 &&
		csv_value "$csv" recv_mb_per_s ;;
	churn) in_ns "${bench[@]}" --workload churn --cycles 10000000 --duration-limit "$duration" >"$out/churn.txt" 2>>"$log" &&
		cat "$out/churn.txt" >>"$log" && sed -n 's/.* \([0-9.]*\) cycles\/s.*/\1/p' "$out/churn.txt" ;;
	halfclose) in_ns "${bench[@]}" --workload half-close --clients "$halfclose_clients" >"$out/halfclose.txt" 2>>"$log" &&
		cat "$out/halfclose.txt" >>"$log" &&
		sed -n "s/.* in \([0-9.]*\) s\$/\1/p" "$out/halfclose.txt" | awk -v n="$halfclose_clients" '$1 > 0 { print n / $1 }' ;;
	burst)
		[ "$trace" = 0 ] || trace_start "$out/trace-$v-$r.json"
		in_ns "${bench[@]}" --workload burst --threads "$burst_threads" --rounds "$burst_rounds" --csv "$csv" \
			--out "$out/burst-$v-$r.txt" >>"$log" 2>&1 && csv_value "$csv" mean_us
		[ "$trace" = 0 ] || trace_stop
		;;
	esac
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
	local w=$1 v=$2 r=$3 m0 m1 p0 p1 metric
	read -r m0 t0 < <(machine_jiffies)
	p0=$(process_jiffies)
	metric=$(run_workload "$w" "$v" "$r" || true)
	read -r m1 t1 < <(machine_jiffies)
	p1=$(process_jiffies)
	[ -n "$metric" ] || { say "$w against $v failed (see $out/bench.log)"; metric=NA; }
	local ticks=$(($(getconf CLK_TCK)))
	awk -v w="$w" -v v="$v" -v r="$r" -v m="$metric" -v busy=$((m1 - m0)) -v total=$((t1 - t0)) \
		-v proc=$((p1 - p0)) -v cpus="$(nproc)" -v ticks="$ticks" 'BEGIN {
		secs = total / cpus / ticks; if (secs <= 0) secs = 1
		printf "%s %s %s %s %.1f %.1f %.0f %.0f\n", w, v, r, m, 100 * busy / (total ? total : 1), 100 * proc / ticks / secs,
			1e6 * busy / ticks, 1e6 * proc / ticks
	}' >>"$results"
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
	# burst: CPU per exchange too (every exchange is a new connection: the per-connection cost)
	ops=0
	[ "$w" = burst ] && ops=$((burst_threads * burst_rounds))
	awk -v w="$w" -v order="$variants" -v ops="$ops" '
	function sorted(list, a,   n, i, j, t) {  # numeric insertion sort (mawk has no asort)
		n = split(list, a, " ")
		for (i = 2; i <= n; i++) for (j = i; j > 1 && a[j - 1] + 0 > a[j] + 0; j--) { t = a[j]; a[j] = a[j - 1]; a[j - 1] = t }
		return n
	}
	function median(list,   a, n) { n = sorted(list, a); return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2 }
	function lo(list,   a) { sorted(list, a); return a[1] }
	function hi(list,   a, n) { n = sorted(list, a); return a[n] }
	$1 == w && $4 != "NA" { m[$2] = m[$2] " " $4; b[$2] = b[$2] " " $5; p[$2] = p[$2] " " $6
		if (ops) { cb[$2] = cb[$2] " " $7 / ops; cp[$2] = cp[$2] " " $8 / ops } }
	END {
		printf "%-12s %12s %25s %10s %10s %9s", "variant", "median", "(min-max)", "machine%", "server%", "vs epoll"
		printf ops ? " %14s %14s\n" : "\n", "machine us/op", "server us/op"
		base = ("epoll" in m) ? median(m["epoll"]) : 0
		n = split(order, names, ",")
		for (i = 1; i <= n; i++) {
			v = names[i]
			if (!(v in m)) { printf "%-12s %12s\n", v, "failed"; continue }
			med = median(m[v])
			printf "%-12s %12.1f %25s %10.1f %10.1f %9s", v, med, sprintf("(%.1f-%.1f)", lo(m[v]), hi(m[v])),
				median(b[v]), median(p[v]), base ? sprintf("%.2f", med / base) : "-"
			printf ops ? " %14.1f %14.1f\n" : "\n", median(cb[v]), median(cp[v])
		}
	}' "$results"
done

[ "$trace" = 1 ] && [[ ,$workloads, == *,burst,* ]] || exit 0
echo
echo "burst, traced: where an exchange's time went, mean us per phase (median over the repeats, min-max)"
for v in ${variants//,/ }; do
	for r in $(seq "$repeat"); do
		f=$out/trace-$v-$r.json
		[ -s "$f" ] || continue
		jq -r --arg v "$v" '"\($v)\t(exchanges)\t\(.exchanges)",
			"\($v)\t(accepted before arrival, %)\t\(if .exchanges > 0 then 100 * .accepted_before_arrival / .exchanges else 0 end)",
			(.phases | to_entries[] | select(.value.count > 0) | "\($v)\t\(.key)\t\(.value.mean_us)")' "$f"
	done
done | awk -F '\t' '
	function sorted(list, a,   n, i, j, t) {
		n = split(list, a, " ")
		for (i = 2; i <= n; i++) for (j = i; j > 1 && a[j - 1] + 0 > a[j] + 0; j--) { t = a[j]; a[j] = a[j - 1]; a[j - 1] = t }
		return n
	}
	function median(list,   a, n) { n = sorted(list, a); return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2 }
	{ key = $1 SUBSEP $2; if (!(key in v)) order[++n] = key; v[key] = v[key] " " $3 }
	END {
		for (i = 1; i <= n; i++) {
			split(order[i], k, SUBSEP)
			c = sorted(v[order[i]], a)
			printf "%-12s %-44s %12.1f  (%.1f-%.1f)\n", k[1], k[2], median(v[order[i]]), a[1], a[c]
		}
	}'
