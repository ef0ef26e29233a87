// SPDX-License-Identifier: GPL-2.0-only
#include "echo_server.h"

#include <bpf/libbpf.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
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

std::vector<UniqueFd> make_reuseport_listeners(const SocketAddress& address, int backlog, int count) {
    // A listener without SO_REUSEPORT first: it fails on any listener of the port, where a
    // SO_REUSEPORT one would silently join another process's group and share its connections.
    ListenOptions options;
    options.backlog = backlog;
    make_listener(address, options).reset();
    options.reuse_port = true;
    std::vector<UniqueFd> listeners;
    for (int i = 0; i < count; ++i) {
        listeners.push_back(make_listener(address, options));
        set_nodelay(listeners.back().get());  // accepted sockets inherit it: one syscall less per connection
    }
    return listeners;
}

EchoServer::EchoServer(std::vector<UniqueFd> listeners, const EchoMaps& maps, echo_loader_stats* stats,
                       const ServerSettings& settings)
    : settings_(settings), stats_(stats[ECHO_MAX_THREADS]) {
    if (listeners.empty() || listeners.size() > ECHO_MAX_THREADS) throw Error("bad number of accept threads");
    stop_fd_.reset(::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC));
    if (!stop_fd_) throw_errno("cannot create an eventfd", errno);
    for (std::size_t i = 0; i < listeners.size(); ++i)
        workers_.push_back(
            std::make_unique<EchoWorker>(std::move(listeners[i]), maps, stop_fd_.get(), stats[i], settings));
    ring_ = ring_buffer__new(maps.events_fd, &EchoServer::ring_callback, this, nullptr);
    if (!ring_) throw_errno("cannot open the guard's ring buffer", errno);
    start_workers();  // last: nothing may throw once threads run
}

EchoServer::~EchoServer() {
    stop_workers();  // joins them: their connections (in the socket hash) close first
    workers_.clear();
    if (ring_) ring_buffer__free(ring_);
}

void EchoServer::start_workers() {
    for (auto& worker : workers_) {
        threads_.emplace_back([this, w = worker.get()] {
            try {
                w->run();
            } catch (const std::exception& e) {
                {
                    std::lock_guard lock(failure_mutex_);
                    if (failure_.empty()) failure_ = e.what();
                }
                std::uint64_t one = 1;
                (void)!::write(stop_fd_.get(), &one, sizeof(one));  // stops the others and run_loop
            }
        });
    }
}

void EchoServer::stop_workers() {
    if (threads_.empty()) return;
    std::uint64_t one = 1;
    (void)!::write(stop_fd_.get(), &one, sizeof(one));
    for (auto& thread : threads_) thread.join();
    threads_.clear();
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
    const int ring_fd = ring_buffer__epoll_fd(ring_);
    watch(epoll.get(), shutdown.fd());
    watch(epoll.get(), ring_fd);
    watch(epoll.get(), stop_fd_.get());

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
            if (fd == ring_fd) ring_buffer__consume(ring_);
            if (fd == shutdown.fd()) stop = shutdown.requested() || stop;
            if (fd == stop_fd_.get()) stop = true;  // a worker failed
        }
        if (interval.count() > 0 && Clock::now() >= next_stats) {
            periodic(ctx);
            next_stats = Clock::now() + interval;
        }
    }
    stop_workers();
    std::lock_guard lock(failure_mutex_);
    if (!failure_.empty()) throw Error(failure_);
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
