#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# Builds what kecho-bpf ships, from a fresh clone: installs what is missing (scripts/install-deps.sh),
# then, in build dirs of their own (no test suites, Release):
#   the Debian packages  kecho-bpf_VERSION-1_amd64.deb, kecho-dkms_VERSION-1_all.deb  (CPack)
#   the static bundle    kecho-bpf-VERSION-x86_64.tar.gz                             (scripts/bundle.sh)
# checked with lintian (no errors allowed). Everything lands in dist/ (or $KECHO_DIST).
#
#   scripts/package.sh [--deb-only]
set -euo pipefail
. "$(dirname "$0")/lib.sh"
need_root "$@"

deb_only=0
case ${1:-} in
'') ;;
--deb-only) deb_only=1 ;;
-h | --help) print_usage; exit 0 ;;
*) bad_usage "unknown argument '$1'" ;;
esac

dist=${KECHO_DIST:-$KECHO_TOP/dist}
build=${KECHO_PACKAGE_BUILD:-$KECHO_TOP/build-package}
jobs=${KECHO_JOBS:-$(nproc)}
"$KECHO_TOP/scripts/install-deps.sh"
mkdir -p "$dist"

cmake -S "$KECHO_TOP" -B "$build" -DCMAKE_BUILD_TYPE=Release -DKECHO_TESTS=OFF >/dev/null ||
	die "cmake configure failed (see the message above)"
cmake --build "$build" -j "$jobs" || die "build failed (see the compiler output above)"
rm -rf "$build/packages"
(cd "$build" && cpack -G DEB >cpack.log 2>&1) || { cat "$build/cpack.log" >&2; die "cpack failed (log above)"; }
debs=("$build"/packages/*.deb)
[ -f "${debs[0]}" ] || die "cpack made no .deb (see $build/cpack.log)"
cp "${debs[@]}" "$dist/"
for deb in "${debs[@]}"; do
	lintian --tag-display-limit 0 "$deb" >"$build/lintian-$(basename "$deb").log" 2>&1 || true
	if grep -q '^E: ' "$build/lintian-$(basename "$deb").log"; then
		cat "$build/lintian-$(basename "$deb").log" >&2
		die "lintian reports errors in $(basename "$deb") (above)"
	fi
	say "$dist/$(basename "$deb"): lintian: $(grep -c '^W: ' "$build/lintian-$(basename "$deb").log") warning(s), no errors"
done
[ "$deb_only" = 1 ] && exit 0

"$KECHO_TOP/scripts/bundle.sh" --out "$dist"
