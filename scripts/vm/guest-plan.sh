#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-only
# The plan the kecho VM guest runs (busybox sh), chosen by PLAN in /kecho/plan.env:
#   test     every check of kecho.ko, plus the bpf, user and uring servers in the same kernel
#            (SCOPE=module: kecho.ko's checks only; NETEM=1: the servers again under netem faults)
#   compare  only the three-way bench --mode all table
#   dkms     a module built elsewhere: insmod, kmod verify (--quick), rmmod, a clean kernel log
#   bundle   the portable bundle's compare (in /kecho/bundle) with this kecho.ko, every server verified
#   uring    the io_uring server's verify alone (URING_VERIFY_ARGS: bench's, e.g. one --case;
#            URING_SERVER_ARGS: user-echo-server's, e.g. --verbose); its log as KECHO-SERVER-LOG lines
#   kmod-verify  kecho.ko's verify alone, VERIFY_LOOPS times (KMOD_LOOP_VERIFY_ARGS: bench's, default
#            --case mixed-64), stopping at the first failure; a run still going after STALL_AFTER_S
#            seconds dumps the sockets, TCP counters, kworker stacks and busy workqueues (KECHO-STALL);
#            VERIFY_TCP_MEM: net.ipv4.tcp_mem for the runs (pages; low values keep TCP under memory pressure);
#            VERIFY_NETEM=1: under netem (default cases the netem checks'), a connection left 30 s after fails
#   adversary  the adversarial suite alone against every server (ADVERSARY_ARGS: tcp-adversary's own
#            arguments, e.g. "--case zero-window --trace": its segments then go to the console)
#   probe    prints one line (used to see whether KVM really runs the guest)
# Every check prints "KECHO-RESULT <name> PASS|FAIL <detail>" on the console and on ttyS1; the host
# parses those. A binary missing from the build dir is a FAIL, never a skip; a server the kernel
# lacks a feature for is "KECHO-RESULT <name> UNSUPPORTED not supported on this kernel: REASON".
# The servers' ports are the server registry's, as the guest's bench lists it (`bench servers`).
# Word splitting of the *_ARGS variables from plan.env is intended.
# shellcheck disable=SC2086 source=/dev/null # written by make-initramfs.sh, only in the guest
. /kecho/plan.env
K=/kecho
OUT=/dev/ttyS1
[ -c "$OUT" ] || OUT=/dev/null
"$K/bench" servers --no-heading >/tmp/servers.txt 2>/tmp/servers.err ||
	echo "kecho-guest: no server registry: bench servers failed: $(cat /tmp/servers.err)" >&2
# port_of MODE: the mode's default port in the server registry (empty when bench could not say).
port_of() {
	awk -v mode="$1" '$1 == mode { print $3 }' /tmp/servers.txt
}

emit() {
	echo "$*"
	echo "$*" >"$OUT"
}
result() {
	name=$1 verdict=$2
	shift 2
	emit "KECHO-RESULT $name $verdict $*"
}
# check NAME COMMAND...: PASS when the command succeeds; detail = its last output line.
check() {
	name=$1
	shift
	if "$@" >/tmp/check.out 2>&1; then
		result "$name" PASS "$(tail -n1 /tmp/check.out)"
	else
		result "$name" FAIL "rc=$? $(tail -n3 /tmp/check.out | tr '\n' ' ')"
	fi
}
have() {
	[ -x "$K/$1" ] && return 0
	result "$2" FAIL "$1 is not in the build dir: build it (cmake --build <build> --target $1)"
	return 1
}
uptime_ms() {
	read -r up _ </proc/uptime
	echo "${up%.*}${up#*.}0"
}

# Starts a server in the background and waits (20 s at most) for its "echoing on" line.
start_server() {
	log=/tmp/$1.log
	shift
	"$@" >"$log" 2>&1 &
	pid=$!
	i=0
	while [ $i -lt 200 ]; do
		grep -q "echoing on" "$log" && { echo $pid; return 0; }
		kill -0 $pid 2>/dev/null || break
		sleep 0.1
		i=$((i + 1))
	done
	echo "kecho-guest: $* did not become ready: $(tail -n2 "$log" | tr '\n' ' ')" >&2
	kill $pid 2>/dev/null
	return 1
}
stop_server() {
	[ -n "$1" ] || return 0
	kill "$1" 2>/dev/null
	i=0
	while kill -0 "$1" 2>/dev/null && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
	kill -9 "$1" 2>/dev/null
	wait "$1" 2>/dev/null
}

# verify MODE PREFIX [bench args...]: one result per bench case plus one for the whole run.
verify() {
	mode=$1 prefix=$2
	shift 2
	have bench "$prefix" || return 1
	timeout "${VERIFY_TIMEOUT:-150}" "$K/bench" --mode "$mode" --workload verify "$@" \
		>/tmp/verify.out 2>/tmp/verify.err
	rc=$?
	cat /tmp/verify.out
	while read -r verdict case detail; do
		case $verdict in PASS | FAIL) result "$prefix/$case" "$verdict" "$detail" ;; esac
	done </tmp/verify.out
	summary=$(grep '^verify:' /tmp/verify.out | tail -n1)
	if [ $rc -eq 0 ] && [ -n "$summary" ]; then
		result "$prefix" PASS "$summary"
	else
		result "$prefix" FAIL "rc=$rc ${summary:-$(tail -n2 /tmp/verify.err | tr '\n' ' ')}"
	fi
}

# adversary NAME PORT [PID]: the adversarial suite (tcp-adversary; scripts/adversary.sh on the host)
# against one server: a result per case and one for the run. PID: the server, stopped while a case
# queues its segments before accept (kecho.ko has none: they race its accept). The peer's address
# is routed out of the loopback, never local, so the kernel drops the echo's packets to it.
adversary() {
	adv=$1 port=$2 pid=${3:-} # not "name": result() sets that
	have tcp-adversary "$adv-adversary" || return 1
	ip route show 192.0.2.2 | grep -q . || ip route add 192.0.2.2/32 dev lo
	timeout "${ADVERSARY_TIMEOUT:-400}" "$K/tcp-adversary" --port "$port" ${pid:+--pause-pid "$pid"} \
		--rounds "${ADVERSARY_ROUNDS:-4}" ${ADVERSARY_ARGS:-} >/tmp/adversary.out 2>/tmp/adversary.err
	rc=$?
	[ -z "${ADVERSARY_ARGS:-}" ] || sed "s/^/KECHO-ADVERSARY $adv /" /tmp/adversary.out /tmp/adversary.err
	while read -r verdict case detail; do
		case $verdict in PASS | FAIL) result "$adv-adversary/$case" "$verdict" "$detail" ;; esac
	done </tmp/adversary.out
	summary=$(tail -n1 /tmp/adversary.out)
	if [ $rc -eq 0 ]; then
		result "$adv-adversary" PASS "$summary"
	else
		result "$adv-adversary" FAIL "rc=$rc $summary $(tail -n1 /tmp/adversary.err)"
	fi
}

# Clears the kernel log for the next check, keeping what it held for kernel-log-clean.
dmesg_clear() {
	dmesg -c >>/tmp/dmesg.earlier
}
# The whole kernel log since boot.
dmesg_all() {
	cat /tmp/dmesg.earlier 2>/dev/null
	dmesg
}

param_is() {
	[ "$(cat "/sys/module/kecho/parameters/$1" 2>/dev/null)" = "$2" ] ||
		{ echo "parameter $1 is '$(cat "/sys/module/kecho/parameters/$1" 2>&1)', want '$2'"; return 1; }
}

# insmod that must fail with EINVAL and leave one clear pr_err.
bad_param() {
	name=$1 param=$2 want=$3
	dmesg_clear
	if insmod $K/kecho.ko "$param" >/tmp/insmod.out 2>&1; then
		rmmod kecho
		result "$name" FAIL "insmod kecho.ko $param succeeded"
		return
	fi
	# busybox insmod retries with init_module when finit_module fails: one line per attempt.
	line=$(dmesg | grep "kecho: $want" | head -n1)
	if [ -n "$line" ] && ! lsmod | grep -q '^kecho '; then
		result "$name" PASS "refused: $(tr '\n' ' ' </tmp/insmod.out)| $line"
	else
		result "$name" FAIL "no '$want' pr_err; dmesg: $(dmesg | tail -n2 | tr '\n' ' ')"
	fi
}

slab_objs() {
	awk '$1 == "kmalloc-8k" { print $2 }' /proc/slabinfo
}

holder_field() {
	sed -n "s/.* $1=\([0-9]*\).*/\1/p" /tmp/holder.out
}

SERVERS=
start_bpf() { start_server bpf $K/echo-loader attach --port "$(port_of bpf)"; }
start_all_servers() {
	USER_PID='' URING_PID='' BPF_PID=''
	if have user-echo-server "$1/user-echo-server"; then
		USER_PID=$(start_server user $K/user-echo-server --port "$(port_of user)") ||
			result "$1/user-echo-server" FAIL "not ready: $(tail -n1 /tmp/user.log)"
		[ -n "$UNSUPPORTED_URING" ] ||
			URING_PID=$(start_server uring $K/user-echo-server --engine uring --port "$(port_of uring)") ||
			result "$1/user-echo-server-uring" FAIL "not ready: $(tail -n1 /tmp/uring.log)"
	fi
	if [ -n "$UNSUPPORTED_BPF" ]; then
		:
	elif have echo-loader "$1/echo-loader"; then
		BPF_PID=$(start_bpf) || result "$1/echo-loader" FAIL "not ready: $(tail -n1 /tmp/bpf.log)"
	fi
	SERVERS="$USER_PID $URING_PID $BPF_PID"
}
stop_all_servers() {
	for p in $SERVERS; do stop_server "$p"; done
	SERVERS=
}

table() {
	have bench table || return 1
	emit "KECHO-TABLE-BEGIN measured under emulation ($ACCEL), $(nproc) vCPUs, kernel $(uname -r)"
	timeout "${TABLE_TIMEOUT:-150}" "$K/bench" --mode all --workload pingpong $TABLE_ARGS --json /tmp/table.json \
		>/tmp/table.out 2>&1
	rc=$?
	while IFS= read -r line; do emit "KECHO-TABLE $line"; done </tmp/table.out
	emit "KECHO-TABLE-END rc=$rc"
	# Each mode's ratio to user, as bench reports it (the kernel matrix reads these lines).
	"$K/bench" report /tmp/table.json --ratios 2>/dev/null | while read -r mode ratio; do
		emit "KECHO-RATIO $mode $ratio"
	done
	if [ $rc -eq 0 ]; then
		result bench-all-table PASS "measured under emulation ($ACCEL)"
	else
		result bench-all-table FAIL "rc=$rc $(tail -n2 /tmp/table.out | tr '\n' ' ')"
	fi
}

# Does the sk_msg meter count the redirected (echoed) bytes on this kernel? Over one run in which
# every byte is echoed, the loader's echoed counter (sk_msg) must grow as much as received (sk_skb).
loader_bytes() {
	"$K/echo-loader" stats --json >/tmp/stats.json 2>/tmp/stats.err || return 1
	rx=$(sed -n 's/^ *"received": *\([0-9]*\).*/\1/p' /tmp/stats.json | head -n1)
	tx=$(sed -n 's/^ *"echoed": *\([0-9]*\).*/\1/p' /tmp/stats.json | head -n1)
	[ -n "$rx" ] && [ -n "$tx" ] && echo "$rx $tx"
}
skmsg_meter() {
	have echo-loader skmsg-meter || return 1
	if ! before=$(loader_bytes); then
		result skmsg-meter FAIL "echo-loader stats --json: $(tail -n1 /tmp/stats.err) $(head -c 200 /tmp/stats.json)"
		return 1
	fi
	timeout 60 "$K/bench" --mode bpf --workload verify --case size-1MiB --case concurrent-200 \
		>/tmp/meter.out 2>&1
	rc=$?
	after=$(loader_bytes)
	emit "KECHO-STATS $(tr -d '\n ' </tmp/stats.json)"
	set -- $before $after
	rx=$(($3 - $1)) tx=$(($4 - $2))
	if [ $rc -ne 0 ]; then
		result skmsg-meter FAIL "bench verify (size-1MiB, concurrent-200) failed: $(tail -n1 /tmp/meter.out)"
	elif [ $rx -gt 0 ] && [ $tx -eq $rx ]; then
		result skmsg-meter PASS "sk_msg counts the redirected egress on $(uname -r): received $rx, echoed $tx bytes"
	else
		result skmsg-meter FAIL "sk_msg meter on $(uname -r): received $rx bytes but echoed counter grew by $tx"
	fi
}

# timed NAME FUNCTION...: runs a part of the plan and prints how long it took (KECHO-TIME).
timed() {
	# shellcheck disable=SC3043 # busybox ash has local; timed nests (servers, then netem)
	local part=$1 t0
	t0=$(uptime_ms)
	shift
	"$@"
	emit "KECHO-TIME $part $(($(uptime_ms) - t0)) ms"
}

# unsupported NAME... : a server this kernel cannot run, named with the reason, never skipped.
unsupported() {
	why=$1
	shift
	for n in "$@"; do result "$n" UNSUPPORTED "not supported on this kernel: $why"; done
}

# insmod with no parameters: loads, and the parameters read back as their defaults.
insmod_defaults() {
	dmesg_clear
	if insmod $K/kecho.ko >/tmp/insmod.out 2>&1 && param_is port "$(port_of kmod)" >>/tmp/insmod.out &&
		param_is backlog 128 >>/tmp/insmod.out && param_is bench N >>/tmp/insmod.out; then
		result insmod-defaults PASS "$(dmesg | grep 'kecho: echoing on')"
	else
		result insmod-defaults FAIL "$(tr '\n' ' ' </tmp/insmod.out) $(dmesg | tail -n2 | tr '\n' ' ')"
	fi
}

kmod_params_and_load() {
	# Bad parameters first: nothing loaded yet.
	bad_param insmod-rejects-port-0 port=0 "invalid port=0"
	bad_param insmod-rejects-backlog-0 backlog=0 "invalid backlog=0"

	insmod_defaults

	# More than 256 at once, each echoing while all are open; then their memory is gone.
	if have vm-conn-holder kmod-concurrent-1000; then
		before=$(slab_objs)
		check kmod-concurrent-1000 timeout 120 $K/vm-conn-holder --port "$(port_of kmod)" --connections 1000
		sleep 1
		after=$(slab_objs)
		if [ -n "$before" ] && [ -n "$after" ] && [ $((after - before)) -lt 100 ]; then
			result kmod-memory-freed PASS "kmalloc-8k objects $before before 1000 connections, $after after they closed"
		else
			result kmod-memory-freed FAIL "kmalloc-8k objects $before before 1000 connections, $after after they closed"
		fi
	else
		result kmod-memory-freed FAIL "vm-conn-holder is not in the build dir"
	fi

	verify kmod kmod-verify $KMOD_VERIFY_ARGS
	timed kmod-memory-pressure kmod_memory_pressure_check
	timed kmod-adversary adversary kmod "$(port_of kmod)"
	# The listener is dual-stack: IPv6 clients are echoed too.
	verify kmod kmod-ipv6-verify --host ::1 --case size-1MiB --case half-close-1000 --case concurrent-200
}

# The bpf echo's own checks: the pending-bytes guard resets a client that never reads, 1,000
# connections echo at once, and SIGKILL of echo-loader under load leaves nothing attached.
bpf_checks() {
	guard_before=$(loader_field guard_resets)
	timeout 60 "$K/bench" --mode bpf --workload verify --case non-reading-client >/tmp/guard.out 2>&1
	rc=$?
	guard_after=$(loader_field guard_resets)
	if [ $rc -eq 0 ] && grep -q 'reset the non-reading client' /tmp/guard.out &&
		[ -n "$guard_after" ] && [ "$guard_after" -gt "${guard_before:-0}" ]; then
		result bpf-pending-guard PASS "guard resets $guard_before -> $guard_after: $(grep '^PASS' /tmp/guard.out | head -n1)"
	else
		result bpf-pending-guard FAIL "rc=$rc guard resets $guard_before -> $guard_after: $(tail -n2 /tmp/guard.out | tr '\n' ' ')"
	fi
	have vm-conn-holder bpf-concurrent-1000 &&
		check bpf-concurrent-1000 timeout 120 $K/vm-conn-holder --port "$(port_of bpf)" --connections 1000

	# SIGKILL under load: the kernel must drop programs, maps and link with the fds; detach confirms.
	timeout 30 "$K/bench" --mode bpf --workload pingpong --connections 16 --duration 4 --warmup 0 \
		>/tmp/kill-load.out 2>&1 &
	load=$!
	sleep 1.5
	kill -9 "$BPF_PID"
	wait "$BPF_PID" 2>/dev/null
	wait "$load" 2>/dev/null
	i=0
	until "$K/echo-loader" detach >/tmp/detach.out 2>&1 || [ $i -ge 100 ]; do sleep 0.1; i=$((i + 1)); done
	if [ $i -lt 100 ]; then
		result bpf-sigkill-clean PASS "$(tail -n1 /tmp/detach.out)"
	else
		result bpf-sigkill-clean FAIL "after 10 s: $(tail -n1 /tmp/detach.out)"
	fi
	BPF_PID=$(start_bpf) || BPF_PID=''
	SERVERS="$USER_PID $URING_PID $BPF_PID"
	if [ -n "$BPF_PID" ]; then
		verify bpf bpf-reattach-verify --case size-1MiB --case concurrent-200
	else
		result bpf-reattach-verify FAIL "echo-loader did not start again: $(tail -n1 /tmp/bpf.log)"
	fi
}
loader_field() {
	"$K/echo-loader" stats --json 2>/dev/null | sed -n "s/^ *\"$1\": *\([0-9]*\).*/\1/p" | head -n1
}

# The adversarial suite against the user engines and bpf (splice started for it alone); which
# verdict the bpf echo took on this kernel (how it reads sequence numbers) is a result of its own.
servers_adversary() {
	[ -n "$USER_PID" ] && adversary user "$(port_of user)" "$USER_PID"
	[ -n "$URING_PID" ] && adversary uring "$(port_of uring)" "$URING_PID"
	if [ -n "$BPF_PID" ]; then
		read_with=$("$K/echo-loader" status | sed -n 's/.*sequence number, read with //p')
		result bpf-seq-read "$([ -n "$read_with" ] && echo PASS || echo FAIL)" \
			"the verdict reads each skb's sequence number with ${read_with:-nothing (status says no)}"
		adversary bpf "$(port_of bpf)" "$BPF_PID"
	fi
	have user-echo-server splice-adversary || return
	if SPLICE_PID=$(start_server splice $K/user-echo-server --engine splice --port "$(port_of splice)"); then
		adversary splice "$(port_of splice)" "$SPLICE_PID"
		stop_server "$SPLICE_PID"
	else
		result splice-adversary FAIL "user-echo-server --engine splice did not start: $(tail -n1 /tmp/splice.log)"
	fi
}

servers_checks() {
	start_all_servers servers
	[ -n "$USER_PID" ] && verify user user-verify $OTHER_VERIFY_ARGS
	if [ -n "$UNSUPPORTED_URING" ]; then
		unsupported "$UNSUPPORTED_URING" uring-verify
	elif [ -n "$URING_PID" ]; then
		verify uring uring-verify $OTHER_VERIFY_ARGS
	fi
	timed adversary servers_adversary
	if [ -n "$UNSUPPORTED_BPF" ]; then
		unsupported "$UNSUPPORTED_BPF" bpf-verify skmsg-meter bpf-pending-guard bpf-concurrent-1000 bpf-sigkill-clean
	elif [ -n "$BPF_PID" ]; then
		verify bpf bpf-verify $OTHER_VERIFY_ARGS && skmsg_meter
		bpf_checks
	else
		result skmsg-meter FAIL "echo-loader did not run"
	fi
	table
	[ "$NETEM" = 1 ] && timed netem netem_checks
	stop_all_servers
}

# Server-side connections on a port the server still holds (established, or closed by the peer
# and not by the server) after a bounded wait: their count, the sockets (state, queues) in
# /tmp/left.txt. Those the server closed and its kernel is still closing (LAST_ACK, FIN_WAIT...:
# a FIN awaiting its acknowledgement) go to /tmp/closing.txt.
open_connections() {
	i=0
	while [ $i -lt 150 ]; do
		netstat -tn 2>/dev/null | awk -v p=":$1\$" '$4 ~ p && $6 != "TIME_WAIT" && $6 != "LISTEN"' >/tmp/port.txt
		grep -E 'ESTABLISHED|CLOSE_WAIT|SYN_RECV' /tmp/port.txt >/tmp/left.txt
		grep -vE 'ESTABLISHED|CLOSE_WAIT|SYN_RECV' /tmp/port.txt >/tmp/closing.txt
		[ -s /tmp/port.txt ] || break
		sleep 0.2
		i=$((i + 1))
	done
	wc -l </tmp/left.txt
}

# The loopback delays (10 ms, 5 ms jitter), reorders and duplicates packets from now on (netem;
# loss is the host's fault test, tests/faults); false, with a FAIL line, if it cannot.
netem_on() {
	if ! insmod $K/sch_netem.ko 2>/tmp/netem.err && ! grep -q '^sch_netem ' /proc/modules; then
		result netem-setup FAIL "insmod sch_netem.ko: $(cat /tmp/netem.err)"
		return 1
	fi
	# netem drops what exceeds its queue limit (1,000 packets by default): a limit that never binds
	# keeps these faults free of loss, and netem-no-loss shows the qdisc's drops.
	if ! $K/tc qdisc add dev lo root netem limit 1000000 delay 10ms 5ms reorder 25% 50% duplicate 2% 2>/tmp/netem.err; then
		result netem-setup FAIL "tc qdisc add dev lo root netem: $(cat /tmp/netem.err)"
		return 1
	fi
	result netem-setup PASS "$($K/tc qdisc show dev lo | head -n1)"
}

netem_off() {
	drops=$($K/tc -s qdisc show dev lo | sed -n 's/.*(dropped \([0-9]*\),.*/\1/p' | head -n1)
	result netem-no-loss "$([ "${drops:-x}" = 0 ] && echo PASS || echo FAIL)" \
		"netem dropped ${drops:-an unknown number of} packets: the faults here are delay, reordering and duplication"
	$K/tc qdisc del dev lo root
}

# Every server again under netem: byte-exact echo, no connection left open, every bpf drain completed.
netem_checks() {
	netem_on || return
	drain_before=$(loader_field drain_timeouts)
	for mode in kmod user uring bpf; do
		port=$(port_of "$mode")
		case $mode in uring) [ -n "$UNSUPPORTED_URING" ] && continue ;; bpf) [ -n "$UNSUPPORTED_BPF" ] && continue ;; esac
		VERIFY_TIMEOUT=120 verify "$mode" "netem-$mode-verify" $NETEM_VERIFY_CASES
		n=$(open_connections "$port")
		result "netem-$mode-no-leftover" "$([ "$n" = 0 ] && echo PASS || echo FAIL)" \
			"$n connections left open by the server on port $port 30 s after the cases at most$(head -n3 /tmp/left.txt | tr -s ' \n' ' ' | sed 's/^./: &/')$([ -s /tmp/closing.txt ] && echo "; closed by the server, still closing: $(head -n3 /tmp/closing.txt | tr -s ' \n' ' ')")"
	done
	if [ -z "$UNSUPPORTED_BPF" ]; then
		drain_after=$(loader_field drain_timeouts)
		result netem-bpf-drains "$([ -n "$drain_after" ] && [ "$drain_after" = "${drain_before:-x}" ] && echo PASS || echo FAIL)" \
			"echo-loader drain timeouts $drain_before -> $drain_after under netem"
	fi
	netem_off
}
NETEM_VERIFY_CASES="--case size-1MiB --case back-to-back-1000 --case half-close-1000 --case concurrent-200"

kmod_unload_checks() {
	# rmmod while 1000 connections are open: returns within a second, closes all of them.
	if have vm-conn-holder rmmod-under-load; then
		timeout 120 $K/vm-conn-holder --port "$(port_of kmod)" --connections 1000 -- rmmod kecho \
			>/tmp/holder.out 2>&1
		rc=$?
		cat /tmp/holder.out
		ms=$(holder_field cmd_ms) closed=$(holder_field closed) cmd_rc=$(holder_field cmd_rc)
		limit=${RMMOD_LIMIT_MS:-1000}
		if [ $rc -eq 0 ] && [ "$cmd_rc" = 0 ] && [ -n "$ms" ] && [ "$ms" -lt "$limit" ] &&
			[ "$closed" = 1000 ]; then
			result rmmod-under-load PASS "rmmod returned in ${ms} ms (limit $limit ms), $closed/1000 connections closed: $(dmesg | grep 'kecho: stopped' | tail -n1)"
		else
			result rmmod-under-load FAIL "rc=$rc limit $limit ms: $(tail -n2 /tmp/holder.out | tr '\n' ' ') $(dmesg | grep 'kecho: stopped' | tail -n1)"
		fi
	fi
	lsmod | grep -q '^kecho ' && rmmod kecho
	# Thousands of connections and messages since insmod-defaults: the log has two lines of ours.
	lines=$(dmesg | grep -c 'kecho:')
	if [ "$lines" -le 2 ]; then
		result kmod-no-printk-per-message PASS "$lines kecho lines in dmesg from insmod to rmmod"
	else
		result kmod-no-printk-per-message FAIL "$lines kecho lines: $(dmesg | grep 'kecho:' | head -n3 | tr '\n' ' ')"
	fi

	# Custom parameters, bound per-CPU workqueue. The backlog must absorb verify's burst of 1000
	# half-closing clients: with backlog=16 SYN cookies kick in and TCP resets some of them.
	dmesg_clear
	if insmod $K/kecho.ko port=23456 backlog=512 bench=1 >/tmp/insmod.out 2>&1 &&
		param_is port 23456 >>/tmp/insmod.out && param_is backlog 512 >>/tmp/insmod.out &&
		param_is bench Y >>/tmp/insmod.out; then
		result insmod-custom PASS "$(dmesg | grep 'kecho: echoing on')"
		have vm-conn-holder kmod-custom-concurrent-300 &&
			check kmod-custom-concurrent-300 timeout 60 $K/vm-conn-holder --port 23456 --connections 300
		verify kmod kmod-custom-verify --port 23456 --quick
		check rmmod-custom rmmod kecho
	else
		result insmod-custom FAIL "$(tr '\n' ' ' </tmp/insmod.out) $(dmesg | tail -n2 | tr '\n' ' ')"
	fi
}

kernel_log_clean() {
	# Nothing of ours may have warned, oopsed or hit a BUG.
	bad=$(dmesg_all | grep -E 'WARNING|BUG|Oops|Call Trace|general protection|refcount_t|TCP: out of memory|too many orphaned' | head -n3)
	if [ -z "$bad" ]; then
		result kernel-log-clean PASS "no WARNING/BUG/Oops/Call Trace in dmesg"
	else
		result kernel-log-clean FAIL "$(echo "$bad" | tr '\n' ' ')"
	fi
}

plan_test() {
	timed kmod-load kmod_params_and_load
	if [ "$SCOPE" = module ]; then
		emit "KECHO-SCOPE module: kecho.ko's checks only on this kernel; bpf, user and uring run on the other kernels (docs/kernels.md)"
	else
		timed servers servers_checks
	fi
	timed kmod-unload kmod_unload_checks
	kernel_log_clean
}

# The unload path alone, three times: a quick loop while working on kecho_exit().
plan_rmmod() {
	for round in 1 2 3; do
		insmod $K/kecho.ko || { result "rmmod-round-$round" FAIL "insmod failed"; continue; }
		timeout 120 $K/vm-conn-holder --port "$(port_of kmod)" --connections 1000 -- rmmod kecho >/tmp/holder.out 2>&1
		rc=$?
		result "rmmod-round-$round" "$([ $rc -eq 0 ] && echo PASS || echo FAIL)" \
			"$(cat /tmp/holder.out) $(dmesg | grep 'kecho: stopped' | tail -n1)"
	done
}

plan_compare() {
	dmesg_clear
	insmod $K/kecho.ko || result insmod-defaults FAIL "$(dmesg | tail -n1)"
	start_all_servers servers
	table
	stop_all_servers
}

plan_adversary() {
	insmod $K/kecho.ko || result insmod-defaults FAIL "$(dmesg | tail -n1)"
	adversary kmod "$(port_of kmod)"
	start_all_servers servers
	servers_adversary
	stop_all_servers
}

# The io_uring server alone, verified (a quick loop while working on the engine on this kernel).
plan_uring() {
	have user-echo-server uring-verify || return
	if [ -n "$UNSUPPORTED_URING" ]; then
		unsupported "$UNSUPPORTED_URING" uring-verify
	elif URING_PID=$(start_server uring $K/user-echo-server --engine uring --port "$(port_of uring)" \
		${URING_SERVER_ARGS:-}); then
		verify uring uring-verify ${URING_VERIFY_ARGS:-}
		stop_server "$URING_PID"
	else
		result uring-verify FAIL "user-echo-server --engine uring did not start: $(tail -n1 /tmp/uring.log)"
	fi
	tail -n 200 /tmp/uring.log | sed 's/^/KECHO-SERVER-LOG /'
}

# The TCP counters (TcpExt and Tcp of /proc/net/netstat and snmp) as "name value" lines.
tcp_counters() {
	cat /proc/net/netstat /proc/net/snmp | awk '
		$1 == "TcpExt:" || $1 == "Tcp:" {
			if (!($1 in names)) { names[$1] = $0; next }
			n = split(names[$1], k); split($0, v)
			for (i = 2; i <= n; i++) print k[i], v[i]
		}'
}

# What a stalled kmod verify is waiting on, as KECHO-STALL lines: the TCP sockets (both ends: the
# server's are v4-mapped in tcp6), the counters that moved since the run began, the stacks of the
# tasks in kecho or TCP code, and the busy workqueues (sysrq t's tail: kecho's pending work items).
kmod_stall_dump() {
	tag=$1
	emit "KECHO-STALL $tag /proc/net/tcp and tcp6 (neither listening nor TIME_WAIT):"
	cat /proc/net/tcp /proc/net/tcp6 | awk '$4 != "0A" && $4 != "06" && $4 != "st"' | sed "s/^ */KECHO-STALL $tag tcp /" |
		tee "$OUT"
	tcp_counters >/tmp/counters.now
	awk 'NR == FNR { before[$1] = $2; next } $2 != before[$1] { print $1, $2 - before[$1] }' \
		/tmp/counters.start /tmp/counters.now | sed "s/^/KECHO-STALL $tag counter-delta /" | tee "$OUT"
	for st in /proc/[0-9]*/stack; do
		grep -qE 'kecho|tcp_|inet_|sk_stream|ep_poll' "$st" 2>/dev/null || continue
		d=${st%/stack}
		emit "KECHO-STALL $tag task ${d#/proc/} $(cat "$d/comm") state $(awk '/^State/ { print $2 }' "$d/status")"
		sed "s/^/KECHO-STALL $tag stack /" "$st" | tee "$OUT"
	done
	if [ -w /proc/sysrq-trigger ]; then
		dmesg -c >>/tmp/dmesg.earlier
		echo t >/proc/sysrq-trigger
		dmesg | sed -n '/Showing busy workqueues/,$p' | sed "s/^/KECHO-STALL $tag wq /" | tee "$OUT"
		dmesg -c >>/tmp/dmesg.stall
	fi
}

# One run of kecho.ko's verify (run I of the loop): true iff it passed and, under netem, the server's
# port emptied within 30 s; a run still going after STALL_AFTER_S seconds dumps the state.
kmod_verify_once() {
	tcp_counters >/tmp/counters.start
	began=$(uptime_ms)
	timeout "${VERIFY_TIMEOUT:-150}" "$K/bench" --mode kmod --workload verify $kmod_loop_cases \
		>/tmp/verify.out 2>/tmp/verify.err &
	pid=$! waited=0
	while kill -0 $pid 2>/dev/null; do
		sleep 1
		waited=$((waited + 1))
		case $waited in "$stall_s" | $((stall_s * 3))) kmod_stall_dump "run-$1-at-${waited}s" ;; esac
	done
	wait $pid
	rc=$?
	took=$(($(uptime_ms) - began))
	# The TCP events of this run that bear on a stall (memory pressure, timeouts, drops).
	tcp_counters >/tmp/counters.now
	moved=$(awk 'NR == FNR { before[$1] = $2; next }
		$1 ~ /^(TCPMemoryPressures|TCPAbortOnMemory|TCPAbortOnTimeout|TCPTimeouts|TCPRcvQDrop|TCPWinProbe|RetransSegs)$/ &&
		$2 != before[$1] { printf " %s=%d", $1, $2 - before[$1] }' /tmp/counters.start /tmp/counters.now)
	while read -r verdict case detail; do
		case $verdict in FAIL) emit "KECHO-VERIFY run-$1 $verdict $case $detail" ;; esac
	done </tmp/verify.out
	summary=$(grep '^verify:' /tmp/verify.out | tail -n1)
	if [ $rc -ne 0 ] || [ -z "$summary" ]; then
		emit "KECHO-VERIFY run-$1 FAIL rc=$rc in $took ms;$moved: ${summary:-$(tail -n2 /tmp/verify.err | tr '\n' ' ')}"
		return 1
	fi
	if [ "${VERIFY_NETEM:-0}" = 1 ]; then
		open_connections "$(port_of kmod)" >/dev/null
		if [ -s /tmp/port.txt ]; then
			emit "KECHO-VERIFY run-$1 FAIL in $took ms;$moved: connections on the port 30 s after: $(head -n3 /tmp/port.txt | tr -s ' \n' ' ')"
			echo "FAIL leftover $(head -n1 /tmp/port.txt | tr -s ' ')" >>/tmp/verify.out
			return 1
		fi
	fi
	emit "KECHO-VERIFY run-$1 PASS in $took ms;$moved"
}

# kmod_verify_once N times ($kmod_loop_cases, $stall_s), stopping at the first failure: failed is
# its number (0: none), pressured the number of runs in which TCP entered memory pressure.
kmod_verify_loop() {
	# run, not i: open_connections counts with i.
	run=1 failed=0 pressured=0
	while [ $run -le "$1" ]; do
		kmod_verify_once $run || { failed=$run && break; }
		case $moved in *TCPMemoryPressures=*) pressured=$((pressured + 1)) ;; esac
		run=$((run + 1))
	done
}

# net.ipv4.tcp_mem (pages) set to $1 until tcp_mem_restore; a low pressure threshold keeps TCP under
# memory pressure.
tcp_mem_set() {
	tcp_mem_was=$(tr '\t' ' ' </proc/sys/net/ipv4/tcp_mem)
	echo "$1" >/proc/sys/net/ipv4/tcp_mem
}
tcp_mem_restore() {
	echo "$tcp_mem_was" >/proc/sys/net/ipv4/tcp_mem
}

# mixed-64 again with TCP under memory pressure (a low tcp_mem), where 6.1 lost the FIN of a
# connection kecho.ko had closed with its echo in flight (docs/kernels.md; 2 stalls in 6 runs then).
kmod_memory_pressure_check() {
	tcp_mem_set "1000 1500 100000"
	kmod_loop_cases="--case mixed-64" stall_s=20
	kmod_verify_loop 5
	tcp_mem_restore
	if [ $failed = 0 ]; then
		result kmod-memory-pressure PASS "mixed-64 5 of 5 runs with tcp_mem 1000 1500 100000 pages, $pressured of them under TCP memory pressure"
	else
		result kmod-memory-pressure FAIL "run $failed of 5 with tcp_mem 1000 1500 100000 pages: $(grep '^FAIL' /tmp/verify.out | head -n1 | cut -c1-300)"
		kmod_stall_dump "pressure-run-$failed-after"
	fi
}

# kecho.ko's verify alone, looped to catch a rare failure (a stall first shows as a run still going
# after STALL_AFTER_S seconds: the state is dumped then, while the connections still hang). With
# VERIFY_NETEM=1 under netem (default cases: the netem checks'), and a connection of the server's
# still there 30 s after a run fails it.
plan_kmod_verify() {
	have bench kmod-verify || return
	insmod_defaults
	tcp_mem_set "${VERIFY_TCP_MEM:-$(tr '\t' ' ' </proc/sys/net/ipv4/tcp_mem)}"
	[ -n "${VERIFY_TCP_MEM:-}" ] && emit "KECHO-VERIFY tcp_mem $tcp_mem_was -> $VERIFY_TCP_MEM (pages)"
	kmod_loop_cases=${KMOD_LOOP_VERIFY_ARGS:---case mixed-64}
	if [ "${VERIFY_NETEM:-0}" = 1 ]; then
		netem_on || return
		kmod_loop_cases=${KMOD_LOOP_VERIFY_ARGS:-$NETEM_VERIFY_CASES}
	fi
	loops=${VERIFY_LOOPS:-1} stall_s=${STALL_AFTER_S:-20}
	kmod_verify_loop "$loops"
	if [ $failed = 0 ]; then
		result kmod-verify PASS "$loops of $loops runs passed ($kmod_loop_cases)"
	else
		result kmod-verify FAIL "run $failed of $loops failed: $(grep '^FAIL' /tmp/verify.out | head -n1 | cut -c1-300)"
		kmod_stall_dump "run-$failed-after"
	fi
	if [ "${VERIFY_NETEM:-0}" = 1 ]; then netem_off; fi
	tcp_mem_restore
	check rmmod rmmod kecho
	dmesg_all | grep -iE 'kecho|warn|bug|hung|stall|rcu' | tail -n 40 | sed 's/^/KECHO-STALL dmesg /' | tee "$OUT"
}

# A module built elsewhere (the DKMS test): it loads, echoes every byte, unloads, logs nothing bad.
plan_dkms() {
	insmod_defaults
	verify kmod kmod-verify --quick
	check rmmod rmmod kecho
	kernel_log_clean
}

# The portable bundle's own compare script (packaging/bundle/compare, as users run it on their
# hosts), unpacked into /kecho/bundle, with this guest's kecho.ko: every server it starts is
# verified byte for byte and compared in one table.
plan_bundle() {
	b=$K/bundle
	[ -f $b/compare ] || { result bundle-compare FAIL "no bundle in /kecho/bundle (KECHO_VM_BUNDLE)"; return; }
	dmesg_clear
	KECHO_KO=$K/kecho.ko timeout "${TABLE_TIMEOUT:-150}" sh $b/compare --quick $TABLE_ARGS \
		>/tmp/bundle.out 2>&1
	rc=$?
	emit "KECHO-TABLE-BEGIN the bundle's compare, under emulation ($ACCEL), $(nproc) vCPUs, kernel $(uname -r)"
	while IFS= read -r line; do emit "KECHO-TABLE $line"; done </tmp/bundle.out
	emit "KECHO-TABLE-END rc=$rc"
	for mode in kmod user uring bpf; do
		line=$(grep "^compare: $mode: verify" /tmp/bundle.out | tail -n1)
		case $line in
		*"verify FAILED"* | "") result "bundle-$mode-verify" FAIL "${line:-compare did not verify $mode}" ;;
		*) result "bundle-$mode-verify" PASS "${line#compare: }" ;;
		esac
	done
	summary=$(grep '^KECHO-COMPARE-VERIFY' /tmp/bundle.out)
	# The table: its header, then one row per mode.
	rows=0
	for mode in user uring bpf kmod; do grep -q "^$mode  *[0-9]" /tmp/bundle.out && rows=$((rows + 1)); done
	if [ $rc -eq 0 ] && [ "$summary" = "KECHO-COMPARE-VERIFY modes=user,uring,bpf,kmod failed=0" ] &&
		grep -q '^mode .*req/s' /tmp/bundle.out && [ $rows = 4 ]; then
		result bundle-compare PASS "$summary, table printed with a row for each"
	else
		result bundle-compare FAIL "rc=$rc ${summary:-no KECHO-COMPARE-VERIFY line}, $rows of 4 table rows: $(tail -n2 /tmp/bundle.out | tr '\n' ' ')"
	fi
	if lsmod | grep -q '^kecho '; then
		result bundle-kmod-unloaded FAIL "compare left kecho loaded"
		rmmod kecho
	else
		result bundle-kmod-unloaded PASS "kecho is not loaded after compare: $(dmesg | grep 'kecho: stopped' | tail -n1)"
	fi
	kernel_log_clean
}

emit "KECHO-PLAN-BEGIN $PLAN kernel=$(uname -r) accel=$ACCEL cpus=$(nproc) binaries=$(tr '\n' ' ' <$K/included)"
emit "KECHO-KERNEL $(cat /proc/version)"
start=$(uptime_ms)
case $PLAN in
test) plan_test ;;
compare) plan_compare ;;
rmmod) plan_rmmod ;;
dkms) plan_dkms ;;
adversary) plan_adversary ;;
uring) plan_uring ;;
kmod-verify) plan_kmod_verify ;;
bundle) plan_bundle ;;
probe) ;;
*) result plan FAIL "unknown plan '$PLAN'" ;;
esac
emit "KECHO-PLAN-END $PLAN took $(($(uptime_ms) - start)) ms, guest uptime $(cut -d' ' -f1 /proc/uptime) s"
echo "---- guest dmesg ----"
dmesg | tail -n 60
