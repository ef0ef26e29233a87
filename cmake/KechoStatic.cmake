# SPDX-License-Identifier: GPL-2.0-only
# -DKECHO_STATIC=ON: bench, user-echo-server and echo-loader linked statically (glibc, libstdc++,
# libbpf, libelf, zlib, libzstd when libelf needs it, liburing), so they run on any x86_64 Linux
# without our libraries: the portable bundle (scripts/bundle.sh). Needs the -dev packages' .a files.
option(KECHO_STATIC "link the programs statically (the portable bundle)" OFF)
if(NOT KECHO_STATIC)
  return()
endif()

# kecho_static_archive(<var> <name> <package>): the path of lib<name>.a, or stop naming the package.
function(kecho_static_archive var name package)
  find_library(${var} NAMES lib${name}.a)
  if(NOT ${var})
    message(FATAL_ERROR "lib${name}.a not found for -DKECHO_STATIC=ON: apt-get install ${package}")
  endif()
endfunction()
kecho_static_archive(KECHO_A_BPF bpf libbpf-dev)
kecho_static_archive(KECHO_A_ELF elf libelf-dev)
kecho_static_archive(KECHO_A_Z z zlib1g-dev)
kecho_static_archive(KECHO_A_URING uring liburing-dev)
set(libbpf_archives ${KECHO_A_BPF} ${KECHO_A_ELF} ${KECHO_A_Z})
# libelf built with zstd (compressed ELF sections) needs libzstd too.
execute_process(COMMAND nm -u ${KECHO_A_ELF} OUTPUT_VARIABLE elf_undefined ERROR_QUIET)
if(elf_undefined MATCHES "ZSTD_")
  kecho_static_archive(KECHO_A_ZSTD zstd libzstd-dev)
  list(APPEND libbpf_archives ${KECHO_A_ZSTD})
endif()

set_target_properties(PkgConfig::LIBBPF PROPERTIES INTERFACE_LINK_LIBRARIES "${libbpf_archives}")
set_target_properties(PkgConfig::LIBURING PROPERTIES INTERFACE_LINK_LIBRARIES "${KECHO_A_URING}")
add_link_options(-static)
message(STATUS "static programs: ${libbpf_archives} ${KECHO_A_URING}, libstdc++ and glibc")
