#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# The package test (ctest label `package`): CPack makes kecho-bpf and kecho-dkms .deb from the
# build tree; lintian finds no error in either; both unpack into a scratch root (dpkg -x), where
# each program runs --version and --help under its installed name, and the man pages, bash
# completion, systemd units, docs and the DKMS source are where the system looks for them.
#
#   deb-test.sh BUILD_DIR
set -euo pipefail
[ $# -eq 1 ] || { echo "deb-test.sh: usage: deb-test.sh BUILD_DIR" >&2; exit 2; }
build=$(cd "$1" && pwd)
work=$build/deb-test
rm -rf "$work" "$build/packages"
mkdir -p "$work/root"
fail() { echo "deb-test.sh: $*" >&2; exit 1; }

(cd "$build" && cpack -G DEB >"$work/cpack.log" 2>&1) || { tail -n 30 "$work/cpack.log"; fail "cpack failed"; }
version=$(sed -n 's/^CMAKE_PROJECT_VERSION:[A-Z]*=//p' "$build/CMakeCache.txt")
programs_deb=$(ls "$build"/packages/kecho-bpf_"$version"-1_*.deb)
dkms_deb=$(ls "$build"/packages/kecho-dkms_"$version"-1_all.deb)
echo "made $(basename "$programs_deb") and $(basename "$dkms_deb")"

for deb in "$programs_deb" "$dkms_deb"; do
	lintian --tag-display-limit 0 "$deb" >"$work/lintian.log" 2>&1 || true
	if grep -q '^E: ' "$work/lintian.log"; then
		cat "$work/lintian.log"
		fail "lintian reports errors in $(basename "$deb")"
	fi
	echo "lintian $(basename "$deb"): no errors, $(grep -c '^W: ' "$work/lintian.log" || true) warning(s)"
	dpkg -x "$deb" "$work/root"
done
# Dependencies come from dpkg-shlibdeps: the libraries the programs link.
depends=$(dpkg-deb -f "$programs_deb" Depends)
for lib in libbpf1 liburing2 libstdc++6 libc6; do
	[[ $depends == *"$lib"* ]] || fail "kecho-bpf does not depend on $lib: Depends: $depends"
done
echo "kecho-bpf Depends: $depends"
[ "$(dpkg-deb -f "$dkms_deb" Depends)" = dkms ] || fail "kecho-dkms must depend on dkms"

root=$work/root
for program in bench echo-loader user-echo-server; do
	bin=$root/usr/bin/kecho-$program
	[ -x "$bin" ] || fail "$bin is missing from the package"
	out=$("$bin" --version) || fail "kecho-$program --version failed"
	[[ $out == *"$version"* ]] || fail "kecho-$program --version says '$out', not $version"
	"$bin" --help | grep -q -- '--version' || fail "kecho-$program --help does not list its options"
	[ -s "$root/usr/share/man/man1/kecho-$program.1.gz" ] || fail "no man page for kecho-$program"
	zcat "$root/usr/share/man/man1/kecho-$program.1.gz" | grep -q '^\.SH OPTIONS' ||
		fail "the man page of kecho-$program has no OPTIONS section"
	[ -s "$root/usr/share/bash-completion/completions/kecho-$program" ] ||
		fail "no bash completion for kecho-$program"
	echo "kecho-$program: $out; man page, completion"
done
# The completion offers the installed program's own options.
# shellcheck disable=SC1091
words=$(PATH=$root/usr/bin:$PATH bash -c ". $root/usr/share/bash-completion/completions/kecho-bench
	COMP_WORDS=(kecho-bench --worklo); COMP_CWORD=1; _kecho_complete; echo \${COMPREPLY[*]}")
[ "$words" = --workload ] || fail "completing 'kecho-bench --worklo' gave '$words', not --workload"
for unit in kecho-echo-loader.service kecho-user-echo-server@.service; do
	[ -s "$root/usr/lib/systemd/system/$unit" ] || fail "no systemd unit $unit"
	grep -q "^ExecStart=/usr/bin/kecho-" "$root/usr/lib/systemd/system/$unit" || fail "$unit does not start /usr/bin/kecho-*"
done
grep -q '^ExecStop=/usr/bin/kecho-echo-loader detach' "$root/usr/lib/systemd/system/kecho-echo-loader.service" ||
	fail "kecho-echo-loader.service does not detach on stop"
for doc in README.md copyright changelog.Debian.gz; do
	[ -s "$root/usr/share/doc/kecho-bpf/$doc" ] || fail "no /usr/share/doc/kecho-bpf/$doc"
done
for f in dkms.conf kecho.c Kbuild Makefile; do
	[ -s "$root/usr/src/kecho-$version/$f" ] || fail "kecho-dkms lacks /usr/src/kecho-$version/$f"
done
echo "deb-test.sh: both packages are lintian-clean, unpack, and their programs run from the scratch root"
