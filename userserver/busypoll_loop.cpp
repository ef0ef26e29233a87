// The busypoll engine: a measuring reference, not a production server. It never sleeps and never
// waits for a wakeup: it spins over non-blocking sockets, trying recv on each in turn, so it marks
// the floor a user-space echo without wakeup latency can reach (at the price of a whole core per
// thread, busy or idle).
#include <sys/socket.h>

#include <cerrno>
#include <chrono>
#include <memory>
#include <vector>

#include "kecho/error.h"
#include "kecho/net.h"
#include "log.h"
#include "loop.h"
#include "stream_connection.h"

namespace kecho::userserver {
namespace {

using Clock = std::chrono::steady_clock;

constexpr std::size_t scratch_size = 256 * 1024;
constexpr int read_budget = 4;
constexpr unsigned accept_every = 64;  // spins between accept attempts while serving
constexpr unsigned stop_check_every = 1024;

class BusypollLoop final : public Loop {
public:
    explicit BusypollLoop(LoopContext context) : context_(std::move(context)), scratch_(new char[scratch_size]) {}

    void run() override {
        for (unsigned long spin = 0;; ++spin) {
            if (spin % stop_check_every == 0 && context_.stop->load(std::memory_order_relaxed)) return;
            if (connections_.empty() || spin % accept_every == 0) accept_some();
            for (std::size_t i = 0; i < connections_.size();) {
                if (serve(*connections_[i])) {
                    ++i;
                } else {
                    connections_[i] = std::move(connections_.back());  // order does not matter
                    connections_.pop_back();
                }
            }
        }
    }

private:
    void accept_some() {
        if (accept_paused_ && Clock::now() < accept_resume_) return;
        accept_paused_ = false;
        for (int i = 0; i < 64; ++i) {
            int fd = ::accept4(context_.listener.get(), nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
            if (fd < 0) {
                int err = errno;
                if (err == EAGAIN) return;
                if (AcceptErrors::should_pause(err)) {
                    accept_paused_ = true;
                    accept_resume_ = Clock::now() + std::chrono::milliseconds(AcceptErrors::pause_ms);
                    return;
                }
                continue;
            }
            set_nodelay(fd);
            auto connection =
                std::make_unique<StreamConnection>(UniqueFd(fd), context_.config->max_buffer, scratch_size);
            if (context_.config->verbose) {
                SocketAddress address;
                address.length = sizeof(address.storage);
                if (::getpeername(fd, address.get(), &address.length) == 0) connection->peer = address.to_string();
                log_line("connection from " + connection->peer);
            }
            connections_.push_back(std::move(connection));
        }
    }

    // One turn for one connection; false once it is closed.
    bool serve(StreamConnection& connection) {
        auto state = StreamConnection::State::open;
        if (connection.has_unsent()) state = connection.flush();
        if (state == StreamConnection::State::open) {
            connection.mark_readable();
            state = connection.read({scratch_.get(), scratch_size}, read_budget);
        }
        if (state == StreamConnection::State::open) return true;
        if (context_.config->verbose) {
            std::string how = state == StreamConnection::State::finished ? std::string("peer closed")
                                                                         : errno_message("failed", connection.error());
            log_line("closed " + connection.peer + ": " + std::to_string(connection.bytes_echoed()) +
                     " bytes echoed (" + how + ")");
        }
        return false;
    }

    LoopContext context_;
    std::unique_ptr<char[]> scratch_;
    std::vector<std::unique_ptr<StreamConnection>> connections_;
    bool accept_paused_ = false;
    Clock::time_point accept_resume_{};
};

}  // namespace

std::unique_ptr<Loop> make_busypoll_loop(LoopContext context) {
    return std::make_unique<BusypollLoop>(std::move(context));
}

}  // namespace kecho::userserver
