// SPDX-License-Identifier: GPL-2.0-only
#include "echo_worker.h"

#include <bpf/bpf.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <optional>
#include <string>

#include "kecho/error.h"
#include "kecho/net.h"

namespace kecho::loader {
namespace {

using std::chrono::microseconds;
using std::chrono::milliseconds;

constexpr int max_events = 256;
constexpr int max_accepts_per_wakeup = 512;
constexpr std::size_t fallback_buffer = 64 * 1024;
constexpr int max_reads_per_event = 16;
constexpr std::size_t max_early_resets = 65536;
constexpr std::size_t max_mailbox = 65536;
constexpr auto accept_pause = milliseconds(100);
// A closing connection is checked right away, then after 250 us, 500 us, 1 ms ... at most every
// 50 ms until its drain timeout: the kernel's backlog work usually finishes within microseconds,
// and a peer reading slowly costs 20 checks a second instead of 1,000.
constexpr microseconds first_drain_check{250};
constexpr microseconds max_drain_check_interval{50000};

void warn(const std::string& message) {
    std::fprintf(stderr, "echo-loader: %s\n", message.c_str());
}

}  // namespace

EchoWorker::EchoWorker(UniqueFd listener, const EchoMaps& maps, int stop_fd, echo_loader_stats& stats,
                       const ServerSettings& settings)
    : listener_(std::move(listener)),
      sockets_fd_(maps.sockets_fd),
      sockops_failures_(maps.sockops_failures),
      stop_fd_(stop_fd),
      stats_(stats),
      settings_(settings) {
    epoll_.reset(::epoll_create1(EPOLL_CLOEXEC));
    if (!epoll_) throw_errno("cannot create an epoll instance", errno);
    mailbox_fd_.reset(::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC));
    if (!mailbox_fd_) throw_errno("cannot create an eventfd", errno);
}

EchoWorker::~EchoWorker() = default;

void EchoWorker::watch(int fd, std::uint32_t events, bool add) {
    epoll_event ev{};
    ev.events = events;
    ev.data.fd = fd;
    if (::epoll_ctl(epoll_.get(), add ? EPOLL_CTL_ADD : EPOLL_CTL_MOD, fd, &ev) != 0)
        throw_errno("cannot watch a socket with epoll", errno);
}

void EchoWorker::run() {
    watch(listener_.get(), EPOLLIN, true);
    watch(stop_fd_, EPOLLIN, true);
    watch(mailbox_fd_.get(), EPOLLIN, true);
    epoll_event events[max_events];
    bool stop = false;
    while (!stop) {
        int timeout_us = wait_timeout_us();
        timespec timeout{timeout_us / 1000000, (timeout_us % 1000000) * 1000L};
        int n = ::epoll_pwait2(epoll_.get(), events, max_events, timeout_us < 0 ? nullptr : &timeout, nullptr);
        if (n < 0 && errno != EINTR) throw_errno("epoll_wait failed", errno);
        for (int i = 0; i < n; ++i) stop = dispatch(events[i]) || stop;
        run_due_drain_checks();
        pause_or_resume_accepting();
    }
    close_all();
}

// Until the next drain check or the end of an accept pause; -1: nothing is due.
int EchoWorker::wait_timeout_us() const {
    auto now = Clock::now();
    Clock::time_point next = Clock::time_point::max();
    if (!drain_checks_.empty()) next = drain_checks_.top().due;
    if (accept_paused_) next = std::min(next, accept_paused_until_);
    if (next == Clock::time_point::max()) return -1;
    auto left = std::chrono::duration_cast<microseconds>(next - now).count();
    return static_cast<int>(std::clamp<long long>(left, 0, 1000000));
}

// Returns true when the worker must stop.
bool EchoWorker::dispatch(const epoll_event& event) {
    const int fd = event.data.fd;
    if (fd == listener_.get()) {
        accept_ready();
    } else if (fd == stop_fd_) {
        return true;
    } else if (fd == mailbox_fd_.get()) {
        take_mailbox();
    } else {
        on_event(fd, event.events);
    }
    return false;
}

void EchoWorker::accept_ready() {
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

// Out of fds: the listener leaves the epoll set for accept_pause, then comes back.
void EchoWorker::pause_or_resume_accepting() {
    auto now = Clock::now();
    if (!accept_paused_ && accept_paused_until_ > now) {
        ::epoll_ctl(epoll_.get(), EPOLL_CTL_DEL, listener_.get(), nullptr);
        accept_paused_ = true;
    } else if (accept_paused_ && now >= accept_paused_until_) {
        watch(listener_.get(), EPOLLIN, true);
        accept_paused_ = false;
    }
}

// True when the connection is (now) in the socket hash.
bool EchoWorker::insert_into_map(Connection& conn) {
    if (settings_.insert == InsertMode::none || conn.cookie == 0) return false;
    // sockops has run for this socket before accept() returned it (accept takes the socket's lock,
    // under which the handshake's last ACK is processed): while no sockops insert has failed, it is
    // in the map, and the lookup below (a syscall per connection) would only confirm it.
    if (settings_.insert == InsertMode::sockops && sockops_failures_ &&
        __atomic_load_n(sockops_failures_, __ATOMIC_ACQUIRE) == 0)
        return true;
    std::uint64_t value = 0;
    if (bpf_map_lookup_elem(sockets_fd_, &conn.cookie, &value) == 0) return true;  // sockops did it
    // Missed by sockops (or sockops is off): insert now. This fails once the peer has already sent
    // its FIN (CLOSE_WAIT); such a connection is echoed in user space.
    std::uint64_t sock = static_cast<std::uint64_t>(conn.fd.get());
    if (bpf_map_update_elem(sockets_fd_, &conn.cookie, &sock, BPF_NOEXIST) == 0) {
        ++stats_.inserted_by_loader;
        return true;
    }
    return errno == EEXIST;
}

void EchoWorker::add_connection(UniqueFd fd) {
    ++stats_.accepted;
    ++stats_.active;
    Connection conn;
    conn.cookie = get_socket_cookie(fd.get()).value_or(0);
    conn.serial = next_serial_++;
    conn.fd = std::move(fd);
    conn.in_map = insert_into_map(conn);
    if (!conn.in_map) ++stats_.fallback;

    const int raw = conn.fd.get();  // TCP_NODELAY comes from the listener
    if (conn.in_map) {
        // Bytes queued before the insert wait for the next segment; a new low-water mark makes the
        // kernel hand them to the verdict now.
        int one = 1;
        ::setsockopt(raw, SOL_SOCKET, SO_RCVLOWAT, &one, sizeof(one));
    }
    const std::uint64_t cookie = conn.cookie;
    const bool in_map = conn.in_map;
    connections_.emplace(raw, std::move(conn));
    // Reported before it was accepted: reset before the registry shows it to reset_now().
    if (cookie && early_resets_.erase(cookie)) {
        ++stats_.guard_resets;
        close_connection(raw, true);
        return;
    }
    if (cookie) {
        std::lock_guard lock(registry_mutex_);
        by_cookie_[cookie] = raw;
    }
    // In the map: never read (recv on an in-map socket can wedge it), only learn of the peer's FIN.
    watch(raw, in_map ? EPOLLRDHUP : (EPOLLIN | EPOLLRDHUP), true);
}

void EchoWorker::on_event(int fd, std::uint32_t events) {
    auto it = connections_.find(fd);
    if (it == connections_.end()) return;
    Connection& conn = it->second;
    if (!conn.in_map) {
        fallback_io(conn, events);
        return;
    }
    // The peer's FIN may come with EPOLLERR (the verdict drops the FIN's empty skb, but a kernel
    // whose backlog sends one reports EPIPE after every byte before it is queued): drain either way.
    // A reset peer (TCP_CLOSE) passes the first drain check. EPOLLERR alone: the kernel stopped
    // echoing; nothing will drain.
    if (events & (EPOLLRDHUP | EPOLLHUP))
        start_drain(conn);
    else if (events & EPOLLERR)
        close_connection(fd, true);
}

// Writes back what is pending; false when the connection failed (it is closed then).
bool EchoWorker::fallback_flush(Connection& conn) {
    while (conn.out_offset < conn.out.size()) {
        ssize_t w =
            ::send(conn.fd.get(), conn.out.data() + conn.out_offset, conn.out.size() - conn.out_offset, MSG_NOSIGNAL);
        if (w < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK) return true;
            if (errno == EINTR) continue;
            close_connection(conn.fd.get(), true);
            return false;
        }
        conn.out_offset += static_cast<std::size_t>(w);
        stats_.fallback_bytes += static_cast<std::uint64_t>(w);
    }
    return true;
}

void EchoWorker::fallback_io(Connection& conn, std::uint32_t events) {
    const int fd = conn.fd.get();
    if (events & EPOLLERR) {
        close_connection(fd, true);
        return;
    }
    // Write back what is pending first; read only when nothing is (bounded buffer per connection).
    char buffer[fallback_buffer];
    for (int round = 0; round < max_reads_per_event; ++round) {
        if (!fallback_flush(conn)) return;
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

void EchoWorker::start_drain(Connection& conn) {
    if (conn.draining) return;
    conn.draining = true;
    conn.drain_deadline = Clock::now() + settings_.drain_timeout;
    if (drained(conn)) {
        close_connection(conn.fd.get(), false);
        return;
    }
    ::epoll_ctl(epoll_.get(), EPOLL_CTL_DEL, conn.fd.get(), nullptr);  // level-triggered RDHUP would repeat
    schedule_drain_check(conn, first_drain_check);
}

void EchoWorker::schedule_drain_check(Connection& conn, std::chrono::microseconds interval) {
    conn.drain_interval = interval;
    auto due = std::min(Clock::now() + interval, conn.drain_deadline);
    drain_checks_.push(DrainCheck{due, conn.fd.get(), conn.serial});
}

bool EchoWorker::drained(const Connection& conn) {
    ++stats_.drain_checks;
    auto info = get_tcp_info(conn.fd.get());
    if (!info || info->state == TCP_CLOSE) return true;
    // Usually the peer has acknowledged every echoed byte by the time its FIN comes: no need to ask
    // for the send queue (one syscall less per connection).
    if (info->bytes_acked + 1 >= info->bytes_received) return true;
    auto outq = get_outq(conn.fd.get());
    if (!outq) return true;
    // Every received byte (+1: the peer's FIN) is either acknowledged or still in our send queue,
    // i.e. the kernel has echoed it; closing now loses nothing.
    return info->bytes_acked + static_cast<std::uint64_t>(*outq) + 1 >= info->bytes_received;
}

// Checks the connections whose check is due; a check of a connection closed meanwhile (or of an
// older connection with the same fd) is dropped.
void EchoWorker::run_due_drain_checks() {
    const auto now = Clock::now();
    while (!drain_checks_.empty() && drain_checks_.top().due <= now) {
        DrainCheck check = drain_checks_.top();
        drain_checks_.pop();
        auto it = connections_.find(check.fd);
        if (it == connections_.end() || it->second.serial != check.serial || !it->second.draining) continue;
        Connection& conn = it->second;
        if (drained(conn)) {
            close_connection(check.fd, false);
        } else if (now >= conn.drain_deadline) {
            ++stats_.drain_timeouts;
            close_connection(check.fd, true);
        } else {
            schedule_drain_check(conn, std::min(conn.drain_interval * 2, max_drain_check_interval));
        }
    }
}

void EchoWorker::close_connection(int fd, bool reset) {
    auto it = connections_.find(fd);
    if (it == connections_.end()) return;
    Connection& conn = it->second;
    // close() takes the fd out of the epoll set (it is never duplicated): no EPOLL_CTL_DEL needed.
    {
        std::lock_guard lock(registry_mutex_);
        if (conn.cookie) by_cookie_.erase(conn.cookie);
        if (reset)
            reset_and_close(std::move(conn.fd));
        else
            conn.fd.reset();
    }
    connections_.erase(it);
    --stats_.active;
    ++stats_.closed;
}

// Shutdown: no new connections; every connection closes now (drained ones gracefully, the others
// reset by the kernel because unread bytes remain).
void EchoWorker::close_all() {
    ::epoll_ctl(epoll_.get(), EPOLL_CTL_DEL, listener_.get(), nullptr);
    listener_.reset();
    std::vector<int> fds;
    fds.reserve(connections_.size());
    for (const auto& [fd, conn] : connections_) fds.push_back(fd);
    for (int fd : fds) close_connection(fd, false);
}

bool EchoWorker::reset_now(std::uint64_t cookie) {
    std::lock_guard lock(registry_mutex_);
    auto it = by_cookie_.find(cookie);
    if (it == by_cookie_.end()) return false;
    // connect(AF_UNSPEC) disconnects: the kernel sends the RST at once and the fd stays open.
    sockaddr unspec{};
    unspec.sa_family = AF_UNSPEC;
    ::connect(it->second, &unspec, sizeof(unspec));
    // Out of the registry: a report this worker's mailbox still holds finds nothing to reset again.
    by_cookie_.erase(it);
    return true;
}

void EchoWorker::post_reset(std::uint64_t cookie) {
    {
        std::lock_guard lock(mailbox_mutex_);
        if (mailbox_.size() >= max_mailbox) return;  // a flood: the guard reports again on the next segment
        mailbox_.push_back(cookie);
    }
    std::uint64_t one = 1;
    (void)!::write(mailbox_fd_.get(), &one, sizeof(one));
}

void EchoWorker::take_mailbox() {
    std::uint64_t count = 0;
    (void)!::read(mailbox_fd_.get(), &count, sizeof(count));
    std::vector<std::uint64_t> cookies;
    {
        std::lock_guard lock(mailbox_mutex_);
        cookies.swap(mailbox_);
    }
    for (std::uint64_t cookie : cookies) on_guard_event(cookie);
}

// A report of a connection no worker had: remembered until it is accepted (or accepted meanwhile).
// Whoever takes the cookie out of the registry (this, or reset_now() on the ring's thread) resets
// the connection and counts it: once.
void EchoWorker::on_guard_event(std::uint64_t cookie) {
    std::optional<int> fd;
    {
        std::lock_guard lock(registry_mutex_);
        if (auto it = by_cookie_.find(cookie); it != by_cookie_.end()) {
            fd = it->second;
            by_cookie_.erase(it);
        }
    }
    if (!fd) {
        // Not ours: not accepted yet, another thread accepts it, or already reset.
        if (early_resets_.size() >= max_early_resets) early_resets_.clear();
        early_resets_.insert(cookie);
        return;
    }
    ++stats_.guard_resets;
    close_connection(*fd, true);
}

}  // namespace kecho::loader
