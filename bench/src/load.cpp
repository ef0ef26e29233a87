// SPDX-License-Identifier: GPL-2.0-only
#include "bench/load.h"

#include <algorithm>
#include <atomic>
#include <mutex>
#include <thread>
#include <vector>

#include "bench/blocking.h"
#include "bench/cpu.h"
#include "bench/driver.h"
#include "bench/open_loop.h"
#include "bench/threads.h"
#include "kecho/error.h"

namespace kecho::bench {
namespace {

// What every client thread shares: the phase flags, the tallies and the errors.
struct Shared {
    std::atomic<bool> measuring{false}, stopping{false};
    Clock::time_point start = Clock::now();  // the open loop's timetable starts here
    std::mutex mutex;
    Tally tally;
    std::uint64_t errors = 0;
    std::string first_error;

    void error(const std::string& message) {
        std::lock_guard lock(mutex);
        if (errors++ == 0) first_error = message;
    }
    void add(const Tally& t) {
        std::lock_guard lock(mutex);
        tally.merge(t);
    }
};

// One thread, one connection, blocking calls: one send and one recv per request, no epoll_wait.
void blocking_client(UniqueFd fd, std::uint32_t id, std::size_t size, Shared& shared) {
    Tally tally;
    try {
        BlockingConnection c(std::move(fd), id, std::chrono::milliseconds(200));
        c.keep_waiting([&] { return !shared.stopping.load(); });  // wake up to notice the end of the run
        while (!shared.stopping.load(std::memory_order_relaxed)) {
            const auto start = Clock::now();
            if (!c.send(size) || !c.expect(size)) break;
            if (!shared.measuring.load(std::memory_order_relaxed)) continue;
            tally.latency_ns.record(static_cast<std::uint64_t>(
                std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() - start).count()));
            ++tally.messages;
            tally.bytes_sent += size;
            tally.bytes_received += size;
        }
    } catch (const Error& e) {
        shared.error("connection " + std::to_string(id) + ": " + e.what());
    }
    shared.add(tally);
}

// One epoll thread driving its share of the connections until the run stops.
using Shard = std::vector<std::pair<std::uint32_t, UniqueFd>>;  // connection ids and sockets

void epoll_client(const SocketAddress& address, Shard conns, const LoadOptions& options, Shared& shared) {
    DriverOptions o;
    o.measuring = &shared.measuring;
    std::vector<Timetable> timetables;  // open loop: one per connection, in the driver's order
    if (options.rate > 0) {
        for (const auto& conn : conns)
            timetables.emplace_back(options.rate, options.connections, conn.first - 1, shared.start);
        o.send_at = [&timetables](std::size_t index, std::uint64_t message) { return timetables[index].due(message); };
    }
    Driver driver(address, o);
    Plan plan;
    plan.bytes = unbounded;
    plan.message = options.size;
    plan.in_flight = options.in_flight;
    for (auto& [id, fd] : conns) {
        plan.id = id;
        driver.adopt(plan, std::move(fd));
    }
    driver.run(Clock::time_point::max(), [&] { return shared.stopping.load(std::memory_order_relaxed); });
    for (const auto& out : driver.outcomes())
        if (!out.error.empty()) shared.error(out.error);
    shared.add(driver.tally());
}

unsigned epoll_threads(const LoadOptions& options) {
    // At least 4 even on 2 cores: measured against the spinning floor server on a shared 2-core
    // host, 2 workers reached about half the rate of a thread-per-connection client at 64
    // connections, 4 workers beat it (a worker that is descheduled stalls all its connections).
    unsigned n = options.workers;
    if (n == 0) n = std::min({std::max(4u, std::thread::hardware_concurrency()), 16u, options.connections});
    return std::min(n, options.connections);
}

std::vector<SmallThread> start_clients(const SocketAddress& address, const LoadOptions& options, Shared& shared) {
    std::vector<UniqueFd> fds;
    for (std::uint32_t i = 0; i < options.connections; ++i) {
        try {
            fds.push_back(connect_to(address));
        } catch (const Error& e) {
            throw Error("cannot open connection " + std::to_string(i + 1) + " of " +
                        std::to_string(options.connections) + ": " + e.what());
        }
        set_nodelay(fds.back().get());
        set_nonblocking(fds.back().get());
    }
    shared.start = Clock::now();  // every connection is open: the timetable starts now
    std::vector<SmallThread> threads;
    if (options.engine == ClientEngine::blocking) {
        for (std::uint32_t i = 0; i < options.connections; ++i)
            threads.emplace_back([&, i, fd = std::make_shared<UniqueFd>(std::move(fds[i]))] {
                blocking_client(std::move(*fd), i + 1, options.size, shared);
            });
        return threads;
    }
    const unsigned n = epoll_threads(options);
    std::vector<Shard> shards(n);
    for (std::uint32_t i = 0; i < options.connections; ++i) shards[i % n].emplace_back(i + 1, std::move(fds[i]));
    for (auto& shard : shards)
        threads.emplace_back([&, conns = std::make_shared<Shard>(
                                     std::move(shard))] { epoll_client(address, std::move(*conns), options, shared); },
                             1 << 20);
    return threads;
}

}  // namespace

LoadResult run_load(const SocketAddress& address, const LoadOptions& options,
                    const std::function<void(double)>& progress) {
    Shared shared;
    std::vector<SmallThread> threads = start_clients(address, options, shared);
    const auto start = Clock::now();
    const auto total = options.warmup + options.duration;
    auto sleep_until = [&](double at) {
        for (double elapsed = seconds_since(start); elapsed < at; elapsed = seconds_since(start)) {
            if (progress) progress(elapsed / total);
            std::this_thread::sleep_for(std::chrono::duration<double>(std::min(0.2, at - elapsed)));
        }
    };
    sleep_until(options.warmup);
    CpuSample cpu_start = sample_cpu(true);
    const auto measure_start = Clock::now();
    shared.measuring.store(true);
    sleep_until(total);
    shared.measuring.store(false);
    shared.stopping.store(true);
    const auto measure_end = Clock::now();
    CpuSample cpu_end = sample_cpu(true);
    for (auto& t : threads) t.join();
    if (progress) progress(1.0);

    LoadResult result;
    result.seconds = std::chrono::duration<double>(measure_end - measure_start).count();
    result.messages = shared.tally.messages;
    result.bytes_sent = shared.tally.bytes_sent;
    result.bytes_received = shared.tally.bytes_received;
    result.latency_ns = shared.tally.latency_ns;
    result.errors = shared.errors;
    result.first_error = shared.first_error;
    CpuUsage cpu = cpu_between(cpu_start, cpu_end, options.server_pids);
    result.cpu = cpu;
    result.workers = options.engine == ClientEngine::blocking ? options.connections : epoll_threads(options);
    result.cpu_busy_percent = cpu.busy_percent;
    result.cpu_busy_seconds = cpu.busy_seconds;
    result.client_cpu_seconds = cpu.client_seconds;
    result.client_user_cpu_seconds = cpu.client_user_seconds;
    return result;
}

}  // namespace kecho::bench
