#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# The kernel matrix: for every server (kmod, bpf, user, uring) on every guest kernel of the VM
# harness's list, whether it works there (every check of it passed), fails (which checks), is not
# supported on that kernel (why), or is not in that kernel's plan; with the server's ratio against
# user from the guest's pingpong table (emulated: compare ratios, not absolute numbers). Read from
# <build>/vm/<kernel>/results.txt, which scripts/vm/run-vm.sh writes; run-vm.sh calls this after
# every guest, so the matrix always shows the latest run of each kernel.
#
#   scripts/vm/kernel-matrix.sh [--build DIR] [--out FILE]   (default FILE: <build>/vm/kernel-matrix.md)
set -euo pipefail
. "$(dirname "$0")/vm-lib.sh"

build=$KECHO_BUILD out=''
while [ $# -gt 0 ]; do
	case $1 in
	-h | --help) print_usage; exit 0 ;;
	--build) need_value "$@"; build=$2; shift 2 ;;
	--out) need_value "$@"; out=$2; shift 2 ;;
	*) bad_usage "unknown argument '$1'" ;;
	esac
done
[ -d "$build" ] || die "build dir $build does not exist"
out=${out:-$build/vm/kernel-matrix.md}
mkdir -p "$(dirname "$out")"

# Which server a guest check belongs to (its KECHO-RESULT name); the rest are the kernel's own.
server_checks() {
	case $1 in
	kmod) echo '^(insmod|kmod|rmmod|netem-kmod)' ;;
	bpf) echo '^(bpf|skmsg|netem-bpf)' ;;
	user) echo '^(user|netem-user)' ;;
	uring) echo '^(uring|netem-uring)' ;;
	esac
}
servers="kmod bpf user uring"

# cell RESULTS SERVER SCOPE: one matrix cell.
cell() {
	local results=$1 server=$2 scope=$3 re lines pass fail unsup ratio
	re=$(server_checks "$server")
	# The guest's serial port ends lines with CR LF.
	lines=$(tr -d '\r' <"$results" | awk -v re="$re" '$1 == "KECHO-RESULT" && $2 ~ re')
	pass=$(grep -c ' PASS' <<<"$lines" || true)
	fail=$(awk '$3 == "FAIL" { printf "%s%s", sep, $2; sep = ", " }' <<<"$lines")
	unsup=$(awk '$3 == "UNSUPPORTED" { sub(/^[^ ]+ [^ ]+ [^ ]+ /, ""); print; exit }' <<<"$lines")
	# This mode's ratio against user in the guest's pingpong table, as bench reported it.
	ratio=$(tr -d '\r' <"$results" | awk -v m="$server" '$1 == "KECHO-RATIO" && $2 == m { print $3; exit }')
	if [ -n "$fail" ]; then
		echo "FAILS: $fail"
	elif [ -n "$unsup" ]; then
		echo "$unsup"
	elif [ "$pass" -gt 0 ]; then
		echo "works ($pass checks${ratio:+; pingpong $ratio user})"
	elif [ "$scope" = module ]; then
		echo "not in this kernel's plan (kecho.ko only)"
	else
		echo "no result"
	fi
}

{
	echo "# Kernel matrix"
	echo
	echo "Every server on every guest kernel of the VM harness (\`ctest -L kmod-vm\`, scripts/vm/run-vm.sh)."
	echo "\"works\" means every check of that server passed in that guest (verify battery, and for bpf"
	echo "the pending-bytes guard, SIGKILL cleanliness and 1,000 connections; for kmod parameters, 1,000"
	echo "connections and rmmod under them; netem checks where the plan ran them); the ratio is the"
	echo "server's 64-byte pingpong rate against user's in the same guest, measured under emulation."
	echo "What differs between kernels, and why: docs/kernels.md."
	echo
	header="| server |" rule="|---|"
	for k in $KECHO_VM_KERNELS; do
		header="$header $k |" rule="$rule---|"
	done
	echo "$header"
	echo "$rule"
	for s in $servers; do
		row="| $s |"
		for k in $KECHO_VM_KERNELS; do
			r=$build/vm/$k/results.txt
			read -r _ _ _ scope _ < <(vm_kernel_spec "$k")
			if [ ! -s "$r" ]; then
				c="not run"
			elif ! grep -q '^KECHO-PLAN-END' "$r"; then
				c="guest did not finish"
			else
				c=$(cell "$r" "$s" "$scope")
			fi
			row="$row $c |"
		done
		echo "$row"
	done
	echo
	echo "| kernel | booted | guest | checks |"
	echo "|---|---|---|---|"
	for k in $KECHO_VM_KERNELS; do
		r=$build/vm/$k/results.txt
		[ -s "$r" ] || { echo "| $k | not run | | |"; continue; }
		booted=$(tr -d '\r' <"$r" | sed -n 's/^KECHO-KERNEL Linux version \([^ ]*\) .*Debian \([^ ]*\) .*/\1 (Debian \2)/p' | head -n1)
		cycle=$(grep '^KECHO-VM-CYCLE' "$r" | tail -n1 || true)
		guest=$(sed -n 's/^KECHO-VM-CYCLE \([0-9]*s\) accel=\([a-z]*\).*/\1 under \2/p' <<<"$cycle")
		checks=$(sed -n 's/.* passed=\([0-9]*\) failed=\([0-9]*\) unsupported=\([0-9]*\).*/\1 passed, \2 failed, \3 not supported/p' <<<"$cycle")
		echo "| $k | ${booted:-?} | ${guest:-did not finish} | ${checks:--} |"
	done
} >"$out.part"
mv "$out.part" "$out"
say "wrote $out"
cat "$out"
