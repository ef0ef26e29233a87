#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# The DKMS test (ctest label `dkms`): the kecho-dkms package's files (cmake --install --component
# dkms, the same install rules CPack packs) are built by `dkms build` against the Debian 6.1
# headers the VM harness fetches, in a private DKMS tree (nothing goes to /var/lib/dkms, nothing
# is signed), and the module DKMS built is the one the guest loads: run-vm.sh's module source
# override gets a Makefile that only takes that kecho.ko, and the guest's `dkms` plan runs on it
# in the 6.1 cloud guest (insmod, bench verify --quick against kmod, rmmod, a clean kernel log).
#
#   dkms-test.sh SOURCE_DIR BUILD_DIR WORK_DIR
set -euo pipefail
[ $# -eq 3 ] || { echo "dkms-test.sh: usage: dkms-test.sh SOURCE_DIR BUILD_DIR WORK_DIR" >&2; exit 2; }
src=$1 build=$(cd "$2" && pwd) work=$3
fail() { echo "dkms-test.sh: $*" >&2; exit 1; }
command -v dkms >/dev/null || fail "dkms not found: apt-get install dkms (or run scripts/install-deps.sh)"

kernel=6.1-cloud
"$src/scripts/vm/fetch-kernel.sh" --kernel "$kernel"
# shellcheck disable=SC1091
. "$src/scripts/vm/vm-lib.sh"
vm_load_kernel_env "$kernel"
version=$(sed -n 's/^CMAKE_PROJECT_VERSION:[A-Z]*=//p' "$build/CMakeCache.txt")

rm -rf "$work"
mkdir -p "$work/tree"
cmake --install "$build" --component dkms --prefix "$work/root/usr" >/dev/null
[ -f "$work/root/usr/src/kecho-$version/dkms.conf" ] || fail "the dkms component has no /usr/src/kecho-$version/dkms.conf"
# sign_file pointing nowhere: dkms would otherwise create a signing key in /var/lib/dkms.
sign_file=/nonexistent/sign-file dkms build -m kecho -v "$version" -k "$KECHO_VM_KVER" \
	--kernelsourcedir "$KECHO_VM_KDIR" --dkmstree "$work/tree" --sourcetree "$work/root/usr/src" \
	>"$work/dkms.log" 2>&1 || { cat "$work/dkms.log"; fail "dkms build against $KECHO_VM_KDIR failed"; }
ko=$work/tree/kecho/$version/$KECHO_VM_KVER/$(uname -m)/module/kecho.ko
[ -f "$ko" ] || { cat "$work/dkms.log"; fail "dkms build made no $ko"; }
magic=$(modinfo -F vermagic "$ko")
[[ $magic == "$KECHO_VM_KVER "* ]] || fail "the DKMS-built module is for '$magic', not $KECHO_VM_KVER"
echo "dkms built $ko (vermagic $magic)"

# run-vm.sh copies Kbuild, Makefile and kecho.c from KECHO_VM_KMOD_SRC and runs make there: this
# Makefile makes nothing, it takes the module DKMS built.
override=$work/kmod-src
mkdir -p "$override"
cp "$work/root/usr/src/kecho-$version"/{Kbuild,kecho.c} "$override/"
printf '# The module dkms built (tests/packaging/dkms-test.sh), not a new build.\nall:\n\tcp %s kecho.ko\n' "$ko" \
	>"$override/Makefile"
# The guest's binaries from the main build (the plan needs only bench), its work files in a
# directory of our own.
mkdir -p "$work/build"
[ -x "$build/bench" ] || fail "$build/bench is not built"
ln -sf "$build/bench" "$work/build/bench"
KECHO_VM_KMOD_SRC=$override "$src/scripts/vm/run-vm.sh" --kernel "$kernel" --build "$work/build" --plan dkms \
	--timeout 300
cmp -s "$ko" "$work/build/vm/$kernel/kmod-$KECHO_VM_KVER/kecho.ko" || fail "the guest was not given the DKMS-built kecho.ko"
results=$work/build/vm/$kernel/results.txt
for check in insmod-defaults kmod-verify rmmod kernel-log-clean; do
	grep -q "^KECHO-RESULT $check PASS" "$results" || fail "the guest reported no PASS for $check ($results)"
done
echo "dkms-test.sh: the DKMS-built kecho.ko loaded, echoed every byte and unloaded cleanly on $KECHO_VM_KVER"
