#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# The three-way comparison inside a Debian guest (default: the 6.1 cloud kernel), where all
# three servers run in one kernel: kecho.ko (kmod) vs the eBPF sockmap echo (bpf) vs user space
# (user, uring), one `bench --mode all --workload pingpong` table. Measured under emulation (TCG):
# the ratios are indicative, the absolute numbers are not.
#
#   scripts/vm/compare-in-guest.sh [--kernel ID] [--build DIR] [--connections C] [--size BYTES]
#                                  [--duration SEC] [--warmup SEC]
set -euo pipefail
. "$(dirname "$0")/vm-lib.sh"

kernel=$KECHO_VM_DEFAULT_KERNEL build=$KECHO_BUILD connections=8 size=64 duration=5 warmup=1
while [ $# -gt 0 ]; do
	case $1 in
	-h | --help) print_usage; exit 0 ;;
	--kernel) need_value "$@"; kernel=$2; shift 2 ;;
	--build) need_value "$@"; build=$2; shift 2 ;;
	--connections) need_value "$@"; connections=$2; shift 2 ;;
	--size) need_value "$@"; size=$2; shift 2 ;;
	--duration) need_value "$@"; duration=$2; shift 2 ;;
	--warmup) need_value "$@"; warmup=$2; shift 2 ;;
	*) bad_usage "unknown argument '$1'" ;;
	esac
done
for v in "$connections" "$duration" "$warmup"; do
	[[ $v =~ ^[0-9]+$ ]] || bad_usage "--connections, --duration and --warmup take whole numbers, not '$v'"
done
[[ $size =~ ^[0-9]+[KMG]?$ ]] || bad_usage "--size takes bytes (K/M/G suffixes), not '$size'"

# Boot, plan and poweroff, plus the table's own time (every mode runs duration+warmup, repeated).
status=0
"$KECHO_TOP/scripts/vm/run-vm.sh" --kernel "$kernel" --build "$build" --plan compare --quiet \
	--timeout $((180 + 12 * (duration + warmup))) \
	--table-args "--connections $connections --size $size --duration $duration --warmup $warmup" || status=$?
results=$build/vm/$kernel/results.txt
[ -f "$results" ] && sed -n 's/^KECHO-TABLE-BEGIN /# /p; s/^KECHO-TABLE //p' "$results"
exit $status
