#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# The adversarial suite: tcp-adversary, a TCP peer that writes its own segments (overlapping and out
# of order, before accept and after, exact duplicates, partial retransmissions, a zero window that
# reopens, urgent data, a reset after data), against every server this host runs, one at a time,
# each in a network namespace of its own where the peer's address (192.0.2.2) is routed out of the
# loopback and nowhere else. Every echoed byte is checked at its stream position: none duplicated,
# missing or misplaced, and no reset. Exit 0 iff every case passed for every server.
#
#   scripts/adversary.sh [--servers LIST] [--rounds N] [--seed N] [--build DIR]
# LIST: comma-separated from bpf, bpf-probe-read (the sockmap echo with the verdict 6.1 uses:
# echo-loader --seq-read probe-read), epoll, uring, splice, floor; default: all of them.
# --rounds: seeds of the shuffled-overlap case per phase (default 16); --seed repeats a run.
# Needs root (raw and packet sockets, namespaces, BPF). kecho.ko, and every server again on
# kernels 6.1 and 6.12, run the same suite in the VM guests (ctest -L kmod-vm).
set -uo pipefail
. "$(dirname "$0")/lib.sh"

all_servers=bpf,bpf-probe-read,epoll,uring,splice,floor
servers=$all_servers rounds=16 seed="" build=$KECHO_BUILD port=24350
while [ $# -gt 0 ]; do
	case $1 in
	--servers) need_value "$@"; servers=$2; shift 2 ;;
	--rounds) need_value "$@"; rounds=$2; shift 2 ;;
	--seed) need_value "$@"; seed=$2; shift 2 ;;
	--build) need_value "$@"; build=$2; shift 2 ;;
	-h | --help) print_usage; exit 0 ;;
	*) bad_usage "unknown argument '$1'" ;;
	esac
done
for s in ${servers//,/ }; do
	[[ ,$all_servers, == *,$s,* ]] || bad_usage "unknown server '$s' in --servers (one of $all_servers)"
done
[[ $rounds =~ ^[0-9]+$ && $rounds -ge 1 ]] || bad_usage "--rounds must be a whole number from 1, not '$rounds'"
[ -z "$seed" ] || [[ $seed =~ ^[0-9]+$ ]] || bad_usage "--seed must be a whole number, not '$seed'"
need_root "$@"
export KECHO_BUILD=$build
for b in tcp-adversary user-echo-server echo-loader; do
	[ -x "$build/$b" ] || { build_all; break; }
done

work=$(mktemp -d /tmp/kecho-adversary.XXXXXX)
KECHO_SERVER_LOGS=$work/servers
cgroup=$(awk '$3 == "cgroup2" { print $2; exit }' /proc/mounts)/kecho-adversary-$$
ns=""
# shellcheck disable=SC2317  # called through the EXIT trap
cleanup() {
	server_stop_all
	[ -z "$ns" ] || ip netns del "$ns" 2>/dev/null
	rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# A network namespace for one server: loopback up, the peer's address routed out of it.
make_namespace() {
	ns=kecho-adv-$$-$1
	ip netns add "$ns" || die "cannot create network namespace $ns"
	if ! ip -n "$ns" link set lo up || ! ip -n "$ns" route add 192.0.2.2/32 dev lo; then
		die "cannot set up the loopback of network namespace $ns"
	fi
}

# start SERVER: in the namespace, on the suite's port (nsenter execs it: the pid is the server's).
start() {
	local in_ns=(nsenter "--net=/run/netns/$ns")
	case $1 in
	bpf | bpf-probe-read)
		local read=auto
		[ "$1" = bpf-probe-read ] && read=probe-read
		server_start "$1" "$port" "${in_ns[@]}" "$build/echo-loader" --run-dir "$work/run-$1" attach \
			--port "$port" --cgroup "$cgroup" --seq-read "$read"
		;;
	*) server_start "$1" "$port" "${in_ns[@]}" "$build/user-echo-server" --engine "$1" --port "$port" ;;
	esac
}

summary=() failed_servers=()
for server in ${servers//,/ }; do
	make_namespace "$server"
	if start "$server"; then
		say "$server: tcp-adversary, $rounds shuffled rounds per phase"
		args=(--port "$port" --pause-pid "$(server_pid "$server")" --rounds "$rounds")
		[ -z "$seed" ] || args+=(--seed "$seed")
		nsenter "--net=/run/netns/$ns" timeout 600 "$build/tcp-adversary" "${args[@]}" | tee "$work/$server.out"
		result=$(tail -n 1 "$work/$server.out")
		kill -0 "$(server_pid "$server")" 2>/dev/null || result="$result; the server died (log: $(tail -n 2 "$(server_log "$server")" | tr '\n' ' '))"
		server_stop "$server"
	else
		result="did not start"
	fi
	ip netns del "$ns"
	ns=""
	summary+=("$server: ${result#tcp-adversary: }")
	[[ $result == *" 0 failed" && $result != *died* ]] || failed_servers+=("$server")
done

say "summary:"
printf '  %s\n' "${summary[@]}" >&2
if [ ${#failed_servers[@]} -gt 0 ]; then
	say "FAILED: ${failed_servers[*]}"
	exit 1
fi
say "every server echoed every case exactly"
