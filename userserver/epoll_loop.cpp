// SPDX-License-Identifier: GPL-2.0-only
// The epoll, floor and splice engines: edge-triggered, non-blocking, one registration per socket
// for its whole life (EPOLLIN | EPOLLPRI | EPOLLOUT | EPOLLRDHUP | EPOLLET), so the hot path is the
// connection's reads and writes and nothing else (connection.h: what a connection provides).
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <memory>
#include <optional>
#include <unordered_map>
#include <vector>

#include "kecho/error.h"
#include "kecho/net.h"
#include "log.h"
#include "loop.h"
#include "splice_connection.h"
#include "stream_connection.h"

namespace kecho::userserver {
namespace {

using Clock = std::chrono::steady_clock;

constexpr std::size_t scratch_size = 256 * 1024;  // one read buffer per thread, never per connection
constexpr int read_budget = 16;    // reads per connection per turn, so one fast sender cannot starve the rest
constexpr int accept_budget = 64;  // accepts per turn
constexpr int max_events = 256;

template <class Connection>
class EpollLoop final : public Loop {
public:
    // spin: never block in epoll_wait (timeout 0), the floor engine.
    EpollLoop(LoopContext context, bool spin)
        : context_(std::move(context)),
          spin_(spin),
          epoll_(::epoll_create1(EPOLL_CLOEXEC)),
          scratch_(new char[scratch_size]) {
        if (!epoll_) throw_errno("cannot create an epoll instance", errno);
        watch(context_.listener.get(), EPOLLIN | EPOLLET, &listener_tag_);
        watch(context_.stop_fd, EPOLLIN, &stop_tag_);
    }

    void run() override {
        epoll_event events[max_events];
        bool stopping = false;
        while (!stopping) {
            int n = ::epoll_wait(epoll_.get(), events, max_events, wait_timeout_ms());
            if (n < 0) {
                if (errno == EINTR) continue;
                throw_errno("epoll_wait failed", errno);
            }
            for (int i = 0; i < n; ++i) {
                void* tag = events[i].data.ptr;
                if (tag == &listener_tag_) {
                    accept_pending_ = true;
                } else if (tag == &stop_tag_) {
                    stopping = true;
                } else {
                    on_event(static_cast<Connection*>(tag), events[i].events);
                }
            }
            if (accept_pending_ && Clock::now() >= accept_resume_) accept_some();
            serve_backlog();
            dead_.clear();
        }
    }

private:
    void watch(int fd, std::uint32_t events, void* tag) {
        epoll_event event{};
        event.events = events;
        event.data.ptr = tag;
        if (::epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, fd, &event) != 0)
            throw_errno("cannot add a socket to epoll", errno);
    }

    int wait_timeout_ms() const {
        if (spin_ || !backlog_.empty()) return 0;
        if (accept_pending_) {
            auto left = std::chrono::duration_cast<std::chrono::milliseconds>(accept_resume_ - Clock::now()).count();
            return left > 0 ? static_cast<int>(left) + 1 : 0;
        }
        return -1;
    }

    void accept_some() {
        for (int i = 0; i < accept_budget; ++i) {
            // What the connection needs besides its socket comes first: never accept one that
            // could not be served.
            int err = spare_ ? 0 : Connection::make_extra(*context_.config, spare_);
            if (err == 0) {
                int fd = ::accept4(context_.listener.get(), nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
                if (fd >= 0) {
                    add_connection(UniqueFd(fd), std::move(*spare_));
                    spare_.reset();
                    continue;
                }
                err = errno;
            }
            if (err == EAGAIN) {
                accept_pending_ = false;
                return;
            }
            if (AcceptErrors::should_pause(err)) {
                accept_resume_ = Clock::now() + std::chrono::milliseconds(AcceptErrors::pause_ms);
                return;
            }
        }
        // Budget used up with more waiting: accept_pending_ stays set and the loop comes back.
    }

    void add_connection(UniqueFd fd, typename Connection::Extra extra) {
        set_nodelay(fd.get());
        auto connection = std::make_unique<Connection>(std::move(fd), std::move(extra), *context_.config,
                                                       std::span<char>(scratch_.get(), scratch_size));
        epoll_event event{};
        event.events = EPOLLIN | EPOLLPRI | EPOLLOUT | EPOLLRDHUP | EPOLLET;
        event.data.ptr = connection.get();
        if (::epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, connection->fd(), &event) != 0) {
            log_line(errno_message("cannot watch a new connection", errno) + "; closing it");
            return;
        }
        if (context_.config->verbose) {
            SocketAddress address;
            address.length = sizeof(address.storage);
            if (::getpeername(connection->fd(), address.get(), &address.length) == 0)
                connection->peer = address.to_string();
            log_line("connection from " + connection->peer);
        }
        // The registration reports bytes that arrived before it, so nothing is read here.
        Connection* raw = connection.get();
        connections_.emplace(raw, std::move(connection));
    }

    void on_event(Connection* connection, std::uint32_t events) {
        if ((events & (EPOLLOUT | EPOLLERR | EPOLLHUP)) && connection->has_unsent()) {
            if (!settle(connection, connection->flush())) return;
        }
        if (events & (EPOLLIN | EPOLLRDHUP | EPOLLERR | EPOLLHUP)) connection->mark_readable();
        if (events & (EPOLLRDHUP | EPOLLERR | EPOLLHUP)) connection->mark_hangup();
        if (events & EPOLLPRI) connection->mark_urgent();
        serve(connection);  // also picks up reading that a flush just resumed
    }

    void serve(Connection* connection) {
        if (!connection->wants_read()) return;
        if (!settle(connection, connection->read(read_budget))) return;
        if (connection->wants_read()) backlog_.push_back(connection);  // budget ran out: come back
    }

    // Connections whose read budget ran out last turn.
    void serve_backlog() {
        if (backlog_.empty()) return;
        std::vector<Connection*> turn;
        turn.swap(backlog_);
        for (Connection* connection : turn)
            if (connections_.count(connection) != 0) serve(connection);  // skip ones closed meanwhile
    }

    // Applies the outcome of a read or flush; false when the connection is gone.
    bool settle(Connection* connection, ConnectionState state) {
        if (state == ConnectionState::open) return true;
        auto it = connections_.find(connection);
        if (context_.config->verbose) {
            std::string how = state == ConnectionState::finished ? std::string("peer closed")
                                                                 : errno_message("failed", connection->error());
            log_line("closed " + connection->peer + ": " + std::to_string(connection->bytes_echoed()) +
                     " bytes echoed (" + how + ")");
        }
        // Deleting here could leave a pointer in this turn's events; keep it until the turn ends.
        dead_.push_back(std::move(it->second));
        connections_.erase(it);
        return false;
    }

    LoopContext context_;
    bool spin_;
    UniqueFd epoll_;
    std::unique_ptr<char[]> scratch_;
    std::unordered_map<Connection*, std::unique_ptr<Connection>> connections_;
    std::vector<Connection*> backlog_;
    std::vector<std::unique_ptr<Connection>> dead_;
    std::optional<typename Connection::Extra> spare_;  // made before the next accept
    bool accept_pending_ = true;                       // connections may be queued before the first edge
    Clock::time_point accept_resume_{};
    char listener_tag_ = 0;
    char stop_tag_ = 0;
};

}  // namespace

std::unique_ptr<Loop> make_epoll_loop(LoopContext context) {
    return std::make_unique<EpollLoop<StreamConnection>>(std::move(context), false);
}

// The floor engine is a measuring reference, not a production server: the epoll loop, but it
// never sleeps. It polls readiness with a zero timeout over and over, so no byte ever waits for a
// wakeup: it marks the floor a user-space echo without wakeup latency can reach, at the price of a
// whole core per thread, busy or idle. (Polling readiness rather than calling recv on every socket
// keeps one pass cheap with many connections.)
std::unique_ptr<Loop> make_floor_loop(LoopContext context) {
    return std::make_unique<EpollLoop<StreamConnection>>(std::move(context), true);
}

// The splice engine: the epoll loop moving bytes socket -> pipe -> socket inside the kernel.
std::unique_ptr<Loop> make_splice_loop(LoopContext context) {
    return std::make_unique<EpollLoop<SpliceConnection>>(std::move(context), false);
}

}  // namespace kecho::userserver
