# SPDX-License-Identifier: GPL-2.0-only
# CPack: two Debian packages from the install components (cmake/KechoInstall.cmake):
#   kecho-bpf   the programs, man pages, completion, systemd units, docs (dependencies from
#               dpkg-shlibdeps; maintainer scripts in packaging/systemd)
#   kecho-dkms  the module source for DKMS (architecture all)
# Build them with `cpack -G DEB` in the build tree, or scripts/package.sh from a fresh clone.
set(CPACK_PACKAGE_NAME kecho-bpf)
set(CPACK_PACKAGE_VENDOR "kecho-bpf")
set(CPACK_PACKAGE_CONTACT "kecho-bpf maintainers <kecho-bpf@example.org>")
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "TCP echo in user space, a kernel module and eBPF, and a benchmark")
set(CPACK_RESOURCE_FILE_LICENSE ${CMAKE_SOURCE_DIR}/LICENSE)
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_PACKAGE_DIRECTORY ${CMAKE_BINARY_DIR}/packages)
set(CPACK_STRIP_FILES ON)

set(CPACK_GENERATOR DEB)
set(CPACK_DEB_COMPONENT_INSTALL ON)
set(CPACK_COMPONENTS_ALL programs dkms)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_RELEASE 1)
set(CPACK_DEBIAN_PACKAGE_SECTION net)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
set(CPACK_DEBIAN_PACKAGE_HOMEPAGE "https://github.com/kecho-bpf/kecho-bpf")
set(CPACK_DEBIAN_COMPRESSION_TYPE xz)

set(CPACK_DEBIAN_PROGRAMS_PACKAGE_NAME kecho-bpf)
set(CPACK_DEBIAN_PROGRAMS_PACKAGE_SHLIBDEPS ON)
# Maintainer scripts: systemd reloads the units; removal stops the services, an upgrade restarts them.
set(CPACK_DEBIAN_PROGRAMS_PACKAGE_CONTROL_EXTRA
    "${CMAKE_SOURCE_DIR}/packaging/systemd/postinst;${CMAKE_SOURCE_DIR}/packaging/systemd/prerm;${CMAKE_SOURCE_DIR}/packaging/systemd/postrm")
set(CPACK_COMPONENT_PROGRAMS_DESCRIPTION
    "TCP echo servers in user space and eBPF, and the benchmark that compares them
 kecho-user-echo-server echoes in user space (epoll, io_uring).
 kecho-echo-loader echoes inside the kernel through an eBPF sockmap.
 kecho-bench drives every server the same way, checks every byte and
 compares them. The kernel-module server is in kecho-dkms.")

set(CPACK_DEBIAN_DKMS_PACKAGE_NAME kecho-dkms)
set(CPACK_DEBIAN_DKMS_PACKAGE_ARCHITECTURE all)
set(CPACK_DEBIAN_DKMS_PACKAGE_DEPENDS "dkms")
set(CPACK_DEBIAN_DKMS_PACKAGE_SECTION kernel)
set(CPACK_DEBIAN_DKMS_PACKAGE_CONTROL_EXTRA "${CMAKE_BINARY_DIR}/packaging/dkms/postinst;${CMAKE_BINARY_DIR}/packaging/dkms/prerm")
set(CPACK_COMPONENT_DKMS_DESCRIPTION
    "TCP echo server as a Linux kernel module (DKMS source)
 kecho.ko echoes TCP on port ${KECHO_PORT_KMOD} from kernel sockets and workqueues.
 DKMS builds it for each installed kernel: load it with modprobe kecho.")

include(CPack)
