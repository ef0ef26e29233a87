#!/usr/bin/env bash
# The README's main command: installs what is missing, builds, starts every server this host can
# run, compares them with one bench run and writes results/. Stops everything it started.
#
# Knobs (environment): KECHO_DURATION (seconds measured per run, default 2), KECHO_WARMUP (0.5),
# KECHO_REPEAT (runs per mode, interleaved, default 3), KECHO_RESULTS (default <top>/results),
# KECHO_VM=0 skips the kernel module's comparison inside a QEMU guest.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
need_root "$@"

"$KECHO_TOP/scripts/install-deps.sh"
build_all

duration=${KECHO_DURATION:-2}
warmup=${KECHO_WARMUP:-0.5}
repeat=${KECHO_REPEAT:-3}
results=${KECHO_RESULTS:-$KECHO_TOP/results}
bench=$KECHO_BUILD/bench
[ -x "$bench" ] || die "$bench is missing: the build did not produce the bench"
mkdir -p "$results" || die "cannot create $results"
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true  # 1,000 connections per run

logs=$(mktemp -d /tmp/kecho-compare.XXXXXX)
started=()  # "name pid" of every server this script started
status=0

stop_server() {
	local name=$1 pid=$2 _
	kill -TERM "$pid" 2>/dev/null || return 0
	for _ in $(seq 50); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	if kill -0 "$pid" 2>/dev/null; then
		say "$name (pid $pid) ignored SIGTERM for 5 s: killing it"
		kill -KILL "$pid" 2>/dev/null || true
	fi
	wait "$pid" 2>/dev/null || true
}

# shellcheck disable=SC2317  # called through the EXIT trap
cleanup() {
	local entry
	for entry in "${started[@]}"; do
		# shellcheck disable=SC2086
		stop_server $entry
	done
	started=()
	rm -rf "$logs"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

listening() { ss -Hltn "sport = :$1" 2>/dev/null | grep -q .; }

# start_server NAME PORT COMMAND...: starts it in the background, waits for its ready line
# ("echoing on"). A server already listening on the port is used as it is. Returns 1 (with the
# reason said) when it cannot start, so the comparison goes on without it.
start_server() {
	local name=$1 port=$2 pid _
	shift 2
	if listening "$port"; then
		say "$name: something already listens on port $port: using it as the $name server"
		return 0
	fi
	"$@" >"$logs/$name.log" 2>&1 &
	pid=$!
	for _ in $(seq 100); do
		if grep -q "echoing on" "$logs/$name.log"; then
			started+=("$name $pid")
			say "$name: started (pid $pid): $(grep -m1 'echoing on' "$logs/$name.log")"
			return 0
		fi
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	say "$name: did not start: $(tail -n 2 "$logs/$name.log" | tr '\n' ' ')"
	kill -KILL "$pid" 2>/dev/null || true
	wait "$pid" 2>/dev/null || true
	return 1
}

stop_named() {
	local name=$1 entry keep=()
	for entry in "${started[@]}"; do
		if [ "${entry%% *}" = "$name" ]; then
			# shellcheck disable=SC2086
			stop_server $entry
		else
			keep+=("$entry")
		fi
	done
	started=("${keep[@]}")
}

# run_bench TAG ARGS...: one bench comparison, its table on stdout, JSON/CSV/PNG in results/.
run_bench() {
	local tag=$1
	shift
	echo
	"$bench" "$@" --duration "$duration" --warmup "$warmup" --repeat "$repeat" \
		--json "$results/$tag.json" --csv "$results/$tag.csv" --plot "$results/$tag.png" ||
		{
			say "bench reported errors for $tag (see above)"
			status=1
		}
}

# --- the servers this host can run ----------------------------------------------------------
modes=()
start_server user 12346 "$KECHO_BUILD/user-echo-server" --address 127.0.0.1 && modes+=(user)
start_server uring 12348 "$KECHO_BUILD/user-echo-server" --engine uring --address 127.0.0.1 && modes+=(uring)
if [ -x "$KECHO_BUILD/echo-loader" ]; then
	start_server bpf 12347 "$KECHO_BUILD/echo-loader" attach --address 127.0.0.1 && modes+=(bpf)
else
	say "bpf: $KECHO_BUILD/echo-loader was not built: skipping the sockmap echo"
fi

# --- HOOK: kmod on this host ----------------------------------------------------------------
# kecho.ko loads only where the kernel has module support (these development hosts have none:
# then the module is compared inside a QEMU guest, below). On a host that can load it:
kmod_ko=$KECHO_BUILD/kmod/src/kecho.ko
kmod_loaded_here=0
if [ -e /proc/modules ] && [ -f "$kmod_ko" ] && ! listening 12345; then
	if insmod "$kmod_ko" 2>"$logs/kmod.log"; then
		kmod_loaded_here=1
		modes+=(kmod)
		say "kmod: loaded $kmod_ko (port 12345)"
	else
		say "kmod: insmod failed: $(cat "$logs/kmod.log")"
	fi
elif listening 12345; then
	modes+=(kmod)
	say "kmod: something already listens on port 12345: using it as the kmod server"
fi
# shellcheck disable=SC2317  # called through the EXIT trap
unload_kmod() { [ "$kmod_loaded_here" = 1 ] && rmmod kecho 2>/dev/null && say "kmod: unloaded"; true; }
trap 'unload_kmod; cleanup' EXIT

[ ${#modes[@]} -gt 0 ] || die "no server could be started (see the messages above)"
mode_list=$(
	IFS=,
	echo "${modes[*]}"
)
say "comparing: ${mode_list}; ${repeat} interleaved runs each of ${duration} s after ${warmup} s warmup; results in $results"

# --- the comparison ---------------------------------------------------------------------------
# The floor server (busypoll) spins on a core even when idle, which would slow every other server
# measured next to it: it is measured on its own, after the others are stopped.
for c in 1 8 64 1000; do
	run_bench "pingpong-c$c" --mode "$mode_list" --workload pingpong --connections "$c"
done
run_bench stream --mode "$mode_list" --workload stream --connections 4 --size 64K --window 256K

for name in user uring bpf; do stop_named "$name"; done
unload_kmod
kmod_loaded_here=0
if start_server floor 12349 "$KECHO_BUILD/user-echo-server" --engine busypoll --address 127.0.0.1; then
	echo
	echo "# floor: the busypoll server alone (a reference: it burns a core), same workloads"
	for c in 1 8 64 1000; do
		run_bench "floor-pingpong-c$c" --mode floor --workload pingpong --connections "$c"
	done
	run_bench floor-stream --mode floor --workload stream --connections 4 --size 64K --window 256K
	stop_named floor
fi

# --- HOOK: kmod through the VM harness --------------------------------------------------------
# Where the host cannot load modules, the three-way comparison (kmod vs bpf vs user) runs inside
# a Debian 6.1 guest under QEMU. Emulated (TCG): ratios are indicative, absolute numbers are not.
vm_compare=$KECHO_TOP/scripts/vm/compare-in-guest.sh
if [ ! -e /proc/modules ] && [ "${KECHO_VM:-1}" != 0 ]; then
	if [ -x "$vm_compare" ]; then
		echo
		echo "# kmod: compared inside a QEMU guest (scripts/vm/compare-in-guest.sh; KECHO_VM=0 skips)"
		vm_duration=${duration%.*}
		[ "${vm_duration:-0}" -ge 1 ] 2>/dev/null || vm_duration=1
		"$vm_compare" --build "$KECHO_BUILD" --connections 8 --duration "$vm_duration" --warmup 1 |
			tee "$results/kmod-vm.txt" || {
			say "the in-guest comparison failed (see $KECHO_BUILD/vm/console.log)"
			status=1
		}
	else
		say "kmod: this kernel cannot load modules and $vm_compare does not exist: kmod not compared"
	fi
fi

echo
say "results: $results/{pingpong-c1,pingpong-c8,pingpong-c64,pingpong-c1000,stream}.{json,csv,png} and floor-*"
exit $status
