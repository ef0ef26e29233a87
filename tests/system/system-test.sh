#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# The system test (ctest label `system`): scripts/vm/run-system.sh boots the clean Debian 12 guest
# with the packages CPack makes from this build, and every step of its plan must report PASS: a
# step that printed nothing fails as well as one that failed. KECHO_SYSTEM_DKMS=1 adds kecho-dkms.
#
#   system-test.sh SOURCE_DIR BUILD_DIR
set -euo pipefail
[ $# -eq 2 ] || { echo "system-test.sh: usage: system-test.sh SOURCE_DIR BUILD_DIR" >&2; exit 2; }
src=$1 build=$2
fail() { echo "system-test.sh: $*" >&2; exit 1; }

steps=(system-booted apt-install-kecho-bpf programs-run
	loader-start loader-verify loader-status-stats loader-journal loader-restart loader-stop
	loader-start-again loader-kill loader-stop-after-kill
	uring-start uring-verify uring-journal uring-restart uring-kill uring-stop)
args=()
if [ "${KECHO_SYSTEM_DKMS:-0}" = 1 ]; then
	args+=(--dkms)
	steps+=(dkms-install dkms-modprobe dkms-verify dkms-remove)
fi
steps+=(apt-remove system-still-running kernel-log-clean)

start=$(date +%s)
"$src/scripts/vm/run-system.sh" --build "$build" "${args[@]}"
results=$build/vm/system/results.txt
for step in "${steps[@]}"; do
	grep -q "^KECHO-RESULT $step PASS" "$results" || fail "the guest reported no PASS for $step ($results)"
done
echo "system-test.sh: ${#steps[@]} steps passed on a clean Debian 12 under systemd in $(($(date +%s) - start)) s"
