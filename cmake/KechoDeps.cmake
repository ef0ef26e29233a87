# SPDX-License-Identifier: GPL-2.0-only
# Every external dependency, found once. A missing one stops configure with the Debian package
# that provides it (scripts/install-deps.sh installs them all).
find_package(PkgConfig)
if(NOT PKG_CONFIG_FOUND)
  message(FATAL_ERROR "pkg-config not found: apt-get install pkg-config (or run scripts/install-deps.sh)")
endif()

function(kecho_require_pkg var module package)
  pkg_check_modules(${var} QUIET IMPORTED_TARGET ${module})
  if(NOT ${var}_FOUND)
    message(FATAL_ERROR "${module} not found: apt-get install ${package} (or run scripts/install-deps.sh)")
  endif()
  message(STATUS "found ${module} ${${var}_VERSION}")
endfunction()

kecho_require_pkg(LIBBPF libbpf libbpf-dev)
kecho_require_pkg(LIBURING liburing liburing-dev)

find_package(Threads REQUIRED)

find_package(CLI11 CONFIG QUIET)
if(NOT CLI11_FOUND)
  find_path(CLI11_INCLUDE_DIR CLI/CLI.hpp)
  if(NOT CLI11_INCLUDE_DIR)
    message(FATAL_ERROR "CLI11 not found: apt-get install libcli11-dev (or run scripts/install-deps.sh)")
  endif()
  add_library(CLI11::CLI11 INTERFACE IMPORTED)
  target_include_directories(CLI11::CLI11 INTERFACE ${CLI11_INCLUDE_DIR})
endif()

find_package(nlohmann_json 3 CONFIG QUIET)
if(NOT nlohmann_json_FOUND)
  message(FATAL_ERROR "nlohmann-json not found: apt-get install nlohmann-json3-dev (or run scripts/install-deps.sh)")
endif()

if(KECHO_TESTS)
  find_package(GTest CONFIG QUIET)
  if(NOT GTest_FOUND)
    find_package(GTest QUIET)
  endif()
  if(NOT GTest_FOUND)
    message(FATAL_ERROR "GoogleTest not found: apt-get install libgtest-dev googletest (or run scripts/install-deps.sh)")
  endif()
endif()

find_program(BPF_CLANG NAMES clang clang-14 clang-15 clang-16)
if(NOT BPF_CLANG)
  message(FATAL_ERROR "clang not found (needed to compile the BPF program): apt-get install clang llvm")
endif()
find_program(BPFTOOL NAMES bpftool PATHS /usr/sbin /sbin)
if(NOT BPFTOOL)
  message(FATAL_ERROR "bpftool not found (needed to generate the BPF skeleton): apt-get install bpftool")
endif()
