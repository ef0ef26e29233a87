// SPDX-License-Identifier: GPL-2.0-only
#include <algorithm>
#include <barrier>
#include <cmath>

#include "bench/workloads.h"

namespace kecho::bench {
namespace {

// One exchange: connect, then time send + receive of the message, close. Returns microseconds.
double exchange(const SocketAddress& address, const std::string& message) {
    BlockingConnection c(address, 0, PatternKind::mixed, std::chrono::seconds(10));
    const auto start = Clock::now();
    c.send_text(message);
    c.expect_text(message);
    return std::chrono::duration<double, std::micro>(Clock::now() - start).count();
}

}  // namespace

void run_burst(const SocketAddress& address, const BurstOptions& options, BurstResult& result) {
    std::vector<double> sum(options.threads, 0.0);
    std::vector<std::uint32_t> ok(options.threads, 0);
    // Every exchange's time, thread i of round r at r * threads + i (NAN: failed): the percentiles
    // are of exchanges, not of the per-thread averages (which smooth the tail away).
    std::vector<double> times(static_cast<std::size_t>(options.threads) * options.rounds, NAN);
    const auto start = Clock::now();
    for (std::uint32_t round = 0; round < options.rounds; ++round) {
        // Every thread waits here until all exist, then they go at once.
        std::barrier gate(static_cast<std::ptrdiff_t>(options.threads) + 1);
        std::vector<SmallThread> threads;
        threads.reserve(options.threads);
        for (std::uint32_t i = 0; i < options.threads; ++i) {
            try {
                threads.emplace_back(
                    [&, i] {
                        gate.arrive_and_wait();
                        try {
                            const double us = exchange(address, options.message);
                            times[static_cast<std::size_t>(round) * options.threads + i] = us;
                            sum[i] += us;
                            ++ok[i];
                        } catch (const Error& e) {
                            result.errors.add("thread " + std::to_string(i) + ": " + e.what());
                        }
                    },
                    128 * 1024);
            } catch (const Error&) {
                // Release the threads already waiting, then report.
                (void)gate.arrive(static_cast<std::ptrdiff_t>(options.threads - i) + 1);
                for (auto& t : threads) t.join();
                throw;
            }
        }
        gate.arrive_and_wait();
        for (auto& t : threads) t.join();
    }
    result.seconds = seconds_since(start);
    result.per_thread_us.resize(options.threads, 0.0);
    for (std::uint32_t i = 0; i < options.threads; ++i) {
        result.exchanges += ok[i];
        if (ok[i]) result.per_thread_us[i] = sum[i] / ok[i];
    }
    std::vector<double> sorted;
    for (double us : times)
        if (!std::isnan(us)) sorted.push_back(us);
    if (!sorted.empty()) {
        std::sort(sorted.begin(), sorted.end());
        double total = 0;
        for (double v : sorted) total += v;
        result.mean_us = total / static_cast<double>(sorted.size());
        result.median_us = sorted[sorted.size() / 2];
        result.p99_us = sorted[std::min(sorted.size() - 1, sorted.size() * 99 / 100)];
        result.max_us = sorted.back();
    }
}

}  // namespace kecho::bench
