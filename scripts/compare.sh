#!/usr/bin/env bash
# The README's main command: installs what is missing, builds, starts every server this host can
# run, compares them with one bench run and writes results/. Stops everything it started.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
need_root "$@"

"$KECHO_TOP/scripts/install-deps.sh"
build_all
die "the comparison is not wired yet (issue 3)"
