#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# The repository's formatting habits as a test: every C/C++ file as its .clang-format says
# (clang-format --dry-run -Werror), every shell script shellcheck clean.
#   check-style.sh clang-format|shellcheck SOURCE_DIR
# Fix what it reports with: clang-format -i FILE (or scripts/format.sh), and shellcheck's advice.
set -euo pipefail
check=${1:?usage: check-style.sh clang-format|shellcheck SOURCE_DIR}
cd "${2:?usage: check-style.sh clang-format|shellcheck SOURCE_DIR}"

# The tracked files (a clean clone); without git, every file but the build trees.
files() {
	if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
		git ls-files --cached --others --exclude-standard -- "$@"
	else
		find . -path ./build -prune -o -path './build-*' -prune -o -type f -print | sed 's|^\./||' |
			grep -E "$(printf '%s|' "$@" | sed 's/\*/.*/g; s/|$//')"
	fi
}

case $check in
clang-format)
	command -v clang-format >/dev/null || { echo "clang-format not found: scripts/install-deps.sh installs it" >&2; exit 1; }
	mapfile -t sources < <(files '*.c' '*.h' '*.cpp' '*.hpp' | grep -v '^vmlinux/')
	[ ${#sources[@]} -gt 0 ] || { echo "no C/C++ files found under $PWD" >&2; exit 1; }
	clang-format --dry-run -Werror "${sources[@]}"
	echo "clang-format: ${#sources[@]} files formatted as their .clang-format says"
	;;
shellcheck)
	command -v shellcheck >/dev/null || { echo "shellcheck not found: scripts/install-deps.sh installs it" >&2; exit 1; }
	mapfile -t scripts < <(files '*.sh' '.ci/run')
	[ ${#scripts[@]} -gt 0 ] || { echo "no shell scripts found under $PWD" >&2; exit 1; }
	shellcheck "${scripts[@]}"
	echo "shellcheck: ${#scripts[@]} scripts clean"
	;;
*)
	echo "unknown check '$check': expected clang-format or shellcheck" >&2
	exit 2
	;;
esac
