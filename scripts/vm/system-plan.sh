#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
# The plan of the Debian 12 system guest (scripts/vm/run-system.sh), run by its systemd from the
# disk labelled kecho-run: what a user does with our packages on a clean Debian 12, checked the way
# the user would check it. apt installs kecho-bpf (its dependencies already downloaded into apt's
# cache: the guest has no network); systemd starts, restarts, kills and stops kecho-echo-loader and
# kecho-user-echo-server@uring; after each, bpftool (brought along on the run disk, not installed)
# must find no program, map or link of ours but the running instance's, and /sys/fs/cgroup no
# cgroup of ours but its. apt remove must leave nothing running or attached. With DKMS=1 also
# kecho-dkms: apt builds kecho.ko for the running kernel, modprobe kecho serves, and after
# modprobe -r and apt remove nothing of it is left.
# Every check prints "KECHO-RESULT <name> PASS|FAIL <detail>" on the console and on ttyS1.
set -u
RUN=/run/kecho-run
# shellcheck source=/dev/null # written by run-system.sh, only in the guest
. "$RUN/plan.env"
OUT=/dev/ttyS1
export DEBIAN_FRONTEND=noninteractive
LOADER=kecho-echo-loader.service URING=kecho-user-echo-server@uring.service
LOADER_CGROUP=/sys/fs/cgroup/system.slice/kecho-echo-loader.service
URING_CGROUP='/system.slice/system-kecho\x2duser\x2decho\x2dserver.slice/kecho-user-echo-server@uring.service'

emit() {
	echo "$*"
	echo "$*" >"$OUT"
}
result() {
	local name=$1 verdict=$2
	shift 2
	emit "KECHO-RESULT $name $verdict $*"
}
# check NAME COMMAND...: runs COMMAND in a subshell (fail ends it); PASS when it succeeds (detail:
# its last line), FAIL with its last lines; either with the seconds it took.
check() {
	local name=$1 start=$SECONDS
	shift
	if ("$@") >/tmp/check.out 2>&1; then
		result "$name" PASS "$(tail -n1 /tmp/check.out) [$((SECONDS - start)) s]"
	else
		result "$name" FAIL "$(tail -n4 /tmp/check.out | tr '\n' ' ') [$((SECONDS - start)) s]"
	fi
}
# Ends the check with a reason.
fail() {
	echo "$*" >&2
	exit 1
}
# until_true SECONDS COMMAND...: polls COMMAND every 0.2 s until it succeeds; 1 after SECONDS.
until_true() {
	local deadline=$((SECONDS + $1))
	shift
	until "$@"; do
		[ $SECONDS -lt $deadline ] || return 1
		sleep 0.2
	done
}

bpftool() { "$RUN/tools/lib/ld-linux-x86-64.so.2" --library-path "$RUN/tools/lib" "$RUN/tools/bpftool" "$@"; }
main_pid() { systemctl show -p MainPID --value "$1"; }
active() { [ "$(systemctl is-active "$1")" = active ]; }
# ready UNIT PID: the unit's journal has PID's "echoing on" line (journalctl -u as a user reads it).
ready() { journalctl -q -u "$1" "_PID=$2" -o cat | grep -q 'echoing on'; }

# Our BPF objects in the whole kernel, one "prog:ID", "map:ID" or "link:ID" a line: programs and
# maps named echo_* (systemd's own are sd_*), and sockops links (only the loader attaches sockops).
kernel_objects() {
	{
		bpftool prog show | sed -n 's/^\([0-9]*\): .* name echo_.*/prog:\1/p'
		bpftool map show | sed -n 's/^\([0-9]*\): .* name echo_.*/map:\1/p'
		bpftool link show | awk '/^[0-9]+:/ { id = $1 + 0 } /attach_type (cgroup_)?sock_ops/ { print "link:" id }'
	} | sort -u
}
# The running loader's objects, in the same form: the programs and link `kecho-echo-loader status`
# names (a program only if the kernel has it), the maps it names and every map those programs use.
status_objects() {
	local programs ids
	kecho-echo-loader status >/tmp/status.out 2>&1 || return 1
	programs=$(sed -n 's/^  programs  //p' /tmp/status.out)
	ids=" $(echo "$programs" | grep -o 'id [0-9]*' | cut -d' ' -f2 | tr '\n' ' ')"
	{
		bpftool prog show | awk -v ids="$ids" '/^[0-9]+:/ { p = $1 + 0; mine = index(ids, " " p " ") > 0; if (mine) print "prog:" p }
			mine && /map_ids/ { sub(/.*map_ids /, ""); n = split($1, m, ","); for (i = 1; i <= n; i++) print "map:" m[i] }'
		echo "$programs" | grep -o 'link [0-9]*' | sed 's/link /link:/'
		sed -n 's/^  maps      //p' /tmp/status.out | grep -o 'id [0-9]*' | sed 's/id /map:/'
	} | sort -u
}

# Every cgroup of ours: the loader's, our units', the slice systemd makes for the template's instances.
our_cgroups() {
	find /sys/fs/cgroup -type d \( -name kecho-bpf -o -name kecho-echo-loader.service \
		-o -name 'kecho-user-echo-server@*.service' -o -name 'system-kecho\\x2duser\\x2decho\\x2dserver.slice' \) | sort
}
nothing_of_ours() { [ -z "$(kernel_objects)" ] && [ -z "$(our_cgroups)" ]; }

# unit_up UNIT [OLD_PID]: the unit is active with a main process (other than OLD_PID) whose
# "echoing on" is in the unit's journal, within 60 s; sets pid.
unit_ready_now() { active "$1" && pid=$(main_pid "$1") && [ "$pid" != 0 ] && [ "$pid" != "${2:-}" ] && ready "$1" "$pid"; }
unit_up() {
	pid=0
	until_true 60 unit_ready_now "$@" ||
		fail "$1 is $(systemctl is-active "$1") (main pid $pid): no new 'echoing on' in journalctl -u $1 within 60 s"
}
# The one loader instance, pid $1: in its own cgroup inside the unit's, alone there; no other
# cgroup of ours; in the kernel exactly the objects its status names.
loader_alone() {
	local want="0::/system.slice/kecho-echo-loader.service/kecho-bpf" objects
	grep -qx "$want" "/proc/$1/cgroup" || fail "pid $1 is in $(cat "/proc/$1/cgroup"), not $want"
	[ "$(cat "$LOADER_CGROUP/kecho-bpf/cgroup.procs")" = "$1" ] || fail "$LOADER_CGROUP/kecho-bpf holds other processes"
	[ "$(our_cgroups | tr '\n' ' ')" = "$LOADER_CGROUP $LOADER_CGROUP/kecho-bpf " ] ||
		fail "cgroups of ours: $(our_cgroups | tr '\n' ' ')"
	objects=$(status_objects) || fail "kecho-echo-loader status: $(cat /tmp/status.out)"
	until_true 5 objects_match ||
		fail "the kernel holds $(kernel_objects | tr '\n' ' '), the running loader $(echo "$objects" | tr '\n' ' ')"
	echo "pid $1 alone in $LOADER_CGROUP/kecho-bpf with its $(echo "$objects" | wc -l) BPF objects"
}
objects_match() { [ "$(kernel_objects)" = "$objects" ]; }
# Nothing of the loader's: unit inactive, no process, no BPF object, no cgroup of ours.
loader_gone() {
	[ "$(systemctl is-active $LOADER)" = inactive ] || fail "$LOADER is $(systemctl is-active $LOADER)"
	! pidof kecho-echo-loader >/dev/null || fail "kecho-echo-loader still runs: pid $(pidof kecho-echo-loader)"
	until_true 5 nothing_of_ours ||
		fail "left behind: $(kernel_objects | tr '\n' ' ') $(our_cgroups | tr '\n' ' ')"
	echo "inactive: no loader process, no BPF program, map or link of ours, no cgroup of ours"
}
# A start that works: a few cases of the battery, every byte checked.
echoes() {
	timeout 120 kecho-bench verify --mode "$1" --case size-64KiB --case back-to-back-1000 >/tmp/echo.out 2>&1 ||
		{ tail -n 3 /tmp/echo.out; fail "kecho-bench verify --mode $1 failed"; }
}
# The whole battery: --quick's shorter bounds are for real machines; under TCG on a loaded host its
# non-reading-client case once timed out on uring (278 KB of 18 MB back in its 15 s: the queue
# growth past --max-buffer that 6.1's multishot recv hit, docs/kernels.md).
# A failure ends with the failed cases' own lines, the last lines check() shows.
verify_all() {
	timeout 300 kecho-bench verify --mode "$1" >/tmp/verify.out 2>&1 && { tail -n1 /tmp/verify.out; return; }
	grep -E '^(FAIL|bench:)' /tmp/verify.out
	fail "kecho-bench verify --mode $1 failed"
}

# --- the steps, in the order a user takes them -------------------------------------------------
booted() {
	[ "$(cat /proc/1/comm)" = systemd ] || fail "PID 1 is $(cat /proc/1/comm), not systemd"
	[ "$(stat -fc %T /sys/fs/cgroup)" = cgroup2fs ] || fail "/sys/fs/cgroup is not the unified cgroup v2 hierarchy"
	state=$(timeout 120 systemctl is-system-running --wait)
	[ "$state" = running ] || fail "system state '$state': $(systemctl --failed --no-legend | tr '\n' ' ')"
	echo "systemd $(systemctl --version | sed -n '1s/^systemd \([^ ]*\).*/\1/p') is PID 1, system running," \
		"unified cgroup v2, Debian $(cat /etc/debian_version), kernel $(uname -r)"
}
# apt_install DIR APT_ARGS...: apt install of local .debs, their dependencies in apt's cache (the
# run disk's DIR, downloaded beforehand: the guest has no network).
apt_install() {
	cp "$RUN/$1"/*.deb /var/cache/apt/archives/ || fail "no downloaded packages in $RUN/$1"
	shift
	timeout 900 apt install -y "$@" >/tmp/apt.out 2>&1 || { tail -n 5 /tmp/apt.out; fail "apt install $* failed"; }
	echo "apt installed $(sed -n '/^The following NEW packages/,/^[0-9]* upgraded/{/^  /p}' /tmp/apt.out | tr -s ' \n' ' ')"
}
apt_remove_package() {
	timeout 300 apt remove -y "$1" >/tmp/apt.out 2>&1 || { tail -n 5 /tmp/apt.out; fail "apt remove $1 failed"; }
}
programs_run() {
	local p
	for p in bench echo-loader user-echo-server; do
		"kecho-$p" --version >/tmp/version.out 2>&1 || fail "kecho-$p --version: $(cat /tmp/version.out)"
	done
	echo "each program runs on what apt installed: $(cat /tmp/version.out)"
}
loader_start() {
	timeout 120 systemctl start $LOADER || fail "systemctl start $LOADER failed"
	unit_up $LOADER
	loader_alone "$pid"
}
status_and_stats() {
	kecho-echo-loader status >/tmp/status.out 2>&1 || fail "status: $(cat /tmp/status.out)"
	grep -q "is running: pid $(main_pid $LOADER)," /tmp/status.out || fail "status: $(head -n1 /tmp/status.out)"
	kecho-echo-loader stats >/tmp/stats.out 2>&1 || fail "stats: $(cat /tmp/stats.out)"
	accepted=$(sed -n 's/.* accepted \([0-9]*\),.*/\1/p' /tmp/stats.out)
	[ "${accepted:-0}" -gt 0 ] || fail "stats counted no accepted connection after verify: $(cat /tmp/stats.out)"
	echo "$(head -n1 /tmp/status.out); stats: $accepted connections accepted"
}
journal_line() {
	journalctl -q -u "$1" "_PID=$(main_pid "$1")" -o cat | grep -m1 'echoing on' || fail "no 'echoing on' in journalctl -u $1"
}
# comes_back UNIT MODE ACTION...: after `systemctl ACTION UNIT` (restart, or kill -s KILL and
# systemd's Restart=on-failure) the unit serves from a new main process, the old one is gone, and
# bench's MODE echoes; for bpf the new loader is alone in its cgroup with only its own BPF objects.
gone() { ! kill -0 "$1" 2>/dev/null; }
comes_back() {
	local unit=$1 mode=$2 old
	shift 2
	old=$(main_pid "$unit")
	timeout 120 systemctl "$@" "$unit" || fail "systemctl $* $unit failed"
	unit_up "$unit" "$old"
	until_true 10 gone "$old" || fail "the old main process $old still runs"
	[ "$mode" = uring ] || loader_alone "$pid" >/dev/null
	echoes "$mode"
	echo "systemctl $* $unit: pid $old gone; pid $pid serves$([ "$mode" = bpf ] && echo ", alone in its cgroup with only its own BPF objects")"
}
loader_stop() { timeout 150 systemctl stop $LOADER || fail "systemctl stop $LOADER failed"; loader_gone; }

uring_cgroup_gone() { [ ! -d "/sys/fs/cgroup$URING_CGROUP" ]; }
uring_start() {
	timeout 120 systemctl start $URING || fail "systemctl start $URING failed"
	unit_up $URING
	grep -qxF "0::$URING_CGROUP" "/proc/$pid/cgroup" || fail "pid $pid is in $(cat "/proc/$pid/cgroup")"
	echo "pid $pid in $URING_CGROUP"
}
uring_stop() {
	timeout 150 systemctl stop $URING || fail "systemctl stop $URING failed"
	[ "$(systemctl is-active $URING)" = inactive ] || fail "$URING is $(systemctl is-active $URING)"
	! pidof kecho-user-echo-server >/dev/null || fail "kecho-user-echo-server still runs"
	until_true 5 uring_cgroup_gone || fail "/sys/fs/cgroup$URING_CGROUP remains"
	echo "inactive: no process, its cgroup removed"
}

# kecho-dkms as the README says: the package and the running kernel's headers.
dkms_install() {
	local start=$SECONDS
	apt_install archives-dkms --no-install-recommends "$RUN"/kecho-dkms_*.deb "linux-headers-$(uname -r)"
	dkms status kecho | grep -q ", $(uname -r), .*: installed" || fail "dkms status: $(dkms status kecho)"
	echo "$(dkms status kecho) after $((SECONDS - start)) s"
}
# kecho.ko's default port, as the installed bench's server registry gives it.
kmod_port() { kecho-bench servers --no-heading | awk '$1 == "kmod" { print $3 }'; }
kecho_says_echoing() { dmesg | grep -q "kecho: echoing on port $(kmod_port) "; }
dkms_modprobe() {
	modprobe kecho || fail "modprobe kecho failed: $(dmesg | tail -n2 | tr '\n' ' ')"
	until_true 10 kecho_says_echoing || fail "kecho did not say it is echoing"
	echo "$(modinfo -F filename kecho): $(dmesg | grep -m1 'kecho: echoing on')"
}
dkms_remove() {
	modprobe -r kecho || fail "modprobe -r kecho failed"
	apt_remove_package kecho-dkms
	[ -z "$(dkms status kecho)" ] || fail "dkms still knows: $(dkms status kecho)"
	[ -z "$(find "/lib/modules/$(uname -r)" -name 'kecho.ko*')" ] || fail "a kecho.ko remains in /lib/modules"
	echo "unloaded and removed: dkms knows no kecho, no kecho.ko in /lib/modules/$(uname -r)"
}

# apt remove with both services running leaves nothing of ours running, attached or loaded.
apt_remove() {
	timeout 120 systemctl start $LOADER $URING || fail "systemctl start $LOADER $URING failed"
	unit_up $LOADER
	unit_up $URING
	local start=$SECONDS
	apt_remove_package kecho-bpf
	local took=$((SECONDS - start))
	! pidof kecho-echo-loader kecho-user-echo-server >/dev/null || fail "still running: $(pidof kecho-echo-loader kecho-user-echo-server)"
	until_true 10 nothing_of_ours || fail "left behind: $(kernel_objects | tr '\n' ' ') $(our_cgroups | tr '\n' ' ')"
	[ -z "$(systemctl list-units --all --plain --no-legend 'kecho*')" ] ||
		fail "systemd still lists: $(systemctl list-units --all --plain --no-legend 'kecho*' | tr '\n' ' ')"
	! ls /usr/bin/kecho-* >/dev/null 2>&1 || fail "programs remain: $(ls /usr/bin/kecho-*)"
	echo "both services were running; after apt remove ($took s) no process, BPF object, cgroup or unit of ours"
}
still_running() {
	state=$(systemctl is-system-running)
	[ "$state" = running ] || fail "system state '$state': $(systemctl --failed --no-legend | tr '\n' ' ')"
	echo "system state running, no failed unit"
}
kernel_log_clean() {
	! dmesg | grep -E 'WARNING:|BUG:|Oops|Call Trace' || fail "the kernel log has the lines above"
	echo "no warning, bug or oops in the kernel log"
}

emit "KECHO-PLAN-BEGIN system $(uname -r) dkms=$DKMS"
check system-booted booted
check apt-install-kecho-bpf apt_install archives "$RUN"/kecho-bpf_*.deb
check programs-run programs_run
check loader-start loader_start
check loader-verify verify_all bpf
check loader-status-stats status_and_stats
check loader-journal journal_line $LOADER
check loader-restart comes_back $LOADER bpf restart
check loader-stop loader_stop
check loader-start-again loader_start
check loader-kill comes_back $LOADER bpf kill -s KILL
check loader-stop-after-kill loader_stop
check uring-start uring_start
check uring-verify verify_all uring
check uring-journal journal_line $URING
check uring-restart comes_back $URING uring restart
check uring-kill comes_back $URING uring kill -s KILL
check uring-stop uring_stop
if [ "$DKMS" = 1 ]; then
	check dkms-install dkms_install
	check dkms-modprobe dkms_modprobe
	check dkms-verify verify_all kmod
	check dkms-remove dkms_remove
fi
check apt-remove apt_remove
check system-still-running still_running
check kernel-log-clean kernel_log_clean
# For whoever reads the console after a failure: what systemd and the servers said.
echo "---- journalctl -u 'kecho*' ----"
journalctl -q --no-pager -u 'kecho*' | tail -n 80
emit "KECHO-PLAN-END"
