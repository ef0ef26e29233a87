# Shared by scripts/vm/*.sh: where the guest kernel lives and how to read what fetch-kernel.sh
# resolved. Sourced, not run.
# shellcheck shell=bash
. "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

# Debian's kernel image and headers are cached here (vmlinuz extracted, never installed).
KECHO_VM_CACHE=${KECHO_VM_CACHE:-/var/cache/kecho-vm}
KECHO_VM_FLAVOUR=${KECHO_VM_FLAVOUR:-cloud-amd64}
KECHO_VM_ENV=$KECHO_VM_CACHE/kernel.env

# Loads KECHO_VM_ABI, KECHO_VM_PKGVER, KECHO_VM_VMLINUZ, KECHO_VM_KDIR written by fetch-kernel.sh.
vm_load_kernel_env() {
	[ -f "$KECHO_VM_ENV" ] || die "no guest kernel in $KECHO_VM_CACHE: run scripts/vm/fetch-kernel.sh"
	# shellcheck disable=SC1090
	. "$KECHO_VM_ENV"
	[ -f "$KECHO_VM_VMLINUZ" ] || die "guest kernel $KECHO_VM_VMLINUZ is missing: run scripts/vm/fetch-kernel.sh"
	[ -f "$KECHO_VM_KDIR/Makefile" ] ||
		die "kernel headers $KECHO_VM_KDIR are missing: run scripts/vm/fetch-kernel.sh"
}
