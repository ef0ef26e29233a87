# SPDX-License-Identifier: GPL-2.0-only
# kecho.ko for the running kernel, where modules load (issue 12.6): sourced by scripts/compare.sh,
# which then compares kmod beside the other servers with no guest. Sourced, not run.
# shellcheck shell=bash

# kmod_for_running_kernel BUILD_DIR: prints the path of a kecho.ko for `uname -r`, or says why there
# is none (on stderr) and returns 1. In order: none when the kernel loads no modules (no
# /proc/modules); built from kmod/ against /lib/modules/<release>/build, installing Debian's
# linux-headers-<release> first when apt has it; else the module kecho-dkms installed.
kmod_for_running_kernel() {
	local build=$1 release kdir dir top
	release=$(uname -r)
	top=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
	if [ ! -e /proc/modules ]; then
		echo "kmod: kernel $release loads no modules" >&2
		return 1
	fi
	kdir=/lib/modules/$release/build
	if [ ! -f "$kdir/Makefile" ] && command -v apt-get >/dev/null &&
		apt-cache policy "linux-headers-$release" 2>/dev/null | grep -q 'Candidate: [0-9]'; then
		echo "kmod: installing linux-headers-$release to build kecho.ko" >&2
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "linux-headers-$release" >/dev/null ||
			echo "kmod: apt-get install linux-headers-$release failed" >&2
	fi
	if [ -f "$kdir/Makefile" ]; then
		dir=$build/kmod-native/$release
		mkdir -p "$dir"
		cp "$top"/kmod/{Kbuild,Makefile,kecho.c} "$top/common/include/kecho/servers.def" "$dir/"
		if make -s -C "$dir" KDIR="$kdir" >"$dir/build.log" 2>&1; then
			echo "$dir/kecho.ko"
			return 0
		fi
		echo "kmod: building kecho.ko against $kdir failed (see $dir/build.log)" >&2
	fi
	if modinfo -n kecho >/dev/null 2>&1; then
		modinfo -n kecho
		return 0
	fi
	echo "kmod: no headers for $release (install linux-headers-$release or kecho-dkms): kmod not compared" >&2
	return 1
}
