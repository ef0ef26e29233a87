# SPDX-License-Identifier: GPL-2.0-only
# Shared by the scripts in scripts/: paths, messages, root re-exec. Sourced, not run.
# shellcheck shell=bash
KECHO_TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
KECHO_BUILD=${KECHO_BUILD:-$KECHO_TOP/build}

say() { printf '%s: %s\n' "$(basename "$0")" "$*" >&2; }
die() { say "$*"; exit 1; }

# Re-runs the calling script as root through sudo (apt, BPF and QEMU need it), saying so.
# As root (CI, these machines) it does nothing.
need_root() {
	[ "$(id -u)" -eq 0 ] && return 0
	command -v sudo >/dev/null || die "this needs root (apt-get, BPF, QEMU) and sudo is not installed: run it as root"
	say "needs root for apt-get, BPF and QEMU: re-running through sudo"
	exec sudo --preserve-env=KECHO_BUILD,KECHO_JOBS,CI "$0" "$@"
}

# Configures (once) and builds everything into $KECHO_BUILD. Arguments are cmake -D options,
# applied to the build dir even when it is already configured (scripts/test.sh: -DKECHO_WERROR=ON).
build_all() {
	local jobs=${KECHO_JOBS:-$(nproc)}
	if [ ! -f "$KECHO_BUILD/CMakeCache.txt" ]; then
		cmake -S "$KECHO_TOP" -B "$KECHO_BUILD" -DCMAKE_BUILD_TYPE=RelWithDebInfo "$@" >/dev/null ||
			die "cmake configure failed (see the message above)"
	elif [ $# -gt 0 ]; then
		cmake -S "$KECHO_TOP" -B "$KECHO_BUILD" "$@" >/dev/null || die "cmake configure failed (see the message above)"
	fi
	cmake --build "$KECHO_BUILD" -j "$jobs" || die "build failed (see the compiler output above)"
}
