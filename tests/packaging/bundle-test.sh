#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# The bundle test (ctest label `package`): scripts/bundle.sh makes the tarball; it is unpacked into
# an empty directory that becomes the root of a new mount and network namespace holding only the
# bundle, /proc, /sys, /dev, a /tmp and the cgroup2 mount /sys/fs/cgroup/unified: no library, no
# shell, nothing of the host's /usr. There the bundle's own `compare` (run by its own busybox)
# starts user (epoll, io_uring) and bpf, checks every byte each echoes (bench verify --quick) and
# prints the pingpong table.
#
#   bundle-test.sh SOURCE_DIR WORK_DIR
set -euo pipefail
[ $# -eq 2 ] || { echo "bundle-test.sh: usage: bundle-test.sh SOURCE_DIR WORK_DIR" >&2; exit 2; }
src=$1 work=$2
fail() { echo "bundle-test.sh: $*" >&2; exit 1; }
[ "$(id -u)" -eq 0 ] || fail "needs root (namespaces, chroot, BPF)"
[ -d /sys/fs/cgroup/unified ] || fail "no cgroup2 mount at /sys/fs/cgroup/unified"

rm -rf "$work"
mkdir -p "$work/root"
"$src/scripts/bundle.sh" --out "$work" --build "${KECHO_BUNDLE_BUILD:-$src/build-bundle}"
tarball=$(ls "$work"/kecho-bpf-*.tar.gz)
tar -C "$work/root" -xzf "$tarball"
bundle=$(basename "$tarball" .tar.gz)
mkdir -p "$work/root"/{proc,sys,dev,tmp}
echo "root: $(find "$work/root" -mindepth 1 -maxdepth 1 -printf '%f ')"

cgroup=/sys/fs/cgroup/unified/kecho-bpf-bundle-test-$$
# The private namespaces vanish with the process: nothing to unmount or delete afterwards.
# shellcheck disable=SC2016 # the script is expanded by the inner bash, with its own arguments
unshare --mount --net --propagation private bash -c '
	set -e
	root=$1
	ip link set lo up
	mount --rbind /proc "$root/proc"
	mount --rbind /dev "$root/dev"
	mount -t sysfs sysfs "$root/sys"
	mkdir -p "$root/sys/fs/cgroup/unified" 2>/dev/null || mount -t tmpfs tmpfs "$root/sys/fs/cgroup"
	mkdir -p "$root/sys/fs/cgroup/unified"
	mount --bind /sys/fs/cgroup/unified "$root/sys/fs/cgroup/unified"
	exec env -i PATH=/nonexistent TMPDIR=/tmp KECHO_RUN_DIR=/tmp/kecho-run KECHO_CGROUP="$3" \
		"$(command -v chroot)" "$root" "/$2/busybox" sh "/$2/compare" --quick --connections 2 --duration 0.5 --warmup 0.2 --repeat 1
' bundle-test "$work/root" "$bundle" "$cgroup" | tee "$work/compare.out"
rc=${PIPESTATUS[0]}
[ "$rc" -eq 0 ] || fail "the bundle's compare failed in the empty root (exit $rc)"
grep -q '^KECHO-COMPARE-VERIFY modes=user,uring,bpf failed=0$' "$work/compare.out" ||
	fail "not every server was started and verified: $(grep KECHO-COMPARE-VERIFY "$work/compare.out")"
[ ! -d "$cgroup" ] || fail "echo-loader left its cgroup $cgroup behind"
echo "bundle-test.sh: $bundle compared user, uring and bpf with every byte checked, in a root holding only the bundle"
