#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# Installs everything the project needs (build, tests, plots, the VM harness) from Debian's
# packages. Idempotent: packages already present are not touched, apt-get runs only when needed.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
need_root "$@"

packages=(
	# build
	cmake make g++ pkg-config clang llvm libbpf-dev bpftool libelf-dev zlib1g-dev ccache
	libcli11-dev nlohmann-json3-dev liburing-dev libgtest-dev googletest
	# running and testing the servers
	iproute2 procps kmod
	# scripts/reliability.sh collects JSON
	jq
	# ctest -L style (formatting, shell lint) and scripts/code-metrics.sh (function lengths)
	clang-format shellcheck universal-ctags
	# plots
	gnuplot-nox
	# scripts/perf.sh: per-request work items, context switches and system calls
	linux-perf
	# packages and the bundle (scripts/package.sh, tests/packaging): man pages, lintian,
	# dpkg-shlibdeps, the DKMS build of kecho.ko
	help2man lintian dpkg-dev dkms
	# the VM harness for kecho.ko (kernel image and headers come from scripts/vm/fetch-kernel.sh)
	qemu-system-x86 busybox-static cpio gzip xz-utils zstd
	# the system test (ctest -L system): a clean Debian 12 image built with debootstrap, as ext4
	# images (mkfs.ext4 -d), booted under QEMU (scripts/vm/system-image.sh, run-system.sh)
	debootstrap e2fsprogs
	# building kecho.ko against 6.12 headers: module BTF (CONFIG_DEBUG_INFO_BTF_MODULES) needs pahole
	dwarves
	# network faults (scripts/reliability.sh --faults, tests/faults): packet drop rules in a namespace
	nftables
)

missing=()
for p in "${packages[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
	say "all ${#packages[@]} packages present"
	exit 0
fi
say "installing ${#missing[@]} missing package(s): ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq || die "apt-get update failed: is the Debian mirror reachable?"
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null ||
	die "apt-get install failed for: ${missing[*]}"
say "installed: ${missing[*]}"
