#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# The portable bundle: kecho-bpf-VERSION-x86_64.tar.gz with bench, user-echo-server and
# echo-loader linked statically (-DKECHO_STATIC=ON), a static busybox, the `compare` script that
# runs the whole comparison from the bundle alone, LICENSE and README. Unpack it on any x86_64 Linux
# (kernel 6.1 or newer for the eBPF echo) and run ./compare as root: no packages, no compiler.
#
#   scripts/bundle.sh [--out DIR] [--build DIR]     (defaults: dist/, build-bundle/)
set -euo pipefail
. "$(dirname "$0")/lib.sh"

out=$KECHO_TOP/dist build=$KECHO_TOP/build-bundle
while [ $# -gt 0 ]; do
	case $1 in
	--out) need_value "$@"; out=$2; shift 2 ;;
	--build) need_value "$@"; build=$2; shift 2 ;;
	-h | --help) print_usage; exit 0 ;;
	*) bad_usage "unknown argument '$1'" ;;
	esac
done
programs=(bench user-echo-server echo-loader)

cmake -S "$KECHO_TOP" -B "$build" -DCMAKE_BUILD_TYPE=Release -DKECHO_TESTS=OFF -DKECHO_STATIC=ON >/dev/null ||
	die "cmake configure failed (see the message above)"
cmake --build "$build" -j "${KECHO_JOBS:-$(nproc)}" --target "${programs[@]}" ||
	die "the static build failed (see the compiler output above)"
version=$(sed -n 's/^CMAKE_PROJECT_VERSION:[A-Z]*=//p' "$build/CMakeCache.txt")
name=kecho-bpf-$version-$(uname -m)
busybox=$(command -v busybox) || die "busybox not found: apt-get install busybox-static (or run scripts/install-deps.sh)"

is_static() { [[ $(ldd "$1" 2>&1) =~ "not a dynamic executable"|"statically linked" ]]; }

stage=$(mktemp -d "${TMPDIR:-/tmp}/kecho-bundle.XXXXXX")
trap 'rm -rf "$stage"' EXIT
mkdir -p "$stage/$name/bin"
for program in "${programs[@]}"; do
	is_static "$build/$program" || die "$build/$program is not statically linked"
	strip -o "$stage/$name/bin/$program" "$build/$program"
done
is_static "$busybox" ||
	die "$busybox is not static: apt-get install busybox-static (or run scripts/install-deps.sh)"
cp "$busybox" "$stage/$name/busybox"
cp "$KECHO_TOP/packaging/bundle/compare" "$KECHO_TOP/LICENSE" "$KECHO_TOP/README.md" "$stage/$name/"
mkdir -p "$out"
tar -C "$stage" --owner=0 --group=0 -czf "$out/$name.tar.gz.part" "$name"
mv "$out/$name.tar.gz.part" "$out/$name.tar.gz"
say "$out/$name.tar.gz ($(du -h "$out/$name.tar.gz" | cut -f1)): ${programs[*]} (static), busybox, compare"
