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

usage() {
	echo "compare-in-guest.sh: $1 (see --help)" >&2
	exit 2
}
kernel=$KECHO_VM_DEFAULT_KERNEL build=$KECHO_BUILD connections=8 size=64 duration=5 warmup=1
while [ $# -gt 0 ]; do
	case $1 in -h | --help) print_usage; exit 0 ;; esac
	[ $# -ge 2 ] || usage "$1 needs a value"
	case $1 in
	--kernel) kernel=$2 ;;
	--build) build=$2 ;;
	--connections) connections=$2 ;;
	--size) size=$2 ;;
	--duration) duration=$2 ;;
	--warmup) warmup=$2 ;;
	*) usage "unknown argument '$1'" ;;
	esac
	shift 2
done
for v in "$connections" "$duration" "$warmup"; do
	[[ $v =~ ^[0-9]+$ ]] || usage "--connections, --duration and --warmup take whole numbers, not '$v'"
done
[[ $size =~ ^[0-9]+[KMG]?$ ]] || usage "--size takes bytes (K/M/G suffixes), not '$size'"

# Boot, plan and poweroff, plus the table's own time (every mode runs duration+warmup, repeated).
status=0
"$KECHO_TOP/scripts/vm/run-vm.sh" --kernel "$kernel" --build "$build" --plan compare --quiet \
	--timeout $((180 + 12 * (duration + warmup))) \
	--table-args "--connections $connections --size $size --duration $duration --warmup $warmup" || status=$?
results=$build/vm/$kernel/results.txt
[ -f "$results" ] && sed -n 's/^KECHO-TABLE-BEGIN /# /p; s/^KECHO-TABLE //p' "$results"
exit $status
