#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# ctest (label compare): `scripts/compare.sh --help` prints usage and runs nothing; `--quick` runs
# the whole main job (in a network namespace of its own: the servers use fixed ports) and writes
# summary.md, all.csv and sweep.png that name this machine's kernel.
#   quick_test.sh TOP BUILD
set -euo pipefail
top=$1 build=$2
ns=kecho-cmpq-$$
out=$(mktemp -d /tmp/kecho-compare-quick.XXXXXX)
cleanup() {
	ip netns delete "$ns" 2>/dev/null || true
	rm -rf "$out"
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
start=$(date +%s)
KECHO_BUILD=$build KECHO_RESULTS=$out timeout 600 nsenter "--net=/var/run/netns/$ns" \
	"$top/scripts/compare.sh" --quick --no-build || fail "compare.sh --quick exited non-zero"
echo "compare.sh --quick took $(($(date +%s) - start)) s (target: under 90 s on a quiet 2-core machine)"
for f in summary.md all.csv sweep.png latency-vs-load.png burst-scatter.png; do
	[ -s "$out/$f" ] || fail "$f is missing or empty"
done
grep -qF "| kernel | $(uname -r) |" "$out/summary.md" || fail "summary.md does not name the kernel $(uname -r)"
grep -qF "| online CPUs | $(getconf _NPROCESSORS_ONLN) |" "$out/summary.md" || fail "summary.md does not give the CPUs"
for mode in user uring bpf floor; do
	grep -q "^| 64 | $mode |" "$out/summary.md" || fail "summary.md has no 64-connection row for $mode"
done
[ "$(grep -c ',pingpong,' "$out/all.csv")" -ge 16 ] || fail "all.csv has too few pingpong rows"
echo "PASS"
