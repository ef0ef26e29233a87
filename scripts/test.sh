#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# The README's test command: installs what is missing, builds, runs every test with ctest.
# As root (CI) a test that would skip for lack of a capability fails instead, so coverage never
# silently disappears. Extra arguments go to ctest (e.g. -L user, -R Verify).
set -euo pipefail
. "$(dirname "$0")/lib.sh"
need_root "$@"

"$KECHO_TOP/scripts/install-deps.sh"
# Our own code must build without a warning here (and in CI); users' builds do not use -Werror.
build_all -DKECHO_WERROR=ON
export KECHO_REQUIRE_ALL=1
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
cd "$KECHO_BUILD"
status=0
ctest --output-on-failure --timeout 900 "$@" || status=$?
if grep -q '\[  SKIPPED \]' Testing/Temporary/LastTest.log 2>/dev/null; then
	say "some tests were skipped: as root every test must run (see Testing/Temporary/LastTest.log)"
	status=1
fi
exit $status
