// SPDX-License-Identifier: GPL-2.0-only
#include "kecho/net.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <linux/sockios.h>
#include <linux/tcp.h>
#include <poll.h>
#include <sys/ioctl.h>

#include <cerrno>
#include <charconv>
#include <cstring>

#include "kecho/error.h"

namespace kecho {

std::uint16_t SocketAddress::port() const {
    if (family() == AF_INET) return ntohs(reinterpret_cast<const sockaddr_in*>(&storage)->sin_port);
    if (family() == AF_INET6) return ntohs(reinterpret_cast<const sockaddr_in6*>(&storage)->sin6_port);
    return 0;
}

std::string SocketAddress::to_string() const {
    // Built by appending to one string: GCC 12's -Wrestrict misfires on `"[" + std::string(...)`
    // (operator+(const char*, string&&) inlines an insert it cannot prove is non-overlapping).
    char text[INET6_ADDRSTRLEN] = {};
    std::string out;
    if (family() == AF_INET) {
        inet_ntop(AF_INET, &reinterpret_cast<const sockaddr_in*>(&storage)->sin_addr, text, sizeof(text));
        out.append(text);
    } else if (family() == AF_INET6) {
        inet_ntop(AF_INET6, &reinterpret_cast<const sockaddr_in6*>(&storage)->sin6_addr, text, sizeof(text));
        out.append("[").append(text).append("]");
    } else {
        return "<unknown address family>";
    }
    return out.append(":").append(std::to_string(port()));
}

SocketAddress parse_address(const std::string& host_in, std::uint16_t port) {
    std::string host = host_in;
    if (host == "localhost") host = "127.0.0.1";
    if (host.size() >= 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
    SocketAddress address;
    auto* v4 = reinterpret_cast<sockaddr_in*>(&address.storage);
    auto* v6 = reinterpret_cast<sockaddr_in6*>(&address.storage);
    if (inet_pton(AF_INET, host.c_str(), &v4->sin_addr) == 1) {
        v4->sin_family = AF_INET;
        v4->sin_port = htons(port);
        address.length = sizeof(sockaddr_in);
        return address;
    }
    if (inet_pton(AF_INET6, host.c_str(), &v6->sin6_addr) == 1) {
        v6->sin6_family = AF_INET6;
        v6->sin6_port = htons(port);
        address.length = sizeof(sockaddr_in6);
        return address;
    }
    throw Error("invalid address '" + host_in + "': expected a numeric IPv4 or IPv6 address such as 127.0.0.1 or ::1");
}

std::uint16_t parse_port(const std::string& text) {
    unsigned value = 0;
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (ec != std::errc() || end != text.data() + text.size() || value < 1 || value > 65535)
        throw Error("invalid port '" + text + "': expected a number from 1 to 65535");
    return static_cast<std::uint16_t>(value);
}

std::uint64_t parse_bytes(const std::string& text) {
    std::uint64_t value = 0;
    const char* begin = text.data();
    const char* end = text.data() + text.size();
    auto [rest, ec] = std::from_chars(begin, end, value);
    if (ec != std::errc() || rest == begin)
        throw Error("invalid size '" + text + "': expected a byte count such as 4096, 64K or 16M");
    std::string suffix(rest, end);
    for (auto& c : suffix) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    unsigned shift = 0;
    if (suffix.empty() || suffix == "b")
        shift = 0;
    else if (suffix == "k" || suffix == "kb" || suffix == "kib")
        shift = 10;
    else if (suffix == "m" || suffix == "mb" || suffix == "mib")
        shift = 20;
    else if (suffix == "g" || suffix == "gb" || suffix == "gib")
        shift = 30;
    else
        throw Error("invalid size '" + text + "': unknown unit '" + suffix + "' (use K, M or G)");
    if (shift && value > (UINT64_MAX >> shift)) throw Error("invalid size '" + text + "': too large");
    return value << shift;
}

UniqueFd make_listener(const SocketAddress& address, const ListenOptions& options) {
    int type = SOCK_STREAM | SOCK_CLOEXEC | (options.nonblocking ? SOCK_NONBLOCK : 0);
    UniqueFd fd(::socket(address.family(), type, 0));
    if (!fd) throw_errno("cannot create a socket for " + address.to_string(), errno);
    int one = 1;
    ::setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    // Urgent bytes are ordinary data to an echo: read inline, in place (accepted sockets inherit it).
    ::setsockopt(fd.get(), SOL_SOCKET, SO_OOBINLINE, &one, sizeof(one));
    if (options.reuse_port && ::setsockopt(fd.get(), SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) != 0)
        throw_errno("cannot set SO_REUSEPORT on " + address.to_string(), errno);
    if (address.family() == AF_INET6) {
        // "::" listens on IPv4 too (dual stack), as users expect of a wildcard.
        int zero = 0;
        ::setsockopt(fd.get(), IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof(zero));
    }
    if (::bind(fd.get(), address.get(), address.length) != 0) {
        int err = errno;
        if (err == EADDRINUSE)
            throw Error("cannot listen on " + address.to_string() +
                        ": address already in use (another server running? pick another --port)");
        if (err == EACCES)
            throw Error("cannot listen on " + address.to_string() + ": permission denied (ports below 1024 need root)");
        throw_errno("cannot bind " + address.to_string(), err);
    }
    if (::listen(fd.get(), options.backlog) != 0) throw_errno("cannot listen on " + address.to_string(), errno);
    if (options.nodelay) set_nodelay(fd.get());
    return fd;
}

std::vector<UniqueFd> make_listener_group(const SocketAddress& address, unsigned count, ListenOptions options) {
    if (count > 1) options.reuse_port = true;
    if (options.reuse_port) {
        ListenOptions probe = options;
        probe.reuse_port = false;
        make_listener(address, probe).reset();
    }
    std::vector<UniqueFd> listeners;
    for (unsigned i = 0; i < count; ++i) listeners.push_back(make_listener(address, options));
    return listeners;
}

UniqueFd connect_to(const SocketAddress& address, int timeout_ms) {
    UniqueFd fd(::socket(address.family(), SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
    if (!fd) throw_errno("cannot create a socket", errno);
    if (::connect(fd.get(), address.get(), address.length) != 0) {
        if (errno != EINPROGRESS) throw_errno("cannot connect to " + address.to_string(), errno);
        pollfd p{fd.get(), POLLOUT, 0};
        int n = ::poll(&p, 1, timeout_ms);
        if (n == 0) throw Error("cannot connect to " + address.to_string() + ": timed out");
        if (n < 0) throw_errno("cannot connect to " + address.to_string(), errno);
        int err = 0;
        socklen_t len = sizeof(err);
        ::getsockopt(fd.get(), SOL_SOCKET, SO_ERROR, &err, &len);
        if (err != 0) throw_errno("cannot connect to " + address.to_string(), err);
    }
    set_nonblocking(fd.get(), false);
    return fd;
}

void set_nonblocking(int fd, bool on) {
    int flags = ::fcntl(fd, F_GETFL);
    if (flags < 0) throw_errno("fcntl(F_GETFL)", errno);
    flags = on ? (flags | O_NONBLOCK) : (flags & ~O_NONBLOCK);
    if (::fcntl(fd, F_SETFL, flags) != 0) throw_errno("fcntl(F_SETFL)", errno);
}

void set_nodelay(int fd, bool on) {
    int value = on ? 1 : 0;
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &value, sizeof(value));
}

std::optional<TcpInfo> get_tcp_info(int fd) {
    struct tcp_info raw {};
    socklen_t len = sizeof(raw);
    if (::getsockopt(fd, IPPROTO_TCP, TCP_INFO, &raw, &len) != 0) return std::nullopt;
    TcpInfo info;
    info.state = raw.tcpi_state;
    info.bytes_acked = raw.tcpi_bytes_acked;
    info.bytes_received = raw.tcpi_bytes_received;
    return info;
}

std::optional<std::uint64_t> get_socket_cookie(int fd) {
    std::uint64_t cookie = 0;
    socklen_t len = sizeof(cookie);
    if (::getsockopt(fd, SOL_SOCKET, SO_COOKIE, &cookie, &len) != 0) return std::nullopt;
    return cookie;
}

std::optional<int> get_outq(int fd) {
    int pending = 0;
    if (::ioctl(fd, SIOCOUTQ, &pending) != 0) return std::nullopt;
    return pending;
}

SocketAddress local_address(int fd) {
    SocketAddress address;
    address.length = sizeof(address.storage);
    if (::getsockname(fd, address.get(), &address.length) != 0) throw_errno("getsockname", errno);
    return address;
}

void reset_and_close(UniqueFd fd) {
    if (!fd) return;
    linger l{1, 0};
    ::setsockopt(fd.get(), SOL_SOCKET, SO_LINGER, &l, sizeof(l));
    fd.reset();
}

}  // namespace kecho
