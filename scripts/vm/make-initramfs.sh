#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# Packs the guest's initramfs: busybox-static, kecho.ko, the guest init and test plan, and every
# one of our binaries that the build dir has (with the shared libraries ldd names, at the same
# paths, plus the dynamic loader). A binary the build dir lacks is left out here; the guest plan
# reports each missing one as a FAIL, never as a skip. With --netem, the kernel's sch_netem.ko and
# iproute2's tc (with its libraries) go in too, for the guest's netem fault checks. With
# KECHO_VM_BUNDLE=DIR (an unpacked scripts/bundle.sh tarball), that directory goes to /kecho/bundle.
#
#   make-initramfs.sh --module kecho.ko --build BUILD_DIR --plan-env FILE --out initramfs.cpio.gz
#                     [--netem sch_netem.ko]
set -euo pipefail
. "$(dirname "$0")/vm-lib.sh"

module='' build='' plan_env='' out='' netem=''
while [ $# -gt 0 ]; do
	case $1 in
	--module) need_value "$@"; module=$2; shift 2 ;;
	--build) need_value "$@"; build=$2; shift 2 ;;
	--plan-env) need_value "$@"; plan_env=$2; shift 2 ;;
	--out) need_value "$@"; out=$2; shift 2 ;;
	--netem) need_value "$@"; netem=$2; shift 2 ;;
	*) bad_usage "unknown argument '$1'" ;;
	esac
done
# shellcheck disable=SC2015 # the || branch is the error for either test failing
[ -n "$module" ] && [ -n "$build" ] && [ -n "$plan_env" ] && [ -n "$out" ] ||
	bad_usage "--module, --build, --plan-env and --out are required"
[ -f "$module" ] || die "module $module not found"
busybox=$(command -v busybox || true)
# shellcheck disable=SC2015 # the || branch is the error for either test failing
[ -n "$busybox" ] && [[ $(ldd "$busybox" 2>&1) =~ "not a dynamic executable"|"statically linked" ]] ||
	die "a static busybox is needed: apt-get install busybox-static (or run scripts/install-deps.sh)"

root=$(mktemp -d "${out%/*}/.initramfs.XXXXXX")
trap 'rm -rf "$root"' EXIT
mkdir -p "$root"/{bin,dev,proc,sys,tmp,run,etc,kecho,lib64}
cp "$busybox" "$root/bin/busybox"
ln -s busybox "$root/bin/sh"
echo 'root:x:0:0:root:/:/bin/sh' >"$root/etc/passwd"
echo 'root:x:0:' >"$root/etc/group"
echo '127.0.0.1 localhost' >"$root/etc/hosts"
here=$(dirname "$0")
cp "$here/guest-init.sh" "$root/init"
cp "$here/guest-plan.sh" "$root/kecho/guest-plan.sh"
chmod 755 "$root/init"
cp "$module" "$root/kecho/kecho.ko"
cp "$plan_env" "$root/kecho/plan.env"

# Copies a file (following links) to the same path inside the guest.
copy_same_path() {
	[ -e "$root$1" ] && return 0
	mkdir -p "$root$(dirname "$1")"
	cp -L "$1" "$root$1"
}

# add_binary PATH: into /kecho, with the shared libraries ldd names.
add_binary() {
	local bin=$1 name=${1##*/} lib
	# Debug info only slows the boot; fall back to a plain copy if strip is missing.
	strip --strip-debug -o "$root/kecho/$name" "$bin" 2>/dev/null || cp "$bin" "$root/kecho/$name"
	included+=("$name")
	# ldd lines: "libx.so => /path (0x..)", "/lib64/ld-linux-x86-64.so.2 (0x..)", "statically linked".
	while read -r lib; do
		copy_same_path "$lib"
	done < <(ldd "$bin" 2>/dev/null | sed -n 's/.*=> \(\/[^ ]*\) .*/\1/p; s/^[[:space:]]*\(\/[^ ]*\) (0x.*/\1/p')
}

included=()
for name in bench user-echo-server echo-loader vm-conn-holder tcp-adversary; do
	[ -x "$build/$name" ] && add_binary "$build/$name"
done
if [ -n "$netem" ]; then
	[ -f "$netem" ] || die "sch_netem module $netem not found"
	tc=$(command -v tc || true)
	[ -n "$tc" ] || die "tc not found: apt-get install iproute2 (or run scripts/install-deps.sh)"
	cp "$netem" "$root/kecho/sch_netem.ko"
	add_binary "$tc"
fi
if [ -n "${KECHO_VM_BUNDLE:-}" ]; then
	[ -f "$KECHO_VM_BUNDLE/compare" ] || die "KECHO_VM_BUNDLE=$KECHO_VM_BUNDLE is not an unpacked bundle (no compare)"
	cp -a "$KECHO_VM_BUNDLE" "$root/kecho/bundle"
	included+=(bundle)
fi
printf '%s\n' "${included[@]}" >"$root/kecho/included"

(cd "$root" && find . -print0 | cpio --null -o -H newc --quiet) | gzip -1 >"$out.part"
mv "$out.part" "$out"
say "initramfs $out ($(du -h "$out" | cut -f1)): busybox, kecho.ko${included[*]:+, ${included[*]}}"
