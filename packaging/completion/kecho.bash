# SPDX-License-Identifier: GPL-2.0-only
# bash completion for kecho-bench, kecho-echo-loader and kecho-user-echo-server (and the build
# tree's bench, echo-loader, user-echo-server). Options and choices are read from the program's own
# --help, so they are always the ones the installed version has.
_kecho_complete() {
	local cur=${COMP_WORDS[COMP_CWORD]} prev=${COMP_WORDS[COMP_CWORD - 1]} cmd=${COMP_WORDS[0]}
	local sub='' word help choices
	case ${cmd##*/} in
	*echo-loader)
		for word in "${COMP_WORDS[@]:1:COMP_CWORD-1}"; do
			case $word in attach | stats | status | detach | trace) sub=$word ;; esac
		done
		if [ -z "$sub" ] && [[ $cur != -* ]] && [[ $prev != --run-dir ]]; then
			mapfile -t COMPREPLY < <(compgen -W 'attach stats status detach trace' -- "$cur")
			return
		fi
		;;
	esac
	help=$("$cmd" ${sub:+"$sub"} --help 2>/dev/null) || return
	# A value after an option: the choices --help lists as "epoll: ..., uring: ...", else files.
	if [[ $prev == --* ]] && grep -Eq -- "^ *(-[a-z],)?$prev [A-Z]" <<<"$help"; then
		choices=$(grep -E -- "^ *(-[a-z],)?$prev " <<<"$help" | grep -oE '(; |  )[a-z][a-z-]*:' | tr -d ' ;:')
		if [ -n "$choices" ]; then
			mapfile -t COMPREPLY < <(compgen -W "$choices" -- "$cur")
		else
			mapfile -t COMPREPLY < <(compgen -f -- "$cur")
		fi
		return
	fi
	mapfile -t COMPREPLY < <(compgen -W "$(grep -oE -- '--[a-z][a-z0-9-]*' <<<"$help" | sort -u)" -- "$cur")
}
complete -F _kecho_complete kecho-bench kecho-echo-loader kecho-user-echo-server bench echo-loader user-echo-server
