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
