#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# Prints the code targets that still hold, each with its goal and met/MISSED:
#   - every function longer than 60 lines in bench/, common/, loader/ and userserver/
#     (universal-ctags start and end lines; goal: none);
#   - the pairs of repeated code `duplicates` finds inside each of them (goal: at most 2 each, and
#     those only boilerplate).
# bench/'s size is no target: it follows its features.
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

components=(bench common loader userserver)
missed=0
verdict() { # verdict OK-EXPRESSION-RESULT
	if [ "$1" = true ]; then echo met; else
		echo MISSED
		missed=$((missed + 1))
	fi
}

# Files git tracks (a clean clone), with the untracked ones it does not ignore.
tracked() { git ls-files --cached --others --exclude-standard -- "$@"; }

limit=60
patterns=()
for c in "${components[@]}"; do patterns+=("$c/*.cpp" "$c/*.h"); done
mapfile -t sources < <(tracked "${patterns[@]}")
long=$(ctags --languages=C++ --kinds-C++=f --fields=+ne -x --_xformat='%{line}	%{end}	%F	%{scope}	%N' \
	--map-C++=+.h -o - "${sources[@]}" |
	awk -F '\t' -v limit="$limit" '$2 != "" && $2 - $1 + 1 > limit {
		scope = ($4 == "" || $4 == "-" ? "" : $4 "::"); printf "  %4d lines  %s:%d  %s%s\n", $2 - $1 + 1, $3, $1, scope, $5 }' |
	sort -rn)
count=$(printf '%s' "$long" | grep -c . || true)
echo "functions over $limit lines in ${components[*]}: $count (goal 0): $(verdict "$([ "$count" -eq 0 ] && echo true || echo false)")"
[ -z "$long" ] || printf '%s\n' "$long"

if ! command -v duplicates >/dev/null; then
	echo "duplicates: not measured (the duplicates tool is not installed)"
	[ "$check" = false ] || [ "$missed" -eq 0 ]
	exit
fi
for c in "${components[@]}"; do
	report=$(cd "$c" && duplicates --most 20)
	pairs=$(printf '%s\n' "$report" | grep -cE '^D[0-9]+ ' || true)
	real=$(printf '%s\n' "$report" | grep -E '^D[0-9]+ ' | grep -cv boilerplate || true)
	echo "duplicates inside $c/: $pairs pairs, $real not boilerplate (goal <= 2, 0): $(verdict "$([ "$pairs" -le 2 ] && [ "$real" -eq 0 ] && echo true || echo false)")"
	printf '%s\n' "$report" | sed 's/^/  /'
done

[ "$check" = false ] || [ "$missed" -eq 0 ]
