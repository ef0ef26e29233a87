#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# ctest (label compare): `scripts/compare.sh --help` prints usage and runs nothing; `--quick` runs
# the whole main job (in a network namespace of its own: the servers use fixed ports) and writes
# summary.md, all.csv and sweep.png that name this machine's kernel, with an extra echo server that
# no script knows (the bench tests' echo server, given with --target) compared beside the registry's.
#   quick_test.sh TOP BUILD
set -euo pipefail
top=$1 build=$2
ns=kecho-cmpq-$$
out=$(mktemp -d /tmp/kecho-compare-quick.XXXXXX)
extra_pid=''
cleanup() {
	[ -z "$extra_pid" ] || kill "$extra_pid" 2>/dev/null || true
	ip netns delete "$ns" 2>/dev/null || true
	rm -rf "$out" "$out.extra"
}
trap cleanup EXIT
fail() {
	echo "FAIL: $*" >&2
	exit 1
}

help=$(KECHO_RESULTS=$out timeout 10 "$top/scripts/compare.sh" --help) || fail "--help exited non-zero"
grep -q -- "--quick" <<<"$help" || fail "--help does not describe --quick: $help"
[ -z "$(ls -A "$out")" ] || fail "--help wrote results: $(ls "$out")"
rc=0
KECHO_RESULTS=$out timeout 10 "$top/scripts/compare.sh" --bogus 2>/dev/null || rc=$?
[ "$rc" = 2 ] || fail "an unknown argument exited $rc, not 2"

ip netns add "$ns"
ip -n "$ns" link set lo up
extra_port=23991
nsenter "--net=/var/run/netns/$ns" "$build/tests/bench/echo_test_server" --port "$extra_port" >"$out.extra" 2>&1 &
extra_pid=$!
for _ in $(seq 50); do grep -q "listening on" "$out.extra" && break; sleep 0.1; done
grep -q "listening on" "$out.extra" || fail "the extra echo server did not start: $(cat "$out.extra")"
start=$(date +%s)
KECHO_BUILD=$build KECHO_RESULTS=$out timeout 600 nsenter "--net=/var/run/netns/$ns" \
	"$top/scripts/compare.sh" --quick --no-build --target "extra=127.0.0.1:$extra_port" ||
	fail "compare.sh --quick exited non-zero"
echo "compare.sh --quick took $(($(date +%s) - start)) s (target: under 90 s on a quiet 2-core machine)"
for f in summary.md all.csv sweep.png latency-vs-load.png burst-scatter.png; do
	[ -s "$out/$f" ] || fail "$f is missing or empty"
done
grep -qF "| kernel | $(uname -r) |" "$out/summary.md" || fail "summary.md does not name the kernel $(uname -r)"
grep -qF "| online CPUs | $(getconf _NPROCESSORS_ONLN) |" "$out/summary.md" || fail "summary.md does not give the CPUs"
while read -r mode _ _ program role _; do
	[ "$program" = kecho.ko ] && continue # this host's kernel loads no module: kmod runs in the guest
	grep -q "^| 64 | $mode |" "$out/summary.md" || fail "summary.md has no 64-connection row for $mode ($role)"
done < <("$build/bench" servers --no-heading)
grep -q "^| 64 | extra |" "$out/summary.md" || fail "summary.md has no row for the --target extra server"
grep -q "extra" "$out/all.csv" || fail "all.csv has no row for the --target extra server"
jq -e '.files[] | select(.role == "closed-loop" and .connections == 64)' "$out/manifest.json" >/dev/null ||
	fail "manifest.json declares no 64-connection closed-loop result"
[ "$(grep -c ',pingpong,' "$out/all.csv")" -ge 16 ] || fail "all.csv has too few pingpong rows"
echo "PASS"
