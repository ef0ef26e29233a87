// SPDX-License-Identifier: GPL-2.0-only
#include <algorithm>
#include <barrier>
#include <cmath>

#include "bench/workloads.h"

namespace kecho::bench {
namespace {

double micros(Clock::duration d) {
    return std::chrono::duration<double, std::micro>(d).count();
}

// One exchange's phases, microseconds (NaN: the exchange failed).
struct Phases {
    double connect = NAN, first_byte = NAN, echo = NAN;
};

// One exchange: connect, then send the message and receive its echo (timed to its first byte and
// to its end), close.
Phases exchange(const SocketAddress& address, const std::string& message) {
    const auto start = Clock::now();
    BlockingConnection c(address, 0, PatternKind::mixed, std::chrono::seconds(10));
    const auto connected = Clock::now();
    Clock::time_point first{};
    c.send_text(message);
    c.expect_text(message, &first);
    const auto done = Clock::now();
    return {micros(connected - start), micros(first - connected), micros(done - connected)};
}

// Mean, median, p99 and max of the values that are not NaN.
PhaseTimes describe(const std::vector<double>& values) {
    std::vector<double> sorted;
    for (double us : values)
        if (!std::isnan(us)) sorted.push_back(us);
    PhaseTimes t;
    if (sorted.empty()) return t;
    std::sort(sorted.begin(), sorted.end());
    double total = 0;
    for (double v : sorted) total += v;
    t.mean_us = total / static_cast<double>(sorted.size());
    t.median_us = sorted[sorted.size() / 2];
    t.p99_us = sorted[std::min(sorted.size() - 1, sorted.size() * 99 / 100)];
    t.max_us = sorted.back();
    return t;
}

// Every exchange's phases, thread i of round r at r * threads + i (NaN: failed): the percentiles are
// of exchanges, not of the per-thread averages (which smooth the tail away).
struct ExchangeLog {
    std::vector<Phases> phases;

    PhaseTimes of(double Phases::*phase) const {
        std::vector<double> values;
        values.reserve(phases.size());
        for (const auto& p : phases) values.push_back(p.*phase);
        return describe(values);
    }
    PhaseTimes whole() const {
        std::vector<double> values;
        values.reserve(phases.size());
        for (const auto& p : phases) values.push_back(p.connect + p.echo);
        return describe(values);
    }
};

// One round: every thread waits at the gate until all exist, then they go at once.
void run_round(const SocketAddress& address, const BurstOptions& options, std::uint32_t round, ExchangeLog& log,
               std::vector<double>& sum, std::vector<std::uint32_t>& ok, BurstResult& result) {
    std::barrier gate(static_cast<std::ptrdiff_t>(options.threads) + 1);
    std::vector<SmallThread> threads;
    threads.reserve(options.threads);
    for (std::uint32_t i = 0; i < options.threads; ++i) {
        try {
            threads.emplace_back(
                [&, i] {
                    gate.arrive_and_wait();
                    try {
                        const Phases p = exchange(address, options.message);
                        log.phases[static_cast<std::size_t>(round) * options.threads + i] = p;
                        sum[i] += p.echo;
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

}  // namespace

void run_burst(const SocketAddress& address, const BurstOptions& options, BurstResult& result) {
    std::vector<double> sum(options.threads, 0.0);
    std::vector<std::uint32_t> ok(options.threads, 0);
    ExchangeLog log{std::vector<Phases>(static_cast<std::size_t>(options.threads) * options.rounds)};
    const auto start = Clock::now();
    for (std::uint32_t round = 0; round < options.rounds; ++round)
        run_round(address, options, round, log, sum, ok, result);
    result.seconds = seconds_since(start);
    result.per_thread_us.resize(options.threads, 0.0);
    for (std::uint32_t i = 0; i < options.threads; ++i) {
        result.exchanges += ok[i];
        if (ok[i]) result.per_thread_us[i] = sum[i] / ok[i];
    }
    result.echo = log.of(&Phases::echo);
    result.connect = log.of(&Phases::connect);
    result.first_byte = log.of(&Phases::first_byte);
    result.exchange = log.whole();
}

}  // namespace kecho::bench
