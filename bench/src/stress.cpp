// SPDX-License-Identifier: GPL-2.0-only
#include "bench/stress.h"

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <mutex>
#include <thread>

#include "bench/blocking.h"
#include "bench/driver.h"
#include "kecho/error.h"

namespace kecho::bench {
namespace {

using std::chrono::milliseconds;

Clock::time_point after_seconds(double s) {
    return Clock::now() + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(s));
}

std::string format(const char* fmt, double a, double b = 0) {
    char text[256];
    std::snprintf(text, sizeof(text), fmt, a, b);
    return text;
}

// The first error seen by any of several threads, and how many there were.
class Failures {
public:
    void add(const std::string& what) {
        std::lock_guard<std::mutex> lock(mutex_);
        if (count_++ == 0) first_ = what;
    }
    std::uint64_t count() const {
        std::lock_guard<std::mutex> lock(mutex_);
        return count_;
    }
    std::string first() const {
        std::lock_guard<std::mutex> lock(mutex_);
        return first_;
    }

private:
    mutable std::mutex mutex_;
    std::uint64_t count_ = 0;
    std::string first_;
};

// Runs `one(i)` for i in [0, total) on `threads` threads until done or `stop_at`; an error string
// lands in failures. Returns how many succeeded.
std::uint64_t on_threads(unsigned threads, std::uint64_t total, Clock::time_point stop_at, Failures& failures,
                         const std::function<std::string(std::uint64_t)>& one) {
    std::atomic<std::uint64_t> next{0}, done{0};
    std::vector<std::thread> pool;
    for (unsigned t = 0; t < threads; ++t)
        pool.emplace_back([&] {
            for (std::uint64_t i = next++; i < total && Clock::now() < stop_at; i = next++) {
                if (auto error = one(i); !error.empty())
                    failures.add(error);
                else
                    ++done;
            }
        });
    for (auto& t : pool) t.join();
    return done.load();
}

// Counts, over driver outcomes, the complete ones.
std::uint32_t complete(const Driver& driver) {
    std::uint32_t n = 0;
    for (std::size_t i = 0; i < driver.size(); ++i) n += driver.outcome(i).complete;
    return n;
}

}  // namespace

std::string still_serves(const SocketAddress& address) {
    std::string error = echo_once(address, 0xfffff0, 256 * 1024);
    return error.empty() ? error : "afterwards a new connection failed: " + error;
}

Verdict held(const SocketAddress& address, const CaseOptions& o) {
    DriverOptions options;
    options.max_open = o.connections;
    Driver driver(address, options);
    Plan plan;
    plan.bytes = 64;
    plan.keep_open = true;
    for (std::uint32_t i = 0; i < o.connections; ++i) {
        plan.id = i + 1;
        driver.add(plan);
    }
    const auto start = Clock::now();
    driver.run(after_seconds(120));
    const double connect_seconds = seconds_since(start);
    const std::uint32_t round1 = complete(driver);
    std::uint32_t round2 = 0;
    if (round1 == o.connections) {
        std::this_thread::sleep_until(after_seconds(o.hold));
        for (std::size_t i = 0; i < driver.size(); ++i) driver.extend(i, 64);
        driver.run(after_seconds(60));
        round2 = complete(driver);
    }
    driver.expire();
    auto outcomes = driver.outcomes();
    auto connected = std::count_if(outcomes.begin(), outcomes.end(), [](const Outcome& out) { return out.sent > 0; });
    Verdict v;
    v.metrics = {{"connections", o.connections},       {"connected", connected},
                 {"echoed_first_round", round1},       {"echoed_after_hold", round2},
                 {"connect_seconds", connect_seconds}, {"hold_seconds", o.hold}};
    v.passed = round2 == o.connections;
    v.detail = v.passed ? std::to_string(o.connections) + " connections open at once, each echoed 64 bytes, held " +
                              format("%.1f s", o.hold) + ", echoed 64 more; connected and echoed in " +
                              format("%.2f s", connect_seconds)
                        : std::to_string(round1) + " of " + std::to_string(o.connections) + " echoed, " +
                              std::to_string(round2) + " after the hold; " + first_error(outcomes);
    return v;
}

Verdict churn(const SocketAddress& address, const CaseOptions& o) {
    Failures failures;
    std::atomic<std::uint64_t> retried{0};
    const auto start = Clock::now();
    const auto stop_at = after_seconds(o.duration_limit);
    auto cycle = [&](std::uint64_t i) {
        auto once = [&] {
            try {
                BlockingConnection c(address, static_cast<std::uint32_t>(i % 0xffffff) + 1);
                c.send(16);
                c.expect(16);
                return std::string();
            } catch (const Error& e) {
                return std::string(e.what());
            }
        };
        std::string error = once();
        // A restarting server refuses or drops connections for a while: retry within the window.
        for (auto until = after_seconds(o.retry); !error.empty() && Clock::now() < std::min(until, stop_at);) {
            ++retried;
            std::this_thread::sleep_for(milliseconds(20));
            error = once();
        }
        return error.empty() ? error : "cycle " + std::to_string(i + 1) + ": " + error;
    };
    const std::uint64_t completed = on_threads(o.threads, o.cycles, stop_at, failures, cycle);
    const double elapsed = seconds_since(start);
    const bool capped = completed + failures.count() < o.cycles;
    const double rate = elapsed > 0 ? static_cast<double>(completed) / elapsed : 0;
    Verdict v;
    v.metrics = {{"cycles_planned", o.cycles},   {"cycles_done", completed},
                 {"failures", failures.count()}, {"retries", retried.load()},
                 {"seconds", elapsed},           {"cycles_per_second", rate},
                 {"time_capped", capped},        {"duration_limit_seconds", o.duration_limit},
                 {"threads", o.threads}};
    v.passed = failures.count() == 0 && completed > 0;
    std::string what = std::to_string(completed) + " connect/echo/close cycles" +
                       (capped ? " (time cap " + format("%.0f s", o.duration_limit) + " reached before " +
                                     std::to_string(o.cycles) + ")"
                               : "") +
                       format(" in %.1f s, %.0f cycles/s", elapsed, rate);
    if (retried.load()) what += ", " + std::to_string(retried.load()) + " retries";
    v.detail = v.passed
                   ? what
                   : std::to_string(failures.count()) + " failed cycles of " + what + "; first: " + failures.first();
    return v;
}

Verdict half_close_many(const SocketAddress& address, const CaseOptions& o) {
    std::uint64_t total = 0;
    auto plans = half_close_plans(o.clients, 8192, total);  // 1 byte .. 8 KiB each
    auto outcomes = run_streams(address, plans, {milliseconds(180000), 1000});
    std::uint64_t returned = 0, incomplete = 0;
    for (const auto& out : outcomes) {
        returned += out.received;
        incomplete += !out.complete;
    }
    const std::uint64_t lost = total - std::min(total, returned);
    Verdict v;
    v.metrics = {{"clients", o.clients},
                 {"bytes_sent", total},
                 {"bytes_returned", returned},
                 {"bytes_lost", lost},
                 {"failed_clients", incomplete}};
    v.passed = incomplete == 0 && returned == total;
    v.detail = v.passed ? std::to_string(o.clients) + " clients sent " + std::to_string(total) +
                              " bytes then shut down writing; 0 bytes lost, every one got end-of-file"
                        : std::to_string(incomplete) + " of " + std::to_string(o.clients) + " clients incomplete, " +
                              std::to_string(lost) + " bytes lost; " + first_error(outcomes);
    return v;
}

Verdict resets(const SocketAddress& address, const CaseOptions& o) {
    Failures failures;
    // Sends 16 KiB, checks the first echoed bytes, then resets with the rest of the echo in flight.
    auto reset_once = [&](std::uint64_t i) {
        try {
            BlockingConnection c(address, static_cast<std::uint32_t>(i + 1));
            c.send(16384);
            c.expect(1024);
            reset_and_close(c.release());
            return std::string();
        } catch (const Error& e) {
            return "connection " + std::to_string(i + 1) + ": " + e.what();
        }
    };
    const std::uint64_t done = on_threads(o.threads, o.count, after_seconds(300), failures, reset_once);
    std::string after = still_serves(address);
    Verdict v;
    v.metrics = {
        {"resets_planned", o.count}, {"resets", done}, {"failures", failures.count()}, {"served_after", after.empty()}};
    v.passed = failures.count() == 0 && done == o.count && after.empty();
    v.detail = v.passed ? std::to_string(o.count) +
                              " clients sent 16 KiB and reset with the echo in flight; a new connection then "
                              "echoed 256 KiB byte-exact"
                        : std::to_string(done) + " of " + std::to_string(o.count) + " resets done; " +
                              (failures.count() ? "first failure: " + failures.first() : after);
    return v;
}

// Half the clients never read; the other half read 16 KiB per 100 ms and check every byte.
Verdict slow(const SocketAddress& address, const CaseOptions& o) {
    constexpr std::uint64_t kLimit = 64ull << 20;  // per client: reaching it means nothing bounded the client
    DriverOptions options;
    options.max_open = o.clients;
    Driver driver(address, options);
    for (std::uint32_t i = 0; i < o.clients; ++i) {
        Plan plan;
        plan.id = i + 1;
        plan.bytes = kLimit;
        plan.reading = {i % 2 == 1, 16384, milliseconds(100)};
        driver.add(plan);
    }
    driver.run(after_seconds(o.duration));
    std::uint64_t max_accepted = 0, total_accepted = 0, reset_count = 0, stalled = 0, unbounded = 0, checked = 0;
    Failures failures;
    const auto now = Clock::now();
    for (const auto& c : driver.outcomes()) {
        max_accepted = std::max(max_accepted, c.sent);
        total_accepted += c.sent;
        checked += c.received;
        if (c.reset)
            ++reset_count;
        else if (!c.error.empty())
            failures.add(c.error);
        else if (c.sent >= kLimit)
            ++unbounded;
        else if (now - c.last_send > milliseconds(500))
            ++stalled;
    }
    std::string after = failures.count() ? std::string() : still_serves(address);
    Verdict v;
    v.metrics = {{"clients", o.clients},
                 {"non_reading", o.clients - o.clients / 2},
                 {"slow_readers", o.clients / 2},
                 {"bytes_accepted_max", max_accepted},
                 {"bytes_accepted_total", total_accepted},
                 {"bytes_checked_by_slow_readers", checked},
                 {"reset", reset_count},
                 {"flow_controlled", stalled},
                 {"unbounded", unbounded},
                 {"seconds", o.duration},
                 {"served_after", after.empty()}};
    v.passed = failures.count() == 0 && unbounded == 0 && after.empty();
    v.detail = std::to_string(o.clients) + format(" clients for %.1f s (half never read): ", o.duration) +
               std::to_string(reset_count) + " reset, " + std::to_string(stalled) + " held by flow control, " +
               format("at most %.1f MiB accepted from one", static_cast<double>(max_accepted) / (1 << 20));
    if (!v.passed)
        v.detail += "; " + (failures.count() ? failures.first()
                            : unbounded      ? std::to_string(unbounded) + " clients had 64 MiB accepted: unbounded"
                                             : after);
    return v;
}

// Zero-length send() calls interleaved with real ones: the stream must come back unchanged.
Verdict zero_length_writes(const SocketAddress& address, const CaseOptions&) {
    std::uint64_t sent = 0, zero = 0;
    std::string error;
    try {
        BlockingConnection c(address, 7, PatternKind::all_bytes);
        for (int i = 0; i < 1000; ++i, ++zero) {
            c.send(0);
            std::size_t n = 1 + static_cast<std::size_t>(i) % 100;
            c.send(n);
            sent += n;
            if (i % 100 == 99) c.expect(5050);
        }
    } catch (const Error& e) {
        error = e.what();
    }
    if (error.empty()) error = still_serves(address);
    Verdict v;
    v.metrics = {{"zero_length_writes", zero}, {"bytes_sent", sent}};
    v.passed = error.empty();
    v.detail = v.passed ? std::to_string(zero) + " 0-length writes between " + std::to_string(sent) +
                              " bytes of every value; all echoed in order"
                        : error;
    return v;
}

}  // namespace kecho::bench
