#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# The bundle in the guest (ctest `bundle_in_guest`, issue 12.6): where modules load, the portable
# bundle's own `compare` (the script users run on their hosts) compares kmod beside the others.
# scripts/bundle.sh makes the tarball (from the static build bundle_compare already made when
# KECHO_BUNDLE_BUILD names it); it is unpacked and put into the 6.1 cloud guest's initramfs alone
# (none of the main build's binaries go in), with kecho.ko built against that kernel's headers.
# The guest's `bundle` plan runs `KECHO_KO=kecho.ko sh compare --quick ...`: pass = kmod, user,
# uring and bpf each verified byte for byte inside the guest, the table printed, kecho unloaded
# and a clean kernel log.
#
#   bundle-guest-test.sh SOURCE_DIR WORK_DIR
set -euo pipefail
[ $# -eq 2 ] || { echo "bundle-guest-test.sh: usage: bundle-guest-test.sh SOURCE_DIR WORK_DIR" >&2; exit 2; }
src=$1 work=$2
fail() { echo "bundle-guest-test.sh: $*" >&2; exit 1; }
kernel=6.1-cloud

rm -rf "$work"
mkdir -p "$work/unpacked" "$work/build"
"$src/scripts/bundle.sh" --out "$work" --build "${KECHO_BUNDLE_BUILD:-$src/build-bundle}"
tarball=$(ls "$work"/kecho-bpf-*.tar.gz)
tar -C "$work/unpacked" -xzf "$tarball"
bundle=$work/unpacked/$(basename "$tarball" .tar.gz)

# Short runs: the table's numbers under TCG are indicative only; every byte is still checked.
KECHO_VM_BUNDLE=$bundle "$src/scripts/vm/run-vm.sh" --kernel "$kernel" --build "$work/build" --plan bundle \
	--timeout 300 --table-args "--connections 2 --duration 0.5 --warmup 0.2 --repeat 1"
results=$work/build/vm/$kernel/results.txt
for check in bundle-kmod-verify bundle-user-verify bundle-uring-verify bundle-bpf-verify bundle-compare \
	bundle-kmod-unloaded kernel-log-clean; do
	grep -q "^KECHO-RESULT $check PASS" "$results" || fail "the guest reported no PASS for $check ($results)"
done
echo "bundle-guest-test.sh: $(basename "$bundle")'s compare verified kmod, user, uring and bpf in the $kernel guest"
