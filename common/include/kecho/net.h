// SPDX-License-Identifier: GPL-2.0-only
// Socket helpers shared by the loader, the user server and the bench.
#pragma once

#include <netinet/in.h>
#include <sys/socket.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "kecho/unique_fd.h"

namespace kecho {

// An IPv4 or IPv6 socket address.
struct SocketAddress {
    sockaddr_storage storage{};
    socklen_t length = 0;

    int family() const { return storage.ss_family; }
    const sockaddr* get() const { return reinterpret_cast<const sockaddr*>(&storage); }
    sockaddr* get() { return reinterpret_cast<sockaddr*>(&storage); }
    std::uint16_t port() const;
    // "127.0.0.1:23001" or "[::1]:23001".
    std::string to_string() const;
};

// Parses a numeric IPv4 or IPv6 address ("0.0.0.0", "::", "[::1]", "localhost" maps to 127.0.0.1).
// Throws Error("invalid address '...': ...") on anything else.
SocketAddress parse_address(const std::string& host, std::uint16_t port);

// Parses "1".."65535"; throws Error on anything else.
std::uint16_t parse_port(const std::string& text);

// Parses a byte count with an optional K/M/G (binary) suffix: "4096", "4M", "16MiB".
// Throws Error on garbage, negative numbers or overflow.
std::uint64_t parse_bytes(const std::string& text);

struct ListenOptions {
    int backlog = 4096;
    bool reuse_port = false;
    bool nonblocking = true;
    bool nodelay = false;  // TCP_NODELAY, which accepted sockets inherit: one system call less per connection
};

// socket + SO_REUSEADDR + SO_OOBINLINE (urgent bytes inline: every server of ours echoes them in
// place) (+ SO_REUSEPORT) + bind + listen. A busy port throws
// Error("cannot listen on 0.0.0.0:23001: address already in use (another server running?)").
UniqueFd make_listener(const SocketAddress& address, const ListenOptions& options = {});

// `count` listeners on `address` in one SO_REUSEPORT group (the kernel spreads new connections over
// them), one per thread of a server; a single one is a plain listener unless options.reuse_port.
// A group is checked first with a plain bind: that fails on any listener of the port, where a
// SO_REUSEPORT one would silently join another process's group and share its connections. Throws
// Error as make_listener does.
std::vector<UniqueFd> make_listener_group(const SocketAddress& address, unsigned count, ListenOptions options = {});

// Blocking connect with a timeout in milliseconds; throws Error naming the address on failure.
UniqueFd connect_to(const SocketAddress& address, int timeout_ms = 5000);

void set_nonblocking(int fd, bool on = true);
void set_nodelay(int fd, bool on = true);

// The TCP_INFO fields we use (the kernel's struct, not glibc's older copy of it): the loader's
// "every received byte was echoed" check.
struct TcpInfo {
    std::uint8_t state = 0;
    std::uint64_t bytes_acked = 0;     // bytes we sent that the peer acknowledged
    std::uint64_t bytes_received = 0;  // bytes we received (sequence-space, excludes SYN/FIN)
};

// TCP_INFO of a connected socket (nullopt when the kernel refuses it).
std::optional<TcpInfo> get_tcp_info(int fd);

// SO_COOKIE: the kernel's 64-bit id of the socket (what bpf_get_socket_cookie returns).
std::optional<std::uint64_t> get_socket_cookie(int fd);

// Bytes in the send queue not yet acknowledged by the peer (SIOCOUTQ).
std::optional<int> get_outq(int fd);

// The local address a socket is bound to.
SocketAddress local_address(int fd);

// Resets the connection on close (SO_LINGER 0) and closes it.
void reset_and_close(UniqueFd fd);

}  // namespace kecho
