#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# ctest (label compare): `scripts/bpf-datapath.sh --trace` on a small burst prints, for epoll and
# bpf, the burst table with CPU per exchange (bench report's) and the traced phases of every
# exchange: the user server's reads, the in-kernel echo's kworker hop (and no read).
#   datapath_test.sh TOP BUILD
set -euo pipefail
top=$1 build=$2
out=$(mktemp -d /tmp/kecho-datapath-test.XXXXXX)
trap 'rm -rf "$out"' EXIT
fail() {
	echo "FAIL: $*" >&2
	exit 1
}

rc=0
"$top/scripts/bpf-datapath.sh" --workloads burst,bogus 2>/dev/null || rc=$?
[ "$rc" = 2 ] || fail "an unknown workload exited $rc, not 2"

threads=50 rounds=2
KECHO_BUILD=$build timeout 300 "$top/scripts/bpf-datapath.sh" --repeat 1 --workloads burst --variants epoll,bpf \
	--burst-threads $threads --burst-rounds $rounds --trace --out "$out/raw" >"$out/report.txt" 2>&1 ||
	fail "bpf-datapath.sh exited non-zero: $(tail -n 20 "$out/report.txt")"
cat "$out/report.txt"
grep -q "machine us/exchange" "$out/report.txt" || fail "the burst table has no CPU per exchange"
# phase VARIANT NAME: the traced mean of that phase (empty when the variant never went through it).
phase() { awk -v v="$1" -v p="$2" '$1 == v && index($0, p) { print $(NF - 1) }' "$out/report.txt"; }
for v in epoll bpf; do
	[ "$(phase "$v" "(exchanges)")" = "$((threads * rounds)).0" ] ||
		fail "$v: the trace did not count $((threads * rounds)) exchanges"
	[ -n "$(phase "$v" "arrival to client's read (the exchange)")" ] || fail "$v: no whole-exchange phase"
done
[ -n "$(phase epoll "arrival to server's first read")" ] || fail "epoll: the trace saw no server read"
[ -z "$(phase epoll "work queued to kworker running it")" ] || fail "epoll: a kworker hop on a user server"
[ -n "$(phase bpf "work queued to kworker running it")" ] || fail "bpf: the trace saw no kworker hop"
[ -z "$(phase bpf "arrival to server's first read")" ] || fail "bpf: user space read an in-kernel echo's bytes"
echo "PASS"
