#include "bench/load.h"

#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <mutex>
#include <thread>
#include <vector>

#include "bench/clock.h"
#include "bench/cpu.h"
#include "bench/payload.h"
#include "bench/threads.h"
#include "kecho/error.h"

namespace kecho::bench {
namespace {

enum Phase : int { warming = 0, measuring = 1, stopping = 2 };

// What every worker shares: the phase clock and the error sink.
struct Shared {
    std::atomic<int> phase{warming};
    std::mutex mutex;
    std::uint64_t errors = 0;
    std::string first_error;

    void error(const std::string& message) {
        std::lock_guard lock(mutex);
        if (errors++ == 0) first_error = message;
    }
};

struct Tally {
    std::uint64_t messages = 0, bytes_sent = 0, bytes_received = 0;
    LatencyHistogram latency;
};

struct LoadConn {
    UniqueFd fd;
    std::uint32_t id = 0;
    std::uint64_t send_pos = 0, send_limit = 0, recv_pos = 0;
    std::uint64_t started = 0, completed = 0;
    std::vector<Clock::time_point> starts;  // ring: start time of each outstanding message
    bool want_out = false;
    bool dead = false;
};

std::string conn_error(const LoadConn& c, const std::string& what) {
    return "connection " + std::to_string(c.id) + ": " + what;
}

class EpollWorker {
public:
    EpollWorker(std::vector<LoadConn>& conns, const LoadOptions& options, Shared& shared)
        : conns_(conns), options_(options), shared_(shared), scratch_(256 * 1024) {}

    void run() {
        ep_ = UniqueFd(::epoll_create1(EPOLL_CLOEXEC));
        if (!ep_) {
            shared_.error(errno_message("epoll_create1", errno));
            return;
        }
        const auto now = Clock::now();
        for (std::size_t i = 0; i < conns_.size(); ++i) {
            LoadConn& c = conns_[i];
            c.starts.assign(options_.in_flight, now);
            c.started = options_.in_flight;
            c.send_limit = static_cast<std::uint64_t>(options_.in_flight) * options_.size;
            epoll_event ev{};
            ev.events = EPOLLIN | EPOLLRDHUP;
            ev.data.u64 = i;
            ::epoll_ctl(ep_.get(), EPOLL_CTL_ADD, c.fd.get(), &ev);
            send_some(c, i);
        }
        std::vector<epoll_event> events(256);
        while (shared_.phase.load(std::memory_order_relaxed) != stopping) {
            int n = ::epoll_wait(ep_.get(), events.data(), static_cast<int>(events.size()), 50);
            if (n < 0 && errno != EINTR) {
                shared_.error(errno_message("epoll_wait", errno));
                return;
            }
            for (int k = 0; k < n; ++k) {
                std::size_t i = events[k].data.u64;
                LoadConn& c = conns_[i];
                if (c.dead) continue;
                if (events[k].events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) receive(c, i);
                if (!c.dead && (events[k].events & EPOLLOUT)) send_some(c, i);
            }
        }
    }

    Tally tally;

private:
    bool in_window() const { return shared_.phase.load(std::memory_order_relaxed) == Phase::measuring; }

    void kill(LoadConn& c, const std::string& why) {
        c.dead = true;
        ::epoll_ctl(ep_.get(), EPOLL_CTL_DEL, c.fd.get(), nullptr);
        shared_.error(conn_error(c, why));
    }

    void set_out(LoadConn& c, std::size_t i, bool on) {
        if (c.want_out == on) return;
        c.want_out = on;
        epoll_event ev{};
        ev.events = EPOLLIN | EPOLLRDHUP | (on ? EPOLLOUT : 0u);
        ev.data.u64 = i;
        ::epoll_ctl(ep_.get(), EPOLL_CTL_MOD, c.fd.get(), &ev);
    }

    void send_some(LoadConn& c, std::size_t i) {
        Pattern pattern(PatternKind::mixed, c.id);
        while (c.send_pos < c.send_limit) {
            auto n = static_cast<std::size_t>(std::min<std::uint64_t>(c.send_limit - c.send_pos, scratch_.size()));
            pattern.fill(c.send_pos, scratch_.data(), n);
            ssize_t w = ::send(c.fd.get(), scratch_.data(), n, MSG_NOSIGNAL | MSG_DONTWAIT);
            if (w < 0) {
                if (errno == EAGAIN || errno == EINTR) {
                    set_out(c, i, true);
                    return;
                }
                kill(c, errno_message("send failed", errno));
                return;
            }
            c.send_pos += static_cast<std::uint64_t>(w);
            if (in_window()) tally.bytes_sent += static_cast<std::uint64_t>(w);
        }
        set_out(c, i, false);
    }

    void receive(LoadConn& c, std::size_t i) {
        Pattern pattern(PatternKind::mixed, c.id);
        for (int rounds = 0; rounds < 16; ++rounds) {
            ssize_t r = ::recv(c.fd.get(), scratch_.data(), scratch_.size(), MSG_DONTWAIT);
            if (r < 0) {
                if (errno == EAGAIN || errno == EINTR) break;
                kill(c, errno_message("receive failed after " + std::to_string(c.recv_pos) + " bytes", errno));
                return;
            }
            if (r == 0) {
                kill(c, "server closed the connection after returning " + std::to_string(c.recv_pos) + " bytes");
                return;
            }
            auto n = static_cast<std::uint64_t>(r);
            if (c.recv_pos + n > c.send_pos) {
                kill(c, "server returned more bytes than were sent (" + std::to_string(c.recv_pos + n) + " > " +
                            std::to_string(c.send_pos) + ")");
                return;
            }
            if (auto m = pattern.check(c.recv_pos, scratch_.data(), static_cast<std::size_t>(r))) {
                kill(c, m->describe());
                return;
            }
            c.recv_pos += n;
            const bool counting = in_window();
            if (counting) tally.bytes_received += n;
            const auto now = Clock::now();
            while (c.recv_pos >= (c.completed + 1) * options_.size) {
                auto& start = c.starts[c.completed % options_.in_flight];
                if (counting) {
                    tally.latency.record(static_cast<std::uint64_t>(
                        std::chrono::duration_cast<std::chrono::nanoseconds>(now - start).count()));
                    ++tally.messages;
                }
                ++c.completed;
                start = now;  // the slot is reused by the message started now
                ++c.started;
                c.send_limit += options_.size;
            }
            if (static_cast<std::size_t>(r) < scratch_.size()) break;
        }
        send_some(c, i);
    }

    std::vector<LoadConn>& conns_;
    const LoadOptions& options_;
    Shared& shared_;
    std::vector<std::uint8_t> scratch_;
    UniqueFd ep_;
};

bool send_all_blocking(int fd, const std::uint8_t* data, std::size_t length, Shared& shared) {
    while (length > 0) {
        ssize_t w = ::send(fd, data, length, MSG_NOSIGNAL);
        if (w < 0 && (errno == EINTR || errno == EAGAIN)) {
            if (shared.phase.load() == stopping) return false;
            continue;
        }
        if (w < 0) throw_errno("send failed", errno);
        data += w;
        length -= static_cast<std::size_t>(w);
    }
    return true;
}

// One thread, one connection, blocking calls: the simple client the epoll engine is compared with.
void blocking_client(LoadConn& c, const LoadOptions& options, Shared& shared, Tally& tally) {
    try {
        set_nonblocking(c.fd.get(), false);
        timeval tv{0, 200'000};  // wake up to notice the end of the run
        ::setsockopt(c.fd.get(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
        ::setsockopt(c.fd.get(), SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
        Pattern pattern(PatternKind::mixed, c.id);
        std::vector<std::uint8_t> out(options.size), in(std::min<std::size_t>(options.size, 256 * 1024));
        while (shared.phase.load(std::memory_order_relaxed) != stopping) {
            pattern.fill(c.send_pos, out.data(), out.size());
            const auto start = Clock::now();
            if (!send_all_blocking(c.fd.get(), out.data(), out.size(), shared)) return;
            c.send_pos += options.size;
            std::uint64_t want = c.send_pos;
            while (c.recv_pos < want) {
                auto n = static_cast<std::size_t>(std::min<std::uint64_t>(in.size(), want - c.recv_pos));
                ssize_t r = ::recv(c.fd.get(), in.data(), n, 0);
                if (r < 0 && (errno == EINTR || errno == EAGAIN)) {
                    if (shared.phase.load() == stopping) return;
                    continue;
                }
                if (r < 0) throw_errno("receive failed after " + std::to_string(c.recv_pos) + " bytes", errno);
                if (r == 0)
                    throw Error("server closed the connection after returning " + std::to_string(c.recv_pos) +
                                " bytes");
                if (auto m = pattern.check(c.recv_pos, in.data(), static_cast<std::size_t>(r)))
                    throw Error(m->describe());
                c.recv_pos += static_cast<std::uint64_t>(r);
            }
            if (shared.phase.load(std::memory_order_relaxed) == measuring) {
                tally.latency.record(static_cast<std::uint64_t>(
                    std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() - start).count()));
                ++tally.messages;
                tally.bytes_sent += options.size;
                tally.bytes_received += options.size;
            }
        }
    } catch (const Error& e) {
        shared.error(conn_error(c, e.what()));
    }
}

}  // namespace

LoadResult run_load(const SocketAddress& address, const LoadOptions& options,
                    const std::function<void(double)>& progress) {
    std::vector<LoadConn> conns(options.connections);
    for (std::uint32_t i = 0; i < options.connections; ++i) {
        try {
            conns[i].fd = connect_to(address);
        } catch (const Error& e) {
            throw Error("cannot open connection " + std::to_string(i + 1) + " of " +
                        std::to_string(options.connections) + ": " + e.what());
        }
        conns[i].id = i + 1;
        set_nodelay(conns[i].fd.get());
        set_nonblocking(conns[i].fd.get());
    }

    Shared shared;
    std::vector<Tally> tallies;
    std::vector<SmallThread> threads;
    std::vector<std::vector<LoadConn>> shards;
    std::vector<std::unique_ptr<EpollWorker>> workers;
    if (options.engine == ClientEngine::blocking) {
        tallies.resize(conns.size());
        for (std::size_t i = 0; i < conns.size(); ++i)
            threads.emplace_back([&, i] { blocking_client(conns[i], options, shared, tallies[i]); });
    } else {
        unsigned n = options.workers;
        // At least 4 even on 2 cores: measured against the spinning floor server on a shared 2-core
        // host, 2 workers reached about half the rate of a thread-per-connection client at 64
        // connections, 4 workers beat it (a worker that is descheduled stalls all its connections).
        if (n == 0) n = std::min({std::max(4u, std::thread::hardware_concurrency()), 16u, options.connections});
        n = std::min(n, options.connections);
        shards.resize(n);
        for (std::size_t i = 0; i < conns.size(); ++i) shards[i % n].push_back(std::move(conns[i]));
        for (unsigned w = 0; w < n; ++w) workers.push_back(std::make_unique<EpollWorker>(shards[w], options, shared));
        for (unsigned w = 0; w < n; ++w) threads.emplace_back([&, w] { workers[w]->run(); }, 1 << 20);
    }

    const auto start = Clock::now();
    const auto total = options.warmup + options.duration;
    auto sleep_until = [&](double at) {
        for (;;) {
            double elapsed = seconds_since(start);
            if (elapsed >= at) return;
            if (progress) progress(elapsed / total);
            std::this_thread::sleep_for(std::chrono::duration<double>(std::min(0.2, at - elapsed)));
        }
    };
    sleep_until(options.warmup);
    CpuSample cpu_start = sample_cpu();
    const auto measure_start = Clock::now();
    shared.phase.store(measuring);
    sleep_until(total);
    shared.phase.store(stopping);
    const auto measure_end = Clock::now();
    CpuSample cpu_end = sample_cpu();
    for (auto& t : threads) t.join();
    if (progress) progress(1.0);

    LoadResult result;
    result.seconds = std::chrono::duration<double>(measure_end - measure_start).count();
    for (auto& w : workers) tallies.push_back(std::move(w->tally));
    for (const auto& t : tallies) {
        result.messages += t.messages;
        result.bytes_sent += t.bytes_sent;
        result.bytes_received += t.bytes_received;
        result.latency_ns.merge(t.latency);
    }
    result.errors = shared.errors;
    result.first_error = shared.first_error;
    CpuUsage cpu = cpu_between(cpu_start, cpu_end);
    result.cpu_busy_percent = cpu.busy_percent;
    result.cpu_busy_seconds = cpu.busy_seconds;
    result.client_cpu_seconds = cpu.client_seconds;
    result.client_user_cpu_seconds = cpu.client_user_seconds;
    return result;
}

}  // namespace kecho::bench
