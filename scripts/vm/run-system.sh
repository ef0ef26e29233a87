#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# Our packages installed the way users install them: boots the clean Debian 12 system of
# system-image.sh (systemd as PID 1, Debian's 6.1 cloud kernel) under QEMU (TCG), where its
# systemd runs scripts/vm/system-plan.sh: apt install of kecho-bpf, kecho-echo-loader and
# kecho-user-echo-server@uring started, restarted, SIGKILLed and stopped, apt remove, each followed
# by a look for anything of ours left behind. The guest has no network: the packages its apt will
# want are downloaded here first, with the image's own package lists and dpkg status (apt then
# resolves the same dependencies in the guest), and put in its apt cache.
#
#   scripts/vm/run-system.sh [--build DIR] [--debs DIR] [--dkms] [--timeout SEC]
# The packages come from --debs DIR (scripts/package.sh's dist/) or are made by CPack from the build
# tree. --dkms also installs kecho-dkms, builds kecho.ko for the guest's kernel and serves with it:
# opt-in, about 10 more minutes under TCG (dpkg and gcc). The console goes to
# <build>/vm/system/console.log, the result lines to <build>/vm/system/results.txt.
set -euo pipefail
. "$(dirname "$0")/vm-lib.sh"

build=$KECHO_BUILD debs='' dkms=0 timeout_s=''
while [ $# -gt 0 ]; do
	case $1 in
	--build) need_value "$@"; build=$2; shift 2 ;;
	--debs) need_value "$@"; debs=$2; shift 2 ;;
	--dkms) dkms=1; shift ;;
	--timeout) need_value "$@"; timeout_s=$2; shift 2 ;;
	-h | --help) print_usage; exit 0 ;;
	*) bad_usage "unknown argument '$1'" ;;
	esac
done
timeout_s=${timeout_s:-$((dkms ? 2700 : 900))}
# shellcheck disable=SC2015 # the || branch is the error for either test failing
[[ $timeout_s =~ ^[0-9]+$ ]] && [ "$timeout_s" -ge 60 ] || bad_usage "--timeout must be at least 60 seconds"
[ -d "$build" ] || die "build dir $build does not exist: configure and build first (cmake -S . -B $build)"
need_root "$@"
for tool in qemu-system-x86_64 mkfs.ext4 bpftool; do
	command -v "$tool" >/dev/null || die "$tool not found: run scripts/install-deps.sh"
done
build=$(cd "$build" && pwd)
work=$build/vm/system
console=$work/console.log results=$work/results.txt
mkdir -p "$work"
rm -f "$console" "$results"

# The packages under test.
if [ -z "$debs" ]; then
	debs=$work/packages
	rm -rf "$debs"
	(cd "$build" && cpack -G DEB -B "$debs" >"$work/cpack.log" 2>&1) ||
		{ tail -n 20 "$work/cpack.log" >&2; die "cpack in $build failed (log above)"; }
fi
bpf_deb=$(find "$debs" -maxdepth 1 -name 'kecho-bpf_*_amd64.deb' | sort | tail -n1)
dkms_deb=$(find "$debs" -maxdepth 1 -name 'kecho-dkms_*_all.deb' | sort | tail -n1)
[ -n "$bpf_deb" ] || die "no kecho-bpf_*_amd64.deb in $debs: run scripts/package.sh --deb-only"
[ "$dkms" = 0 ] || [ -n "$dkms_deb" ] || die "no kecho-dkms_*_all.deb in $debs: run scripts/package.sh --deb-only"

image=$("$KECHO_TOP/scripts/vm/system-image.sh")
# shellcheck disable=SC1091
. "$image/image.env"

# download SUBDIR APT_ARGS...: what `apt install APT_ARGS` in the guest will download, into
# $image/apt/SUBDIR (cached there: a second run downloads nothing).
download() {
	local into=$image/apt/$1
	shift
	vm_apt_options "$image/apt"
	mkdir -p "$into/partial" "$image/apt/sources.list.d"
	id _apt >/dev/null 2>&1 && chown -R _apt "$into"
	DEBIAN_FRONTEND=noninteractive flock "$KECHO_APT_LOCK" apt-get -qq "${KECHO_APT_OPTS[@]}" \
		-o "Dir::Cache::archives=$into" install --download-only -y "$@" >"$work/download.log" 2>&1
}
downloads() {
	# As the guest's apt, whatever this host's apt.conf says: recommended packages too.
	download archives -o APT::Install-Recommends=true "$bpf_deb" || return 1
	[ "$dkms" = 0 ] || download archives-dkms --no-install-recommends "$dkms_deb" "linux-headers-$KECHO_SYSTEM_KVER"
}
if ! downloads; then
	# Debian drops superseded versions from the mirror: the image's package lists have aged.
	say "downloading for the guest's apt failed ($(tail -n1 "$work/download.log")): making the image again"
	image=$("$KECHO_TOP/scripts/vm/system-image.sh" --rebuild)
	downloads || { cat "$work/download.log" >&2; die "cannot download what the guest's apt needs (log above)"; }
fi

# The run disk: the plan, the packages, their downloaded dependencies, and bpftool (with its
# libraries, run through their loader: checked with, never installed in the guest).
run_disk() {
	local rd=$work/run lib
	rm -rf "$rd"
	mkdir -p "$rd/archives" "$rd/tools/lib"
	cp "$KECHO_TOP/scripts/vm/system-plan.sh" "$bpf_deb" "$rd/"
	find "$image/apt/archives" -maxdepth 1 -name '*.deb' -exec cp -t "$rd/archives" {} +
	if [ "$dkms" = 1 ]; then
		mkdir "$rd/archives-dkms"
		cp "$dkms_deb" "$rd/"
		find "$image/apt/archives-dkms" -maxdepth 1 -name '*.deb' -exec cp -t "$rd/archives-dkms" {} +
	fi
	printf 'DKMS=%s\n' "$dkms" >"$rd/plan.env"
	cp "$(command -v bpftool)" "$rd/tools/"
	for lib in $(ldd "$(command -v bpftool)" | sed -n 's/.*=> \(\/[^ ]*\) .*/\1/p'); do cp -L "$lib" "$rd/tools/lib/"; done
	cp -L /lib64/ld-linux-x86-64.so.2 "$rd/tools/lib/"
	mkfs.ext4 -q -F -L kecho-run -d "$rd" "$work/run.img" "$(($(du -sm "$rd" | cut -f1) + 64))M" ||
		die "mkfs.ext4 could not make the run disk"
}
run_disk

smp=$(nproc)
[ "$smp" -gt 2 ] && smp=2
with=kecho-bpf
[ "$dkms" = 0 ] || with="kecho-bpf and kecho-dkms"
say "booting Debian 12 ($KECHO_SYSTEM_KVER, image of $KECHO_SYSTEM_BUILT) under tcg with $smp vCPUs to install $with, at most ${timeout_s}s"
start=$(date +%s%N)
rc=0
# snapshot=on: the guest's writes go to a temporary overlay in $TMPDIR; the cached image stays clean.
TMPDIR=$work timeout --kill-after=5 "$timeout_s" qemu-system-x86_64 "${KECHO_VM_TCG_ARGS[@]}" -m 1024 -smp "$smp" \
	-kernel "$image/vmlinuz" -initrd "$image/initramfs.cpio.gz" -append "console=ttyS0 panic=-1 loglevel=4" \
	-drive "file=$image/disk.img,format=raw,if=virtio,snapshot=on,cache=unsafe" \
	-drive "file=$work/run.img,format=raw,if=virtio,readonly=on" \
	-display none -monitor none -serial "file:$console" -serial "file:$results" \
	-no-reboot -nic none >"$work/qemu.log" 2>&1 || rc=$?
seconds=$((($(date +%s%N) - start) / 1000000000))

touch "$results"
grep -E '^KECHO-(RESULT|PLAN)' "$results" || true
vm_plan_ended "$results" "$console" "$work/qemu.log" "$rc" "$seconds" "$timeout_s"
cycle="KECHO-SYSTEM-CYCLE ${seconds}s kernel=$KECHO_SYSTEM_KVER image=$(basename "$image") dkms=$dkms"
echo "$cycle passed=$(vm_count "$results" PASS) failed=$(vm_count "$results" FAIL)" | tee -a "$results"
vm_no_failed "$results" "$console" 120
