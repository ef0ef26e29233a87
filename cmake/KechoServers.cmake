# SPDX-License-Identifier: GPL-2.0-only
# The server registry (common/include/kecho/servers.def) for CMake: KECHO_PORT_<MODE> (KECHO_PORT_BPF,
# KECHO_PORT_KMOD, ...) for the texts configure_file writes (systemd units, package descriptions).
set(KECHO_SERVERS_DEF ${CMAKE_SOURCE_DIR}/common/include/kecho/servers.def)
set_property(DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS ${KECHO_SERVERS_DEF})
file(STRINGS ${KECHO_SERVERS_DEF} kecho_server_entries REGEX "^KECHO_SERVER\\(")
foreach(entry ${kecho_server_entries})
  if(NOT entry MATCHES "^KECHO_SERVER\\(([a-z0-9_]+), *\"[^\"]*\", *([0-9]+),")
    message(FATAL_ERROR "servers.def: cannot read the mode and port of: ${entry}")
  endif()
  string(TOUPPER ${CMAKE_MATCH_1} mode)
  set(KECHO_PORT_${mode} ${CMAKE_MATCH_2})
  list(APPEND KECHO_PORT_VARIABLES KECHO_PORT_${mode})
endforeach()
