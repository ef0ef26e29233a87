#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# Checks (or adds) the SPDX license line of every source, script and build file git tracks: C, C++,
# headers, shell scripts (and any tracked file starting with #!), CMake files, Kbuild/Makefiles,
# systemd units, dkms.conf and bash completions. The line must sit in the first 3 lines and name
# GPL-2.0-only (or GPL-2.0, the kernel's spelling of the same licence, used in bpf/ and kmod/).
# vmlinux/ is generated from the kernel's BTF and is left as the kernel made it.
#
#   scripts/spdx.sh --check [FILE...]   list every file without the line; exit 1 if any
#   scripts/spdx.sh --fix FILE...       add the line to the files named (after a #! line)
#   scripts/spdx.sh --fix --all         add it to every tracked file that lacks it
set -euo pipefail
. "$(dirname "$0")/lib.sh"
top=$KECHO_TOP
license=GPL-2.0-only
pattern='SPDX-License-Identifier: (GPL-2\.0-only|GPL-2\.0)( |\*|$)'

# The comment a file's kind takes, or nothing when the file needs no SPDX line.
comment_for() {
	case ${1##*/} in
	*.c | *.cpp | *.h | *.hpp | *.def) echo '//' ;;
	*.sh | *.cmake | *.bash | CMakeLists.txt | Kbuild | Makefile | dkms.conf | *.service | *.conf) echo '#' ;;
	*.md | *.png | *.svg | *.txt | *.json | .gitignore | .clang-format | LICENSE | *.1 | *.in) ;;
	*) head -c 2 "$1" 2>/dev/null | grep -q '^#!' && echo '#' ;;
	esac
	return 0
}

# Every tracked file that should carry the line, relative to the top.
tracked_sources() {
	git -C "$top" ls-files | while IFS= read -r f; do
		case $f in vmlinux/*) continue ;; esac
		[ -f "$top/$f" ] || continue
		[ -n "$(comment_for "$top/$f")" ] && printf '%s\n' "$f"
	done
}

has_line() { head -n 3 "$1" | grep -Eq "$pattern"; }

add_line() {
	local file=$1 comment tmp
	comment=$(comment_for "$file")
	[ -n "$comment" ] || { echo "spdx.sh: $file: not a source, script or build file" >&2; return 1; }
	has_line "$file" && return 0
	tmp=$(mktemp "$file.spdx.XXXXXX")
	if head -n 1 "$file" | grep -q '^#!'; then
		{ head -n 1 "$file"; echo "$comment SPDX-License-Identifier: $license"; tail -n +2 "$file"; } >"$tmp"
	else
		{ echo "$comment SPDX-License-Identifier: $license"; cat "$file"; } >"$tmp"
	fi
	chmod --reference="$file" "$tmp"
	mv "$tmp" "$file"
	echo "spdx.sh: added to $file"
}

[ $# -ge 1 ] || bad_usage "say --check or --fix"
action=$1
shift
files=()
case $action in
--check)
	if [ $# -gt 0 ]; then files=("$@"); else mapfile -t files < <(tracked_sources); fi
	missing=0
	for f in "${files[@]}"; do
		path=$f
		[ -f "$path" ] || path=$top/$f
		[ -f "$path" ] || { echo "spdx.sh: $f: no such file" >&2; missing=$((missing + 1)); continue; }
		has_line "$path" || { echo "$f: no 'SPDX-License-Identifier: $license' line in its first 3 lines"; missing=$((missing + 1)); }
	done
	if [ "$missing" -gt 0 ]; then
		echo "spdx.sh: $missing of ${#files[@]} file(s) lack the SPDX line: run scripts/spdx.sh --fix FILE..." >&2
		exit 1
	fi
	echo "spdx.sh: all ${#files[@]} source, script and build files carry an SPDX line"
	;;
--fix)
	[ $# -gt 0 ] || bad_usage "--fix needs the files to change, or --all"
	if [ "$1" = --all ]; then
		mapfile -t files < <(tracked_sources)
		files=("${files[@]/#/$top/}")
	else
		files=("$@")
	fi
	for f in "${files[@]}"; do
		[ -f "$f" ] || bad_usage "$f: no such file"
		add_line "$f"
	done
	;;
-h | --help) print_usage ;;
*) bad_usage "unknown action '$action'" ;;
esac
