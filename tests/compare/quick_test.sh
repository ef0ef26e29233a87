#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# ctest (label compare): `scripts/compare.sh --help` prints usage and runs nothing; `--quick` runs
# the whole main job (in a network namespace of its own: the servers use fixed ports) and writes
# summary.md, all.csv and sweep.png that name this machine's kernel, with two echo servers that no
# script knows (the bench tests' echo server, given with --target): a correct one compared beside
# the registry's, and a corrupting one listed as FAILED with its first mismatch and never ranked.
# Each server is at its best configuration there, named (server threads x client workers).
#   quick_test.sh TOP BUILD
set -euo pipefail
top=$1 build=$2
ns=kecho-cmpq-$$
out=$(mktemp -d /tmp/kecho-compare-quick.XXXXXX)
extra_pid='' bad_pid=''
cleanup() {
	[ -z "$extra_pid" ] || kill "$extra_pid" 2>/dev/null || true
	[ -z "$bad_pid" ] || kill "$bad_pid" 2>/dev/null || true
	ip netns delete "$ns" 2>/dev/null || true
	rm -rf "$out" "$out.extra" "$out.bad"
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
nsenter "--net=/var/run/netns/$ns" "$build/tests/bench/echo_test_server" --port $((extra_port + 1)) --fault corrupt \
	>"$out.bad" 2>&1 &
bad_pid=$!
for f in "$out.extra" "$out.bad"; do
	for _ in $(seq 50); do grep -q "listening on" "$f" && break; sleep 0.1; done
	grep -q "listening on" "$f" || fail "a test echo server did not start: $(cat "$f")"
done
start=$(date +%s)
KECHO_BUILD=$build KECHO_RESULTS=$out timeout 600 nsenter "--net=/var/run/netns/$ns" \
	"$top/scripts/compare.sh" --quick --no-build --target "extra=127.0.0.1:$extra_port" \
	--target "bad=127.0.0.1:$((extra_port + 1))" || fail "compare.sh --quick exited non-zero (a failing peer is a result)"
echo "compare.sh --quick took $(($(date +%s) - start)) s (target: under 90 s on a quiet 2-core machine)"
for f in summary.md all.csv sweep.png latency-vs-load.png burst-scatter.png; do
	[ -s "$out/$f" ] || fail "$f is missing or empty"
done
grep -qF "| kernel | $(uname -r) |" "$out/summary.md" || fail "summary.md does not name the kernel $(uname -r)"
grep -qF "| online CPUs | $(getconf _NPROCESSORS_ONLN) |" "$out/summary.md" || fail "summary.md does not give the CPUs"
# Each server at 64 connections: its best configuration named, a figure, a ratio and a verdict.
while read -r mode _ _ program role _; do
	[ "$program" = kecho.ko ] && continue # this host's kernel loads no module: kmod runs in the guest
	[ "$role" = reference ] && continue   # the busy-poll floor is measured alone, in a section of its own
	what="server thread"
	[ "$role" = kernel ] && what="accept thread"
	grep -qE "^\| 64 \| $mode \| [0-9]+ $what(s)? x [0-9]+ workers? \(epoll client\) \| [0-9,]+ \([0-9,]+-[0-9,]+\) \| [0-9]+ \| [0-9.]+x \| (baseline|unranked) \|" \
		"$out/summary.md" || fail "summary.md has no 64-connection row for $mode ($role) at its best configuration: $(grep "^| 64 |" "$out/summary.md")"
done < <("$build/bench" servers --no-heading)
grep -q "^| 64 | extra | as started x [0-9]* workers\? (epoll client) | [0-9,]* (" "$out/summary.md" ||
	fail "summary.md has no row for the --target extra server"
# The corrupting server: FAILED with its first mismatch, no figure, never ranked.
grep -qE "^\| bad \| bad \| [0-9]+ of [0-9]+ cases passed \| \*\*FAILED\*\*: verify [A-Za-z0-9-]+: connection [0-9]+: byte mismatch at offset 3000" \
	"$out/summary.md" || fail "summary.md's validation does not list bad as FAILED with its first mismatch"
grep -qE "^\| 64 \| bad \| - \| \*\*FAILED\*\* at 64 connections: .*byte mismatch at offset 3000.* \| - \| - \| not ranked \|" \
	"$out/summary.md" || fail "summary.md's 64-connection table does not show bad as FAILED where it failed"
! grep -E "^- [0-9]+ connections?: .*bad" "$out/summary.md" || fail "the failed server is ranked"
grep -q "(--quick's subset;" "$out/summary.md" || fail "summary.md does not say which subset --quick swept"
grep -q "req/s median \[95% interval\]" "$out/summary.md" || fail "summary.md gives no interval heading"
grep -q "extra" "$out/all.csv" || fail "all.csv has no row for the --target extra server"
jq -e '.files[] | select(.role == "closed-loop" and .connections == 64)' "$out/manifest.json" >/dev/null ||
	fail "manifest.json declares no 64-connection closed-loop result"
[ "$(grep -c ',pingpong,' "$out/all.csv")" -ge 16 ] || fail "all.csv has too few pingpong rows"
echo "PASS"
