# SPDX-License-Identifier: GPL-2.0-only
# Shared by the scripts in scripts/: paths, messages, root re-exec. Sourced, not run.
# shellcheck shell=bash
KECHO_TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
KECHO_BUILD=${KECHO_BUILD:-$KECHO_TOP/build}

say() { printf '%s: %s\n' "$(basename "$0")" "$*" >&2; }
die() { say "$*"; exit 1; }
# bad_usage MESSAGE: a wrong argument; says so in one line and exits 2 (as every binary does).
bad_usage() { say "$* (see --help)"; exit 2; }
# need_value "$@": the option in $1 takes a value; exits 2 when none follows. Every script's
# argument loop reads: --opt) need_value "$@"; var=$2; shift 2 ;;
need_value() { [ $# -ge 2 ] || bad_usage "$1 needs a value"; }

# Re-runs the calling script as root through sudo (apt, BPF and QEMU need it), saying so.
# As root (CI, these machines) it does nothing.
need_root() {
	[ "$(id -u)" -eq 0 ] && return 0
	command -v sudo >/dev/null || die "this needs root (apt-get, BPF, QEMU) and sudo is not installed: run it as root"
	say "needs root for apt-get, BPF and QEMU: re-running through sudo"
	exec sudo --preserve-env=KECHO_BUILD,KECHO_JOBS,CI "$0" "$@"
}

# Configures (once) and builds everything into $KECHO_BUILD. Arguments are cmake -D options,
# applied to the build dir even when it is already configured (scripts/test.sh: -DKECHO_WERROR=ON).
# shellcheck disable=SC2120 # options are optional: most callers pass none
# ccache (the build's launcher where installed) is told to name files relative to the checkout and
# not to hash the build directory, so a fresh clone elsewhere (CI's) reuses what an earlier build
# compiled; the debug info then names the directory of the build that filled the cache.
build_all() {
	local jobs=${KECHO_JOBS:-$(nproc)}
	export CCACHE_BASEDIR=$KECHO_TOP CCACHE_NOHASHDIR=1
	if [ ! -f "$KECHO_BUILD/CMakeCache.txt" ]; then
		cmake -S "$KECHO_TOP" -B "$KECHO_BUILD" -DCMAKE_BUILD_TYPE=RelWithDebInfo "$@" >/dev/null ||
			die "cmake configure failed (see the message above)"
	elif [ $# -gt 0 ]; then
		cmake -S "$KECHO_TOP" -B "$KECHO_BUILD" "$@" >/dev/null || die "cmake configure failed (see the message above)"
	fi
	cmake --build "$KECHO_BUILD" -j "$jobs" || die "build failed (see the compiler output above)"
}

# --- the server registry ----------------------------------------------------------------------
# registry [BENCH]: the servers, one line each: "mode engine port program role start..." (bench
# servers --no-heading, from common/include/kecho/servers.def); the scripts know no server otherwise.
registry() { "${1:-$KECHO_BUILD/bench}" servers --no-heading; }
# registry_field MODE FIELD [BENCH]: one field (engine, port, program, role) of a mode's entry.
registry_field() {
	local mode engine port program role _
	while read -r mode engine port program role _; do
		[ "$mode" = "$1" ] || continue
		case $2 in engine) echo "$engine" ;; port) echo "$port" ;; program) echo "$program" ;; role) echo "$role" ;; esac
		return 0
	done < <(registry "${3:-}")
	return 1
}

# --- servers a script starts and stops (compare.sh, perf.sh, reliability.sh) ----------------------
# KECHO_SERVERS holds "name pid" of every server started with server_start; server_stop_all
# (call it from the EXIT trap) stops them. Logs go to KECHO_SERVER_LOGS (a temporary directory
# unless the caller names one), one NAME.log per server (server_log NAME).
KECHO_SERVERS=()
KECHO_SERVER_LOGS=${KECHO_SERVER_LOGS:-}

listening() { ss -Hltn "sport = :$1" 2>/dev/null | grep -q .; }

# server_log NAME: the file server_start sends that server's stdout and stderr to.
server_log() { echo "$KECHO_SERVER_LOGS/$1.log"; }

# server_start NAME PORT COMMAND...: starts COMMAND in the background and waits (10 s at most)
# for its ready line ("echoing on"). COMMAND may begin with a wrapper that execs the server
# (nsenter --net=..., taskset): the pid recorded is the server's. Returns 1, with the reason
# said, when it did not start.
server_start() {
	local name=$1 port=$2 pid log _
	shift 2
	[ -n "$KECHO_SERVER_LOGS" ] || KECHO_SERVER_LOGS=$(mktemp -d /tmp/kecho-servers.XXXXXX)
	mkdir -p "$KECHO_SERVER_LOGS"
	log=$(server_log "$name")
	"$@" >"$log" 2>&1 &
	pid=$!
	for _ in $(seq 100); do
		if grep -q "echoing on" "$log"; then
			KECHO_SERVERS+=("$name $pid")
			say "$name: started (pid $pid, port $port): $(grep -m1 'echoing on' "$log")"
			return 0
		fi
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	say "$name: did not start: $(tail -n 2 "$log" | tr '\n' ' ')"
	server_kill_pid "$name" "$pid"
	return 1
}

# server_pid NAME: the pid server_start recorded (empty when not started).
server_pid() {
	local entry
	for entry in "${KECHO_SERVERS[@]}"; do
		[ "${entry%% *}" = "$1" ] && echo "${entry#* }" && return 0
	done
	return 0
}

# server_kill_pid NAME PID [SIGNAL]: SIGNAL (default TERM), 15 s to exit (echo-loader closes
# every connection and detaches), then SIGKILL (said).
server_kill_pid() {
	local name=$1 pid=$2 signal=${3:-TERM} _
	kill "-$signal" "$pid" 2>/dev/null || return 0
	for _ in $(seq 150); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	if kill -0 "$pid" 2>/dev/null; then
		say "$name (pid $pid) ignored SIG$signal for 15 s: killing it"
		kill -KILL "$pid" 2>/dev/null || true
	fi
	wait "$pid" 2>/dev/null || true
}

# server_stop NAME [SIGNAL]: stops the server started under that name (SIGTERM, or SIGNAL:
# KILL is how a crash looks).
server_stop() {
	local entry keep=()
	for entry in "${KECHO_SERVERS[@]}"; do
		if [ "${entry%% *}" = "$1" ]; then
			server_kill_pid "$1" "${entry#* }" "${2:-TERM}"
		else
			keep+=("$entry")
		fi
	done
	KECHO_SERVERS=("${keep[@]}")
}

# server_stop_all: every server started, and their logs.
server_stop_all() {
	local entry
	for entry in "${KECHO_SERVERS[@]}"; do server_kill_pid "${entry%% *}" "${entry#* }"; done
	KECHO_SERVERS=()
	[ -z "$KECHO_SERVER_LOGS" ] || rm -rf "$KECHO_SERVER_LOGS"
	KECHO_SERVER_LOGS=
}

# Prints the calling script's usage: its header comment (the first comment block after the #! and
# SPDX lines), without the leading "# ". Every script's --help uses it.
print_usage() {
	awk 'NR == 1 || /SPDX-License-Identifier/ { next } /^#/ { sub(/^# ?/, ""); print; next } { exit }' "$0"
}
