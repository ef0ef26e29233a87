#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# ctest (label compare): two hosts, played by two network namespaces joined by a veth pair this
# test creates. `compare.sh --serve` starts the servers in one; `compare.sh --remote ADDR --quick`
# runs the client side from the other (every byte echoed is checked by the bench; any error fails
# the run), and `bench verify --quick` checks each served mode across the link.
#   remote_test.sh TOP BUILD
set -euo pipefail
top=$1 build=$2
srv=kecho-cmpr-s$$ cli=kecho-cmpr-c$$ addr=10.253.0.1
out=$(mktemp -d /tmp/kecho-compare-remote.XXXXXX)
serve_pid=
cleanup() {
	if [ -n "$serve_pid" ]; then
		kill -TERM "$serve_pid" 2>/dev/null || true
		for _ in $(seq 100); do kill -0 "$serve_pid" 2>/dev/null || break; sleep 0.1; done
		kill -KILL "$serve_pid" 2>/dev/null || true
	fi
	ip netns delete "$srv" 2>/dev/null || true
	ip netns delete "$cli" 2>/dev/null || true
	rm -rf "$out"
}
trap cleanup EXIT
fail() {
	echo "FAIL: $*" >&2
	[ -f "$out/serve.log" ] && sed 's/^/serve: /' "$out/serve.log" >&2
	exit 1
}

ip netns add "$srv"
ip netns add "$cli"
ip link add "kr$$s" type veth peer name "kr$$c"
ip link set "kr$$s" netns "$srv"
ip link set "kr$$c" netns "$cli"
ip -n "$srv" addr add "$addr/24" dev "kr$$s"
ip -n "$cli" addr add 10.253.0.2/24 dev "kr$$c"
for ns in "$srv" "$cli"; do ip -n "$ns" link set lo up; done
ip -n "$srv" link set "kr$$s" up
ip -n "$cli" link set "kr$$c" up

KECHO_BUILD=$build nsenter "--net=/var/run/netns/$srv" "$top/scripts/compare.sh" --serve --no-build \
	--address "$addr" >"$out/serve.log" 2>&1 &
serve_pid=$!
for _ in $(seq 600); do
	grep -q '^serving:' "$out/serve.log" && break
	kill -0 "$serve_pid" 2>/dev/null || fail "compare.sh --serve exited early"
	sleep 0.1
done
grep -q '^serving:' "$out/serve.log" || fail "compare.sh --serve did not say it is serving within 60 s"
grep -q 'bpf' <(grep '^serving:' "$out/serve.log") || fail "the bpf echo is not served"

for mode in user uring bpf; do
	nsenter "--net=/var/run/netns/$cli" "$build/bench" verify --quick --mode "$mode" --host "$addr" ||
		fail "bench verify --quick failed for $mode across the veth pair"
done
KECHO_BUILD=$build KECHO_RESULTS=$out/results timeout 600 nsenter "--net=/var/run/netns/$cli" \
	"$top/scripts/compare.sh" --remote "$addr" --quick --no-build || fail "compare.sh --remote exited non-zero"
[ -s "$out/results/summary.md" ] || fail "no summary.md"
grep -q "^| 64 | bpf |" "$out/results/summary.md" || fail "summary.md has no bpf row"
jq -e --arg addr "$addr" '.run.servers[] | select(.host == $addr)' "$out/results/pingpong-c64.json" >/dev/null ||
	fail "the results do not name the served host"
echo "PASS"
