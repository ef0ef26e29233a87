# SPDX-License-Identifier: GPL-2.0-only
# Shared by scripts/vm/*.sh: the guest kernels the harness knows, where each one lives and how to
# read what fetch-kernel.sh resolved. Sourced, not run.
# shellcheck shell=bash
# shellcheck disable=SC2034 # the variables are for the scripts that source this file
. "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

# Debian's kernel images and headers are cached here (both extracted from their packages, never
# installed), with the harness's own apt configuration and package lists in $KECHO_VM_CACHE/apt.
KECHO_VM_CACHE=${KECHO_VM_CACHE:-/var/cache/kecho-vm}
# Every kernel the harness boots, in the order ctest and the kernel matrix list them.
KECHO_VM_KERNELS="6.1-cloud 6.12-cloud 6.1-rt"
KECHO_VM_DEFAULT_KERNEL=6.1-cloud
# Other helpers run apt too: every apt call of ours holds this lock.
KECHO_APT_LOCK=/tmp/kecho-apt.lock
# The kernel of the Debian 12 system image (system-image.sh): Debian 12's own.
KECHO_VM_SYSTEM_KERNEL=6.1-cloud
# QEMU 7.2's TCG mis-emulates cmpxchg16b (EFLAGS come back with TF set): 6.12's SLUB fast path
# then double-faults in kmem_cache_alloc. Without cx16 (and 5-level paging) every kernel of the
# list boots and runs (docs/kernels.md).
KECHO_VM_TCG_ARGS=(-accel "tcg,thread=multi" -cpu "max,cx16=off,la57=off")

# vm_apt_options DIR: apt options (into the array KECHO_APT_OPTS) that keep the sources, package
# lists, dpkg status and downloads in DIR (sources.list, lists/, status, archives/), never the
# system's. apt still checks every signature against the Debian archive keyring.
vm_apt_options() {
	KECHO_APT_OPTS=(-o "Dir::Etc::SourceList=$1/sources.list" -o "Dir::Etc::SourceParts=$1/sources.list.d"
		-o "Dir::State::Lists=$1/lists" -o "Dir::State::status=$1/status" -o "Dir::Cache=$1"
		-o "Dir::Cache::archives=$1/archives" -o "Dir::Cache::pkgcache=$1/pkgcache.bin"
		-o "Dir::Cache::srcpkgcache=$1/srcpkgcache.bin")
}

# vm_kernel_spec ID: "ABI_PREFIX FLAVOUR SUITE SCOPE NETEM" of a kernel of the list, or fails.
#   ABI_PREFIX  how the package names of that series start (linux-image-<ABI>-<FLAVOUR>)
#   SUITE       the Debian suite it comes from (bookworm-backports is in our own sources only)
#   SCOPE       full: every server's checks; module: kecho.ko's checks only (see docs/kernels.md)
#   NETEM       netem: every server again under netem faults (about 40 s of guest time); - : not
vm_kernel_spec() {
	case $1 in
	6.1-cloud) echo "6.1.0- cloud-amd64 bookworm full -" ;;
	6.12-cloud) echo "6.12. cloud-amd64 bookworm-backports full netem" ;;
	6.1-rt) echo "6.1.0- rt-amd64 bookworm module -" ;;
	*) return 1 ;;
	esac
}

vm_kernel_dir() { echo "$KECHO_VM_CACHE/$1"; }

# vm_load_kernel_env ID: loads KECHO_VM_ABI, KECHO_VM_KVER, KECHO_VM_PKGVER, KECHO_VM_VMLINUZ,
# KECHO_VM_KDIR, KECHO_VM_MODDIR written by fetch-kernel.sh for that kernel.
vm_load_kernel_env() {
	local env
	env=$(vm_kernel_dir "$1")/kernel.env
	[ -f "$env" ] || die "no $1 guest kernel in $KECHO_VM_CACHE: run scripts/vm/fetch-kernel.sh --kernel $1"
	# shellcheck disable=SC1090
	. "$env"
	[ -f "$KECHO_VM_VMLINUZ" ] ||
		die "guest kernel $KECHO_VM_VMLINUZ is missing: run scripts/vm/fetch-kernel.sh --kernel $1"
	[ -f "$KECHO_VM_KDIR/Makefile" ] ||
		die "kernel headers $KECHO_VM_KDIR are missing: run scripts/vm/fetch-kernel.sh --kernel $1"
}

# vm_plan_ended RESULTS CONSOLE QEMU_LOG QEMU_RC SECONDS TIMEOUT: dies, with the last lines of the
# guest's console, when its plan did not print KECHO-PLAN-END (it crashed, hung or timed out).
vm_plan_ended() {
	local why="did not finish"
	grep -q '^KECHO-PLAN-END' "$1" && return 0
	[ "$4" -eq 124 ] || [ "$4" -eq 137 ] && why="timed out after ${6}s"
	echo "---- last lines of the guest console ($2) ----" >&2
	tail -n 40 "$2" >&2
	[ -s "$3" ] && { echo "---- qemu ----" >&2; tail -n 5 "$3" >&2; }
	die "the guest $why (qemu exit $4, ${5}s): see the console lines above"
}

# vm_count RESULTS VERDICT: how many checks the guest reported with VERDICT (PASS, FAIL, UNSUPPORTED).
vm_count() { grep -c "^KECHO-RESULT [^ ]* $2" "$1" || true; }

# vm_no_failed RESULTS CONSOLE LINES: dies, with the console's last LINES, when a check failed.
vm_no_failed() {
	local failed
	failed=$(vm_count "$1" FAIL)
	[ "$failed" -eq 0 ] && return 0
	echo "---- last lines of the guest console ($2) ----" >&2
	tail -n "$3" "$2" >&2
	die "$failed guest check(s) failed (KECHO-RESULT ... FAIL above)"
}
