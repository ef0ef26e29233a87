#include "echo_server.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

#include "kecho/error.h"
#include "kecho/net.h"

namespace kecho::loader {
namespace {

using Clock = std::chrono::steady_clock;

constexpr int max_events = 256;
constexpr int max_accepts_per_wakeup = 512;
constexpr std::size_t fallback_buffer = 64 * 1024;
constexpr int max_reads_per_event = 16;
constexpr std::size_t max_early_resets = 65536;
constexpr auto accept_pause = std::chrono::milliseconds(100);

void warn(const std::string& message) {
    std::fprintf(stderr, "echo-loader: %s\n", message.c_str());
}

}  // namespace

EchoServer::EchoServer(UniqueFd listener, int sockets_fd, int events_fd, echo_loader_stats& stats,
                       ServerSettings settings)
    : listener_(std::move(listener)), sockets_fd_(sockets_fd), stats_(stats), settings_(settings) {
    epoll_.reset(::epoll_create1(EPOLL_CLOEXEC));
    if (!epoll_) throw_errno("cannot create an epoll instance", errno);
    ring_ = ring_buffer__new(events_fd, &EchoServer::ring_callback, this, nullptr);
    if (!ring_) throw_errno("cannot open the guard's ring buffer", errno);
}

EchoServer::~EchoServer() {
    // Connections first (they are in the socket hash), then the ring buffer.
    connections_.clear();
    if (ring_) ring_buffer__free(ring_);
}

void EchoServer::watch(int fd, std::uint32_t events, bool add) {
    epoll_event ev{};
    ev.events = events;
    ev.data.fd = fd;
    if (::epoll_ctl(epoll_.get(), add ? EPOLL_CTL_ADD : EPOLL_CTL_MOD, fd, &ev) != 0)
        throw_errno("cannot watch a socket with epoll", errno);
}

void EchoServer::run_loop(ShutdownSignal& shutdown, void (*periodic)(void*), void* ctx) {
    const int ring_fd = ring_buffer__epoll_fd(ring_);
    watch(listener_.get(), EPOLLIN, true);
    watch(shutdown.fd(), EPOLLIN, true);
    watch(ring_fd, EPOLLIN, true);

    auto next_stats = Clock::now() + settings_.stats_interval;
    bool accept_paused = false;
    auto last_drain_check = Clock::now();
    epoll_event events[max_events];
    for (;;) {
        int timeout = -1;
        if (!draining_.empty() || accept_paused) timeout = 1;
        if (settings_.stats_interval.count() > 0) {
            auto left = std::chrono::duration_cast<std::chrono::milliseconds>(next_stats - Clock::now()).count();
            left = left < 0 ? 0 : left;
            if (timeout < 0 || left < timeout) timeout = static_cast<int>(left);
        }
        int n = ::epoll_wait(epoll_.get(), events, max_events, timeout);
        if (n < 0) {
            if (errno == EINTR) continue;
            throw_errno("epoll_wait failed", errno);
        }
        bool stop = false;
        for (int i = 0; i < n; ++i) {
            int fd = events[i].data.fd;
            if (fd == listener_.get()) {
                accept_ready();
                if (accept_paused_until_ > Clock::now() && !accept_paused) {
                    ::epoll_ctl(epoll_.get(), EPOLL_CTL_DEL, listener_.get(), nullptr);
                    accept_paused = true;
                }
            } else if (fd == shutdown.fd()) {
                stop = shutdown.requested();
            } else if (fd == ring_fd) {
                ring_buffer__consume(ring_);
            } else {
                on_event(fd, events[i].events);
            }
        }
        if (stop) break;
        // At most once a millisecond: each check costs two syscalls per draining connection.
        if (!draining_.empty() && Clock::now() - last_drain_check >= std::chrono::milliseconds(1)) {
            check_draining();
            last_drain_check = Clock::now();
        }
        if (accept_paused && Clock::now() >= accept_paused_until_) {
            watch(listener_.get(), EPOLLIN, true);
            accept_paused = false;
        }
        if (settings_.stats_interval.count() > 0 && Clock::now() >= next_stats) {
            periodic(ctx);
            next_stats = Clock::now() + settings_.stats_interval;
        }
    }

    // Shutdown: no new connections; every connection closes now (drained ones gracefully, the
    // others reset by the kernel because unread bytes remain).
    ::epoll_ctl(epoll_.get(), EPOLL_CTL_DEL, listener_.get(), nullptr);
    listener_.reset();
    std::vector<int> fds;
    fds.reserve(connections_.size());
    for (const auto& [fd, conn] : connections_) fds.push_back(fd);
    for (int fd : fds) close_connection(fd, false);
}

void EchoServer::accept_ready() {
    for (int i = 0; i < max_accepts_per_wakeup; ++i) {
        int fd = ::accept4(listener_.get(), nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd >= 0) {
            add_connection(UniqueFd(fd));
            continue;
        }
        int err = errno;
        if (err == EAGAIN || err == EWOULDBLOCK) return;
        if (err == EINTR || err == ECONNABORTED) continue;
        auto now = Clock::now();
        if (now - last_accept_warning_ > std::chrono::seconds(10)) {
            last_accept_warning_ = now;
            if (err == EMFILE || err == ENFILE)
                warn("cannot accept: too many open files (raise 'ulimit -n'); pausing accepts for 100 ms");
            else
                warn(errno_message("cannot accept", err) + "; pausing accepts for 100 ms");
        }
        accept_paused_until_ = now + accept_pause;
        return;
    }
}

void EchoServer::add_connection(UniqueFd fd) {
    ++stats_.accepted;
    ++stats_.active;
    Connection conn;
    conn.cookie = get_socket_cookie(fd.get()).value_or(0);

    if (settings_.insert != InsertMode::none && conn.cookie != 0) {
        std::uint64_t value = 0;
        if (bpf_map_lookup_elem(sockets_fd_, &conn.cookie, &value) == 0) {
            conn.in_map = true;  // inserted by sockops before any data arrived
        } else {
            // Missed by sockops (or sockops is off): insert now. This fails once the peer has
            // already sent its FIN (CLOSE_WAIT); such a connection is echoed in user space.
            std::uint64_t sock = static_cast<std::uint64_t>(fd.get());
            int ret = bpf_map_update_elem(sockets_fd_, &conn.cookie, &sock, BPF_NOEXIST);
            if (ret == 0) {
                conn.in_map = true;
                ++stats_.inserted_by_loader;
            } else if (errno == EEXIST) {
                conn.in_map = true;
            }
        }
    }
    if (!conn.in_map) ++stats_.fallback;

    set_nodelay(fd.get());
    if (conn.in_map) {
        // Bytes queued before the insert wait for the next segment; a new low-water mark makes the
        // kernel hand them to the verdict now.
        int one = 1;
        ::setsockopt(fd.get(), SOL_SOCKET, SO_RCVLOWAT, &one, sizeof(one));
    }

    int raw = fd.get();
    conn.fd = std::move(fd);
    std::uint64_t cookie = conn.cookie;
    bool in_map = conn.in_map;
    connections_.emplace(raw, std::move(conn));
    if (cookie) by_cookie_[cookie] = raw;

    if (cookie && early_resets_.erase(cookie)) {
        ++stats_.guard_resets;
        close_connection(raw, true);
        return;
    }
    // In the map: never read (recv on an in-map socket can wedge it), only learn of the peer's FIN.
    watch(raw, in_map ? EPOLLRDHUP : (EPOLLIN | EPOLLRDHUP), true);
}

void EchoServer::on_event(int fd, std::uint32_t events) {
    auto it = connections_.find(fd);
    if (it == connections_.end()) return;
    Connection& conn = it->second;
    if (!conn.in_map) {
        fallback_io(conn, events);
        return;
    }
    if (events & EPOLLERR) {
        close_connection(fd, false);  // reset by the peer: nothing left to echo
        return;
    }
    if (events & (EPOLLRDHUP | EPOLLHUP)) start_drain(conn);
}

void EchoServer::fallback_io(Connection& conn, std::uint32_t events) {
    const int fd = conn.fd.get();
    if (events & EPOLLERR) {
        close_connection(fd, true);
        return;
    }
    // Write back what is pending first; read only when nothing is (bounded buffer per connection).
    char buffer[fallback_buffer];
    for (int round = 0; round < max_reads_per_event; ++round) {
        while (conn.out_offset < conn.out.size()) {
            ssize_t w = ::send(fd, conn.out.data() + conn.out_offset, conn.out.size() - conn.out_offset, MSG_NOSIGNAL);
            if (w < 0) {
                if (errno == EAGAIN || errno == EWOULDBLOCK) break;
                if (errno == EINTR) continue;
                close_connection(fd, true);
                return;
            }
            conn.out_offset += static_cast<std::size_t>(w);
            stats_.fallback_bytes += static_cast<std::uint64_t>(w);
        }
        if (conn.out_offset < conn.out.size()) break;  // peer slow: wait for EPOLLOUT
        conn.out.clear();
        conn.out_offset = 0;
        if (conn.peer_closed) break;
        ssize_t r = ::recv(fd, buffer, sizeof(buffer), 0);
        if (r > 0) {
            conn.out.assign(buffer, buffer + r);
            continue;
        }
        if (r == 0) {
            conn.peer_closed = true;
            break;
        }
        if (errno == EAGAIN || errno == EWOULDBLOCK) break;
        if (errno == EINTR) continue;
        close_connection(fd, true);
        return;
    }
    if (conn.out_offset < conn.out.size())
        watch(fd, EPOLLOUT, false);
    else if (conn.peer_closed)
        start_drain(conn);
    else
        watch(fd, EPOLLIN | EPOLLRDHUP, false);
}

void EchoServer::start_drain(Connection& conn) {
    if (conn.draining) return;
    conn.draining = true;
    conn.drain_deadline = Clock::now() + settings_.drain_timeout;
    ::epoll_ctl(epoll_.get(), EPOLL_CTL_DEL, conn.fd.get(), nullptr);
    if (drained(conn))
        close_connection(conn.fd.get(), false);
    else
        draining_.insert(conn.fd.get());
}

bool EchoServer::drained(const Connection& conn) const {
    auto info = get_tcp_info(conn.fd.get());
    if (!info || info->state == TCP_CLOSE) return true;
    auto outq = get_outq(conn.fd.get());
    if (!outq) return true;
    // Every received byte (+1: the peer's FIN) is either acknowledged or still in our send queue,
    // i.e. the kernel has echoed it; closing now loses nothing.
    return info->bytes_acked + static_cast<std::uint64_t>(*outq) + 1 >= info->bytes_received;
}

void EchoServer::check_draining() {
    auto now = Clock::now();
    std::vector<int> done, late;
    for (int fd : draining_) {
        const Connection& conn = connections_.at(fd);
        if (drained(conn))
            done.push_back(fd);
        else if (now >= conn.drain_deadline)
            late.push_back(fd);
    }
    for (int fd : done) close_connection(fd, false);
    for (int fd : late) {
        ++stats_.drain_timeouts;
        close_connection(fd, true);
    }
}

void EchoServer::close_connection(int fd, bool reset) {
    auto it = connections_.find(fd);
    if (it == connections_.end()) return;
    Connection& conn = it->second;
    if (conn.cookie) by_cookie_.erase(conn.cookie);
    draining_.erase(fd);
    ::epoll_ctl(epoll_.get(), EPOLL_CTL_DEL, fd, nullptr);
    if (reset)
        reset_and_close(std::move(conn.fd));
    else
        conn.fd.reset();
    connections_.erase(it);
    --stats_.active;
    ++stats_.closed;
}

void EchoServer::on_guard_event(std::uint64_t cookie) {
    auto it = by_cookie_.find(cookie);
    if (it == by_cookie_.end()) {
        // Reported before accept (or already reset: later segments of the same connection).
        if (early_resets_.size() >= max_early_resets) early_resets_.clear();
        early_resets_.insert(cookie);
        return;
    }
    ++stats_.guard_resets;
    close_connection(it->second, true);
}

int EchoServer::ring_callback(void* ctx, void* data, std::size_t size) {
    if (size < sizeof(echo_event)) return 0;
    echo_event event;
    std::memcpy(&event, data, sizeof(event));
    static_cast<EchoServer*>(ctx)->on_guard_event(event.cookie);
    return 0;
}

}  // namespace kecho::loader
