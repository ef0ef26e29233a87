// SPDX-License-Identifier: GPL-2.0-only
#include "echo_server.h"

#include <bpf/libbpf.h>
#include <sys/epoll.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>

#include "kecho/error.h"

namespace kecho::loader {
namespace {

using Clock = std::chrono::steady_clock;

constexpr int max_default_threads = 8;
constexpr std::size_t max_reset_cookies = 65536;

}  // namespace

int default_accept_threads() {
    long online = ::sysconf(_SC_NPROCESSORS_ONLN);
    return static_cast<int>(std::clamp<long>(online, 1, max_default_threads));
}

EchoServer::EchoServer(std::vector<UniqueFd> listeners, const EchoMaps& maps, echo_loader_stats* stats,
                       const ServerSettings& settings)
    : settings_(settings), stats_(stats[ECHO_MAX_THREADS]) {
    if (listeners.empty() || listeners.size() > ECHO_MAX_THREADS) throw Error("bad number of accept threads");
    for (std::size_t i = 0; i < listeners.size(); ++i)
        workers_.push_back(
            std::make_unique<EchoWorker>(std::move(listeners[i]), maps, group_.stop_fd(), stats[i], settings));
    ring_.reset(ring_buffer__new(maps.events_fd, &EchoServer::ring_callback, this, nullptr));
    if (!ring_) throw_errno("cannot open the guard's ring buffer", errno);
    // Last: nothing may throw once threads run. A worker's failure stops the others and run_loop.
    for (auto& worker : workers_) group_.start([w = worker.get()] { return std::function<void()>([w] { w->run(); }); });
}

EchoServer::~EchoServer() {
    group_.stop();  // joins the workers: their connections (in the socket hash) close first
    workers_.clear();
}

void EchoServer::watch(int epoll_fd, int fd) {
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.fd = fd;
    if (::epoll_ctl(epoll_fd, EPOLL_CTL_ADD, fd, &ev) != 0) throw_errno("cannot watch a file with epoll", errno);
}

void EchoServer::run_loop(ShutdownSignal& shutdown, void (*periodic)(void*), void* ctx) {
    UniqueFd epoll(::epoll_create1(EPOLL_CLOEXEC));
    if (!epoll) throw_errno("cannot create an epoll instance", errno);
    const int ring_fd = ring_buffer__epoll_fd(ring_.get());
    watch(epoll.get(), shutdown.fd());
    watch(epoll.get(), ring_fd);
    watch(epoll.get(), group_.stop_fd());

    const auto interval = std::chrono::duration_cast<std::chrono::milliseconds>(settings_.stats_interval);
    auto next_stats = Clock::now() + interval;
    bool stop = false;
    while (!stop) {
        int timeout = -1;
        if (interval.count() > 0)
            timeout = static_cast<int>(std::max<long long>(
                0, std::chrono::duration_cast<std::chrono::milliseconds>(next_stats - Clock::now()).count()));
        epoll_event events[4];
        int n = ::epoll_wait(epoll.get(), events, 4, timeout);
        if (n < 0 && errno != EINTR) throw_errno("epoll_wait failed", errno);
        for (int i = 0; i < n; ++i) {
            int fd = events[i].data.fd;
            if (fd == ring_fd) ring_buffer__consume(ring_.get());
            if (fd == shutdown.fd()) stop = shutdown.requested() || stop;
            if (fd == group_.stop_fd()) stop = true;  // a worker failed
        }
        if (interval.count() > 0 && Clock::now() >= next_stats) {
            periodic(ctx);
            next_stats = Clock::now() + interval;
        }
    }
    group_.stop();
    if (!group_.failure().empty()) throw Error(group_.failure());
}

// A guard report: the worker that has the connection resets it now; one not accepted yet is reset
// by whichever worker accepts it.
int EchoServer::ring_callback(void* ctx, void* data, std::size_t size) {
    if (size < sizeof(echo_event)) return 0;
    echo_event event;
    std::memcpy(&event, data, sizeof(event));
    auto* self = static_cast<EchoServer*>(ctx);
    // Segments in flight before the reset are reported too: one reset per connection.
    if (self->reset_cookies_.count(event.cookie)) return 0;
    for (auto& worker : self->workers_) {
        if (worker->reset_now(event.cookie)) {
            ++self->stats_.guard_resets;
            if (self->reset_cookies_.size() >= max_reset_cookies) self->reset_cookies_.clear();
            self->reset_cookies_.insert(event.cookie);
            return 0;
        }
    }
    for (auto& worker : self->workers_) worker->post_reset(event.cookie);
    return 0;
}

}  // namespace kecho::loader
