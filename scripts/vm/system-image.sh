#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# Builds (once) the clean Debian 12 system the system test installs our packages on: debootstrap
# minbase from deb.debian.org plus systemd (systemd-sysv, dbus), brought up to date from bookworm,
# -updates and -security, with Debian's linux-image package of the harness's 6.1-cloud kernel
# (the same package version fetch-kernel.sh took, so it boots the list's kernel). Nothing else is
# added but the root fstab, a hostname and one unit that runs the test plan from the disk labelled
# kecho-run (scripts/vm/run-system.sh) and powers off. It boots under QEMU from a raw ext4 image
# through a small initramfs (busybox, the image's own virtio modules) straight into its systemd.
#
# Cached under $KECHO_VM_CACHE/system/KEY, KEY a hash of this script and the kernel's package
# version: a cached image is reused at once; --rebuild makes it again (fresh package lists).
# Prints the image's directory: disk.img, vmlinuz, initramfs.cpio.gz, image.env, and apt/ (its
# sources, package lists and dpkg status, for downloading what its apt will want).
#
#   scripts/vm/system-image.sh [--rebuild]
set -euo pipefail
. "$(dirname "$0")/vm-lib.sh"

rebuild=0
case ${1:-} in
'') ;;
--rebuild) rebuild=1 ;;
-h | --help) print_usage; exit 0 ;;
*) bad_usage "unknown argument '$1'" ;;
esac
need_root "$@"
for tool in debootstrap mkfs.ext4 cpio; do
	command -v "$tool" >/dev/null || die "$tool not found: run scripts/install-deps.sh"
done

kernel=$KECHO_VM_SYSTEM_KERNEL
"$KECHO_TOP/scripts/vm/fetch-kernel.sh" --kernel "$kernel" >&2
vm_load_kernel_env "$kernel"
key=$(cat "$0" <(echo "$KECHO_VM_KVER $KECHO_VM_PKGVER") | sha256sum | cut -c1-16)
dir=$KECHO_VM_CACHE/system/$key
mirror=http://deb.debian.org/debian

# Runs a command inside the tree ROOT, with /proc, /sys and /dev mounted in a mount namespace of
# its own (they vanish with it) and apt never asking.
in_root() {
	local root=$1
	shift
	# shellcheck disable=SC2016 # $0 and $@ are the inner shell's
	unshare -m --propagation private sh -c 'mount -t proc proc "$0/proc" && mount -t sysfs sys "$0/sys" &&
		mount --rbind /dev "$0/dev" && exec chroot "$0" "$@"' "$root" \
		env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin DEBIAN_FRONTEND=noninteractive LC_ALL=C.UTF-8 "$@"
}

# debootstrap, then the system a user has after installing Debian 12: every update applied.
bootstrap() {
	local root=$1 log=$2 s
	say "debootstrap bookworm (minbase, systemd-sysv, dbus) from $mirror: about 3 minutes"
	debootstrap --variant=minbase --include=systemd-sysv,dbus bookworm "$root" "$mirror" >"$log" 2>&1 ||
		{ tail -n 20 "$log" >&2; die "debootstrap failed (log above, $log): is the Debian mirror reachable?"; }
	for s in bookworm bookworm-updates; do echo "deb $mirror $s main"; done >"$root/etc/apt/sources.list"
	echo "deb http://deb.debian.org/debian-security bookworm-security main" >>"$root/etc/apt/sources.list"
	in_root "$root" apt-get -qq update >>"$log" 2>&1 || die "apt-get update in the image failed ($log)"
	in_root "$root" apt-get -qq -y dist-upgrade >>"$log" 2>&1 || die "apt-get dist-upgrade in the image failed ($log)"
	say "installing linux-image-$KECHO_VM_KVER ($KECHO_VM_PKGVER) in the image"
	in_root "$root" apt-get -qq -y --no-install-recommends install "linux-image-$KECHO_VM_KVER=$KECHO_VM_PKGVER" \
		>>"$log" 2>&1 || die "installing linux-image-$KECHO_VM_KVER=$KECHO_VM_PKGVER in the image failed ($log):" \
		"if the mirror moved on, refresh the kernel cache (rm -rf $(vm_kernel_dir "$kernel")) and run again"
	# As after any apt-get update: the package cache built (clean drops it), not rebuilt by each apt run.
	in_root "$root" apt-get -qq clean
	in_root "$root" apt-cache gencaches >/dev/null
}

# What a real install writes too (root fstab, hostname, hosts, machine id), and the plan's runner.
configure() {
	local root=$1
	echo 'LABEL=kecho-root / ext4 rw,errors=remount-ro 0 1' >"$root/etc/fstab"
	echo kecho-system >"$root/etc/hostname"
	printf '127.0.0.1\tlocalhost\n127.0.1.1\tkecho-system\n::1\tlocalhost ip6-localhost ip6-loopback\n' >"$root/etc/hosts"
	in_root "$root" systemd-machine-id-setup >/dev/null
	cat >"$root/etc/systemd/system/run-test-plan.service" <<'UNIT'
# The kecho-bpf system test's runner (scripts/vm/system-image.sh): runs the plan on the disk
# labelled kecho-run once the system is up, then powers off, whatever the plan did.
[Unit]
Description=kecho-bpf system test plan
After=multi-user.target
ConditionPathExists=/dev/vdb

[Service]
Type=exec
StandardOutput=journal+console
StandardError=journal+console
ExecStart=/bin/sh -c 'mkdir -p /run/kecho-run && mount -o ro /dev/vdb /run/kecho-run && /run/kecho-run/system-plan.sh; sync; systemctl poweroff --force --force'

[Install]
WantedBy=multi-user.target
UNIT
	ln -sf /etc/systemd/system/run-test-plan.service "$root/etc/systemd/system/multi-user.target.wants/"
}

# The initramfs: the cloud kernel has virtio as modules, so busybox loads the image's own, mounts
# the root read-write and hands over to its systemd.
make_initramfs() {
	local root=$1 out=$2 tree m ko
	local modules="virtio_ring virtio virtio_pci_modern_dev virtio_pci_legacy_dev virtio_pci virtio_blk"
	tree=$(mktemp -d "$out.XXXXXX")
	mkdir -p "$tree"/{bin,dev,proc,sys,root,modules}
	cp "$(command -v busybox)" "$tree/bin/busybox"
	for m in $modules; do
		ko=$(find "$root/lib/modules/$KECHO_VM_KVER/kernel/drivers" -name "$m.ko" | head -n1)
		[ -n "$ko" ] || die "the image's kernel has no $m.ko"
		cp "$ko" "$tree/modules/"
	done
	cat >"$tree/init" <<INIT
#!/bin/busybox sh
b=/bin/busybox
fail() { echo "kecho-system initramfs: \$*"; \$b poweroff -f; }
\$b mount -t proc proc /proc && \$b mount -t sysfs sys /sys && \$b mount -t devtmpfs dev /dev
for m in $modules; do \$b insmod /modules/\$m.ko || fail "insmod \$m failed"; done
i=0
while [ ! -b /dev/vda ] && [ \$i -lt 100 ]; do \$b sleep 0.1; i=\$((i + 1)); done
\$b mount -t ext4 -o rw /dev/vda /root || fail "cannot mount /dev/vda"
\$b umount /proc /sys
\$b mount --move /dev /root/dev
exec \$b switch_root /root /sbin/init
INIT
	chmod 755 "$tree/init"
	(cd "$tree" && find . | cpio -o -H newc --quiet | gzip -1) >"$out"
	rm -rf "$tree"
}

# Everything the run needs from the tree, then the tree becomes the disk image.
pack() {
	local root=$1 new=$2
	cmp -s "$root/boot/vmlinuz-$KECHO_VM_KVER" "$KECHO_VM_VMLINUZ" ||
		die "the image's /boot/vmlinuz-$KECHO_VM_KVER differs from the harness's $KECHO_VM_VMLINUZ"
	cp "$root/boot/vmlinuz-$KECHO_VM_KVER" "$new/vmlinuz"
	make_initramfs "$root" "$new/initramfs.cpio.gz"
	mkdir -p "$new/apt/lists/partial" "$new/apt/archives/partial"
	cp "$root/etc/apt/sources.list" "$new/apt/sources.list"
	find "$root/var/lib/apt/lists" -maxdepth 1 -type f ! -name lock -exec cp -t "$new/apt/lists" {} +
	cp "$root/var/lib/dpkg/status" "$new/apt/status"
	mkfs.ext4 -q -F -L kecho-root -d "$root" "$new/disk.img" 4G >/dev/null || die "mkfs.ext4 -d could not make the image"
	cat >"$new/image.env" <<ENV
KECHO_SYSTEM_KVER=$KECHO_VM_KVER
KECHO_SYSTEM_PKGVER=$KECHO_VM_PKGVER
KECHO_SYSTEM_BUILT="$(date -u '+%Y-%m-%d %H:%M UTC')"
KECHO_SYSTEM_PACKAGES=$(grep -c '^Package: ' "$root/var/lib/dpkg/status")
ENV
}

mkdir -p "$KECHO_VM_CACHE/system"
exec 9>"$KECHO_VM_CACHE/system/.lock"
flock 9
if [ "$rebuild" = 0 ] && [ -f "$dir/image.env" ]; then
	touch "$dir"  # in use: kept by the clean-up below
	echo "$dir"
	exit 0
fi
start=$(date +%s)
build=$(mktemp -d "$KECHO_VM_CACHE/system/.build.XXXXXX")
trap 'rm -rf "$build"' EXIT
mkdir -p "$build/new"
bootstrap "$build/root" "$build/new/build.log"
configure "$build/root"
pack "$build/root" "$build/new"
rm -rf "$dir"
mv "$build/new" "$dir"
# Images of other keys (an older script or kernel) unused for a week go.
find "$KECHO_VM_CACHE/system" -mindepth 1 -maxdepth 1 -type d ! -name '.*' ! -name "$key" -mtime +7 \
	-exec rm -rf {} + 2>/dev/null || true
# shellcheck disable=SC1091
. "$dir/image.env"
say "Debian 12 system image ready in $(($(date +%s) - start)) s: $dir ($KECHO_SYSTEM_PACKAGES packages, kernel $KECHO_VM_KVER)"
echo "$dir"
