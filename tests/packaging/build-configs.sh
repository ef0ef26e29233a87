#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# The build test (ctest label `build`): the three programs build without a warning, with warnings
# as errors, in every build type with both supported compilers (GCC 12 and clang 14). Only the
# programs are built (not the test suites), as unity builds, to keep the test within minutes.
# GCC Release is built static (-DKECHO_STATIC=ON): the bundle test (bundle-test.sh) packs that build
# instead of compiling the programs once more.
# The main build of scripts/test.sh (GCC, RelWithDebInfo, -DKECHO_WERROR=ON) counts as that
# configuration when it is one: it is not built twice.
# Every pair takes about 6 minutes on 2 cores, more than scripts/test.sh's budget allows, so by
# default the test builds GCC Release (static: the bundle's build, needed anyway) and clang Debug
# next to the main GCC RelWithDebInfo build; KECHO_BUILD_CONFIGS=all builds all six
# (KECHO_BUILD_CONFIGS="gcc-Debug clang-Release" names others).
#
#   build-configs.sh SOURCE_DIR MAIN_BUILD_DIR WORK_DIR
set -euo pipefail
[ $# -eq 3 ] || { echo "build-configs.sh: usage: build-configs.sh SOURCE_DIR MAIN_BUILD_DIR WORK_DIR" >&2; exit 2; }
src=$1 main=$2 work=$3
programs=(bench user-echo-server echo-loader)
jobs=${KECHO_JOBS:-$(nproc)}

cache_value() { sed -n "s/^$1:[A-Z]*=//p" "$main/CMakeCache.txt" 2>/dev/null; }
launcher=$(cache_value CMAKE_CXX_COMPILER_LAUNCHER)  # ccache where the main build uses it

# The main build is GCC RelWithDebInfo with warnings as errors: that configuration is done.
main_covers() {
	[ "$1" = gcc ] && [ "$2" = RelWithDebInfo ] && [ "$(cache_value KECHO_WERROR)" = ON ] &&
		[ "$(cache_value CMAKE_BUILD_TYPE)" = RelWithDebInfo ] &&
		"$(cache_value CMAKE_CXX_COMPILER)" --version 2>/dev/null | grep -q 'Free Software Foundation'
}

wanted=${KECHO_BUILD_CONFIGS:-gcc-Release clang-Debug}
[ "$wanted" = all ] && wanted="gcc-Release gcc-RelWithDebInfo gcc-Debug clang-Release clang-RelWithDebInfo clang-Debug"
wanted_config() { case " $wanted " in *" $1 "*) return 0 ;; *) return 1 ;; esac; }

mkdir -p "$work"
failed=()
for compiler in gcc clang; do
	if [ $compiler = gcc ]; then cc=gcc cxx=g++; else cc=clang cxx=clang++; fi
	command -v $cxx >/dev/null || { echo "build-configs.sh: $cxx not found: run scripts/install-deps.sh" >&2; exit 1; }
	for type in Release RelWithDebInfo Debug; do
		if main_covers $compiler $type; then
			echo "== $compiler $type: the main build ($main) is this configuration, built with -DKECHO_WERROR=ON"
			continue
		fi
		if ! wanted_config $compiler-$type; then
			echo "== $compiler $type: not built this time (KECHO_BUILD_CONFIGS=all builds it)"
			continue
		fi
		dir=$work/$compiler-$type
		static=OFF
		[ $compiler-$type = gcc-Release ] && static=ON
		start=$(date +%s)
		if cmake -S "$src" -B "$dir" -DCMAKE_BUILD_TYPE=$type -DKECHO_WERROR=ON -DKECHO_TESTS=OFF -DKECHO_STATIC=$static -DCMAKE_UNITY_BUILD=ON \
			-DCMAKE_C_COMPILER=$cc -DCMAKE_CXX_COMPILER=$cxx \
			${launcher:+-DCMAKE_CXX_COMPILER_LAUNCHER=$launcher -DCMAKE_C_COMPILER_LAUNCHER=$launcher} \
			>"$dir.log" 2>&1 &&
			cmake --build "$dir" -j "$jobs" --target "${programs[@]}" >>"$dir.log" 2>&1; then
			echo "== $compiler $type: clean ($(($(date +%s) - start)) s)"
		else
			echo "== $compiler $type: FAILED ($dir.log):"
			grep -E 'error|warning' "$dir.log" | head -n 20
			failed+=("$compiler-$type")
		fi
	done
done
[ ${#failed[@]} -eq 0 ] || { echo "build-configs.sh: did not build clean: ${failed[*]}" >&2; exit 1; }
echo "build-configs.sh: ${programs[*]} build clean in every configuration built above"
