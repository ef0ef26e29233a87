# SPDX-License-Identifier: GPL-2.0-only
# What `cmake --install` puts on a system (GNUInstallDirs), in two components:
#   programs  kecho-bench, kecho-echo-loader, kecho-user-echo-server (the build tree keeps bench,
#             echo-loader, user-echo-server), their man pages (help2man, from --help at build time),
#             bash completion, systemd units, the docs
#   dkms      the module's source and dkms.conf in /usr/src/kecho-VERSION
# echo.bpf.o is not installed: echo-loader carries it in its skeleton.
include(GNUInstallDirs)

set(KECHO_PROGRAMS bench echo-loader user-echo-server)
set(kecho_pkg ${CMAKE_SOURCE_DIR}/packaging)
set(kecho_gen ${CMAKE_BINARY_DIR}/packaging)

# One-line descriptions for the man pages' NAME section.
set(kecho_summary_bench "benchmark client that drives every kecho-bpf echo server and checks every byte")
set(kecho_summary_echo-loader "TCP echo inside the kernel through an eBPF sockmap")
set(kecho_summary_user-echo-server "TCP echo server in user space (epoll, io_uring)")

foreach(program ${KECHO_PROGRAMS})
  install(PROGRAMS $<TARGET_FILE:${program}> DESTINATION ${CMAKE_INSTALL_BINDIR}
          RENAME kecho-${program} COMPONENT programs)
  # install(PROGRAMS) is not stripped by `cmake --install --strip` or CPACK_STRIP_FILES: do it here.
  install(CODE "if(CMAKE_INSTALL_DO_STRIP)
      execute_process(COMMAND ${CMAKE_STRIP} \"\$ENV{DESTDIR}\${CMAKE_INSTALL_PREFIX}/${CMAKE_INSTALL_BINDIR}/kecho-${program}\")
    endif()" COMPONENT programs)
  install(FILES ${kecho_pkg}/completion/kecho.bash DESTINATION ${CMAKE_INSTALL_DATADIR}/bash-completion/completions
          RENAME kecho-${program} COMPONENT programs)
endforeach()

# Man pages: help2man runs each program's --help and --version (at build time, target `man`).
find_program(HELP2MAN help2man)
if(HELP2MAN)
  set(man_pages)
  foreach(program ${KECHO_PROGRAMS})
    set(page ${kecho_gen}/man/kecho-${program}.1)
    add_custom_command(
      OUTPUT ${page}.gz
      COMMAND ${CMAKE_COMMAND} -E make_directory ${kecho_gen}/man
      COMMAND ${CMAKE_COMMAND} -E create_symlink $<TARGET_FILE:${program}> ${kecho_gen}/man/kecho-${program}
      COMMAND ${HELP2MAN} --no-info --no-discard-stderr --name=${kecho_summary_${program}}
              --version-string=${PROJECT_VERSION}
              --section=1 --output=${page} ${kecho_gen}/man/kecho-${program}
      COMMAND gzip -9nf ${page}
      DEPENDS ${program}
      COMMENT "man page kecho-${program}.1 (help2man)"
      VERBATIM)
    list(APPEND man_pages ${page}.gz)
  endforeach()
  add_custom_target(man ALL DEPENDS ${man_pages})
  install(FILES ${man_pages} DESTINATION ${CMAKE_INSTALL_MANDIR}/man1 COMPONENT programs)
else()
  message(STATUS "help2man not found: no man pages (apt-get install help2man, or run scripts/install-deps.sh)")
endif()

# systemd units, with the installed program paths: written at install time, when the prefix is
# known (CPack installs to /usr whatever the build tree was configured with).
set(KECHO_SYSTEMD_UNITDIR "lib/systemd/system" CACHE STRING "systemd unit directory, relative to the prefix")
set(kecho_port_sets "")
foreach(variable ${KECHO_PORT_VARIABLES})
  string(APPEND kecho_port_sets "set(${variable} ${${variable}})\n")
endforeach()
foreach(unit kecho-echo-loader.service kecho-user-echo-server@.service)
  install(CODE "set(KECHO_INSTALL_BINDIR \"\${CMAKE_INSTALL_PREFIX}/${CMAKE_INSTALL_BINDIR}\")
    ${kecho_port_sets}
    configure_file(${kecho_pkg}/systemd/${unit}.in ${kecho_gen}/systemd/${unit} @ONLY)"
    COMPONENT programs)
  install(FILES ${kecho_gen}/systemd/${unit} DESTINATION ${KECHO_SYSTEMD_UNITDIR} COMPONENT programs)
endforeach()

# Docs: README, docs/, copyright and changelog where Debian expects them (changelog.Debian.gz: the
# package version has a Debian revision, -1).
set(kecho_docdir ${CMAKE_INSTALL_DATADIR}/doc/kecho-bpf)
configure_file(${kecho_pkg}/debian/changelog.in ${kecho_gen}/changelog.Debian @ONLY)
add_custom_command(
  OUTPUT ${kecho_gen}/changelog.Debian.gz
  COMMAND gzip -9nkf ${kecho_gen}/changelog.Debian
  DEPENDS ${kecho_gen}/changelog.Debian
  VERBATIM)
add_custom_target(kecho_changelog ALL DEPENDS ${kecho_gen}/changelog.Debian.gz)
install(FILES ${CMAKE_SOURCE_DIR}/README.md ${kecho_pkg}/debian/copyright ${kecho_gen}/changelog.Debian.gz
        DESTINATION ${kecho_docdir} COMPONENT programs)
install(DIRECTORY ${CMAKE_SOURCE_DIR}/docs/ DESTINATION ${kecho_docdir} COMPONENT programs)

# The module's source for DKMS (package kecho-dkms), with its own copy of the docs Debian requires.
set(kecho_dkms_src ${CMAKE_INSTALL_PREFIX}/src/kecho-${PROJECT_VERSION})
configure_file(${kecho_pkg}/dkms/dkms.conf.in ${kecho_gen}/dkms/dkms.conf @ONLY)
install(FILES ${CMAKE_SOURCE_DIR}/kmod/Kbuild ${CMAKE_SOURCE_DIR}/kmod/Makefile ${CMAKE_SOURCE_DIR}/kmod/kecho.c
              ${KECHO_SERVERS_DEF} ${kecho_gen}/dkms/dkms.conf
        DESTINATION src/kecho-${PROJECT_VERSION} COMPONENT dkms)
install(FILES ${kecho_pkg}/debian/copyright ${kecho_gen}/changelog.Debian.gz
        DESTINATION ${CMAKE_INSTALL_DATADIR}/doc/kecho-dkms COMPONENT dkms)
foreach(script postinst prerm)
  configure_file(${kecho_pkg}/dkms/${script}.in ${kecho_gen}/dkms/${script} @ONLY
                 FILE_PERMISSIONS OWNER_READ OWNER_WRITE OWNER_EXECUTE GROUP_READ GROUP_EXECUTE WORLD_READ
                                  WORLD_EXECUTE)
endforeach()
