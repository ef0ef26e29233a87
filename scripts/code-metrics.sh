#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# Prints the code targets of the bench clean-up (issue 11), each with its goal and met/MISSED:
#   - lines in bench/ (goal: at least 25% fewer than the 3,377 before it);
#   - every function longer than 60 lines in bench/, loader/ and userserver/ (universal-ctags
#     start and end lines; goal: none);
#   - the pairs of repeated code `duplicates` finds inside bench/ (goal: at most 2).
# Usage: scripts/code-metrics.sh [--check]   (--check: exit 1 when a goal is missed)
set -euo pipefail
cd "$(dirname "$0")/.."

check=false
case ${1:-} in
--check) check=true ;;
"") ;;
*)
	echo "usage: scripts/code-metrics.sh [--check]" >&2
	exit 2
	;;
esac
command -v ctags >/dev/null || { echo "ctags not found: scripts/install-deps.sh installs universal-ctags" >&2; exit 1; }
ctags --version 2>/dev/null | grep -q Universal || { echo "ctags is not universal-ctags (needed for end lines)" >&2; exit 1; }

missed=0
verdict() { # verdict OK-EXPRESSION-RESULT
	if [ "$1" = true ]; then echo met; else
		echo MISSED
		missed=$((missed + 1))
	fi
}

# Files git tracks (a clean clone), with the untracked ones it does not ignore.
tracked() { git ls-files --cached --others --exclude-standard -- "$@"; }

baseline=3377
mapfile -t bench_files < <(tracked bench)
lines=$(cat "${bench_files[@]}" | wc -l)
goal=$((baseline * 3 / 4))
echo "bench/ lines: $lines (was $baseline; goal <= $goal): $(verdict "$([ "$lines" -le "$goal" ] && echo true || echo false)")"

limit=60
mapfile -t sources < <(tracked 'bench/*.cpp' 'bench/*.h' 'loader/*.cpp' 'loader/*.h' 'userserver/*.cpp' 'userserver/*.h')
long=$(ctags --languages=C++ --kinds-C++=f --fields=+ne -x --_xformat='%{line}	%{end}	%F	%{scope}	%N' \
	--map-C++=+.h -o - "${sources[@]}" |
	awk -F '\t' -v limit="$limit" '$2 != "" && $2 - $1 + 1 > limit {
		scope = ($4 == "" || $4 == "-" ? "" : $4 "::"); printf "  %4d lines  %s:%d  %s%s\n", $2 - $1 + 1, $3, $1, scope, $5 }' |
	sort -rn)
count=$(printf '%s' "$long" | grep -c . || true)
echo "functions over $limit lines in bench/, loader/, userserver/: $count (goal 0): $(verdict "$([ "$count" -eq 0 ] && echo true || echo false)")"
[ -z "$long" ] || printf '%s\n' "$long"

if command -v duplicates >/dev/null; then
	report=$(cd bench && duplicates --most 20)
	pairs=$(printf '%s\n' "$report" | grep -cE '^D[0-9]+ ' || true)
	echo "duplicates inside bench/: $pairs pairs (goal <= 2): $(verdict "$([ "$pairs" -le 2 ] && echo true || echo false)")"
	printf '%s\n' "$report" | sed 's/^/  /'
else
	echo "duplicates inside bench/: not measured (the duplicates tool is not installed)"
fi

[ "$check" = false ] || [ "$missed" -eq 0 ]
