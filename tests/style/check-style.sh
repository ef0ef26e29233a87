#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# The repository's formatting habits as a test: every C/C++ file as its .clang-format says
# (clang-format --dry-run -Werror), every shell script shellcheck clean, and the server registry
# the one place that gives the servers' ports (no other tracked file but the docs names one).
#   check-style.sh clang-format|shellcheck|registry SOURCE_DIR
# Fix what it reports with: clang-format -i FILE (or scripts/format.sh), and shellcheck's advice.
set -euo pipefail
check=${1:?usage: check-style.sh clang-format|shellcheck|registry SOURCE_DIR}
cd "${2:?usage: check-style.sh clang-format|shellcheck|registry SOURCE_DIR}"

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
registry)
	registry=common/include/kecho/servers.def
	mapfile -t ports < <(sed -n 's/^KECHO_SERVER([a-z0-9_]*, *"[^"]*", *\([0-9]*\),.*/\1/p' "$registry")
	[ ${#ports[@]} -ge 6 ] || { echo "$registry: expected an entry per server, found ports: ${ports[*]}" >&2; exit 1; }
	pattern=$(IFS='|'; echo "${ports[*]}")
	mapfile -t others < <(files '*' | grep -vE '(^|/)docs/|\.md$' | grep -vxF "$registry" |
		while IFS= read -r f; do if [ -f "$f" ]; then grep -IlwE "$pattern" "$f" || true; fi; done)
	if [ ${#others[@]} -gt 0 ]; then
		echo "the servers' ports (${ports[*]}) belong to $registry alone; also named in:" >&2
		grep -nwE "$pattern" "${others[@]}" >&2
		exit 1
	fi
	echo "registry: the ports ${ports[*]} appear in $registry alone (docs aside)"
	;;
*)
	echo "unknown check '$check': expected clang-format, shellcheck or registry" >&2
	exit 2
	;;
esac
