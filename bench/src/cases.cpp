// SPDX-License-Identifier: GPL-2.0-only
// verify's battery and the stress workloads: one case table, one runner.
#include <algorithm>
#include <atomic>
#include <cstdio>
#include <random>
#include <thread>

#include "bench/workloads.h"

namespace kecho::bench {
namespace {

using std::chrono::milliseconds;

// What a non-reading or slow client sends at most: reaching it means nothing bounded the client.
constexpr std::uint64_t kLimit = 64ull << 20;

std::string format(const char* fmt, double a, double b = 0) {
    char text[256];
    std::snprintf(text, sizeof(text), fmt, a, b);
    return text;
}

// Runs `one(i)` for i in [0, total) on `threads` threads until done or `stop_at`; an error string
// lands in failures. Returns how many succeeded.
std::uint64_t on_threads(unsigned threads, std::uint64_t total, Clock::time_point stop_at, ErrorCount& failures,
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

// One fresh connection echoes `bytes` byte-exact within 10 s. Empty on success, else the error.
std::string echo_once(const SocketAddress& address, std::uint32_t id, std::uint64_t bytes) {
    Plan plan;
    plan.id = id;
    plan.bytes = bytes;
    auto outcomes = run_streams(address, {plan}, std::chrono::seconds(10));
    return outcomes[0].complete ? std::string() : outcomes[0].error;
}

// A fresh connection echoes 256 KiB byte-exact (the server still serves). Empty on success.
std::string still_serves(const SocketAddress& address) {
    std::string error = echo_once(address, 0xfffff0, 256 * 1024);
    return error.empty() ? error : "afterwards a new connection failed: " + error;
}

CaseResult from_streams(const std::vector<Outcome>& outcomes, const std::string& success, std::uint64_t total_bytes) {
    CaseResult v;
    std::string error = first_error(outcomes);
    std::uint64_t returned = 0;
    for (const auto& o : outcomes) returned += o.received;
    v.metrics = {{"connections", outcomes.size()}, {"bytes_sent", total_bytes}, {"bytes_returned", returned}};
    v.passed = error.empty();
    v.detail = v.passed ? success : error;
    return v;
}

// `count` connections (ids 1..count) each send `plan`'s bytes and must get every one back.
CaseResult streams(const SocketAddress& address, std::uint32_t count, Plan plan, milliseconds timeout,
                   const std::string& success) {
    std::vector<Plan> plans(count, plan);
    for (std::uint32_t i = 0; i < count; ++i) plans[i].id = i + 1;
    return from_streams(run_streams(address, plans, timeout, count), success, plan.bytes * count);
}

// `clients` connections send 1 byte .. max_bytes each (varied), shut down writing, and must get
// every byte back, then end-of-file.
CaseResult half_close(const SocketAddress& address, std::uint32_t clients, std::uint64_t max_bytes,
                      milliseconds timeout, std::size_t max_open) {
    std::vector<Plan> plans(clients);
    std::uint64_t total = 0;
    for (std::uint32_t i = 0; i < clients; ++i) {
        plans[i].id = i + 1;
        plans[i].bytes = 1 + (static_cast<std::uint64_t>(i) * 7919u) % max_bytes;
        plans[i].half_close = true;
        total += plans[i].bytes;
    }
    const auto start = Clock::now();
    auto outcomes = run_streams(address, plans, timeout, max_open);
    const double seconds = seconds_since(start);
    const std::string all = std::to_string(clients);
    CaseResult v = from_streams(outcomes,
                                all + " clients sent " + std::to_string(total) +
                                    " bytes then shut down writing; 0 bytes lost, every one got end-of-file",
                                total);
    const auto failed = std::count_if(outcomes.begin(), outcomes.end(), [](const Outcome& o) { return !o.complete; });
    const std::uint64_t lost = total - std::min(total, v.metrics["bytes_returned"].get<std::uint64_t>());
    v.metrics.update({{"clients", clients},
                      {"bytes_lost", lost},
                      {"failed_clients", failed},
                      {"clients_per_second", seconds > 0 ? clients / seconds : 0.0}});
    if (!v.passed)
        v.detail = std::to_string(failed) + " of " + all + " clients incomplete, " + std::to_string(lost) +
                   " bytes lost; " + v.detail;
    return v;
}

// The client of issue 20's reset under loss: 64 connections, each writing 1 byte to 300 KB per
// send() and reading random sizes, 30% with a 4 KiB receive buffer set before connect, each
// half-closing after its last byte; every byte must come back, then end-of-file.
CaseResult mixed(const SocketAddress& address, std::uint32_t connections, milliseconds timeout) {
    std::vector<Plan> plans(connections);
    const std::uint32_t seed = std::random_device{}();  // a new mix each run, named in the result
    std::minstd_rand rng(seed);
    std::uint64_t total = 0;
    for (std::uint32_t i = 0; i < connections; ++i) {
        Plan& p = plans[i];
        p.id = i + 1;
        p.bytes = 1 + rng() % (1u << 20);
        p.write_chunk = 300 * 1000;
        p.varied_sizes = seed + i + 1;
        p.receive_buffer = i % 10 < 3 ? 4096 : 0;
        p.half_close = true;
        total += p.bytes;
    }
    CaseResult v = from_streams(run_streams(address, plans, timeout, connections),
                                std::to_string(connections) +
                                    " connections of random sizes (writes 1 B-300 KB, random reads, 30% with a 4 KiB "
                                    "receive buffer), half-closed: every byte back, then end-of-file",
                                total);
    v.detail += " (mix " + std::to_string(seed) + ")";
    v.metrics["mix"] = seed;
    return v;
}

// Sends a stream while reading its echo slowly, then resets with the rest of the echo in flight.
CaseResult reset_mid_stream(const SocketAddress& address) {
    Driver driver(address);
    Plan plan;
    plan.bytes = 1 << 20;
    plan.reading = {true, 64 * 1024, milliseconds(10)};
    driver.add(plan);
    const auto send_until = Clock::now() + milliseconds(500);
    const Outcome& out = driver.outcome(0);
    driver.run(send_until + milliseconds(2000),
               [&] { return out.received > 0 && (out.sent == plan.bytes || Clock::now() > send_until); });
    CaseResult v;
    v.metrics = {{"bytes_sent_before_reset", out.sent}, {"bytes_returned_before_reset", out.received}};
    if (!out.error.empty() || out.complete) {
        v.detail = "before the reset: " + (out.complete ? "the whole echo came back already" : out.error);
        return v;
    }
    if (out.received == 0) {
        v.detail = "nothing came back within 2 s of sending " + std::to_string(out.sent) + " bytes (before the reset)";
        return v;
    }
    reset_and_close(driver.release(0));
    std::this_thread::sleep_for(milliseconds(50));
    if (std::string after = echo_once(address, 2, 256 * 1024); !after.empty()) {
        v.detail = "after a client reset mid-stream, a new " + after;
        return v;
    }
    v.passed = true;
    v.detail = "reset after " + std::to_string(out.sent) + " bytes sent (" + std::to_string(out.received) +
               " checked back); a new connection then echoed 256 KiB byte-exact";
    return v;
}

// A client that sends and never reads must be held back (flow control) or reset, never let
// through without bound; held back, every byte it sent must come back once it reads.
CaseResult non_reading(const SocketAddress& address, bool quick) {
    const milliseconds stall(quick ? 300 : 1000);  // no progress for this long = held by flow control
    Driver driver(address);
    Plan plan;
    plan.bytes = kLimit;
    plan.reading.enabled = false;
    driver.add(plan);
    const Outcome& out = driver.outcome(0);
    driver.run(Clock::now() + milliseconds(quick ? 4000 : 10000),
               [&] { return out.sent == kLimit || (out.sent > 0 && Clock::now() - out.last_send > stall); });
    CaseResult v;
    v.metrics = {{"bytes_accepted", out.sent}, {"bytes_returned", 0}};
    const auto wait_start = Clock::now();
    // Every byte taken: a server that drops what it cannot echo and resets from user space (the bpf
    // guard) may reset a little after a fast client finished: wait briefly for that.
    if (out.sent == kLimit && out.error.empty()) driver.run(wait_start + milliseconds(quick ? 1000 : 2000));
    if (out.reset) {
        auto late_ms = std::chrono::duration_cast<milliseconds>(Clock::now() - wait_start).count();
        v.metrics["outcome"] = "reset";
        v.passed = true;
        v.detail = out.sent == kLimit ? "server reset the non-reading client " + std::to_string(late_ms) +
                                            " ms after it had sent all " + std::to_string(kLimit >> 20) + " MiB" +
                                            " (it did not hold the client back: its memory bound must come from "
                                            "dropping)"
                                      : "server reset the non-reading client after accepting " +
                                            std::to_string(out.sent) + " bytes (" + last_reason(out.error) + ")";
        if (out.sent == kLimit) v.metrics["reset_late_ms"] = late_ms;
        return v;
    }
    if (!out.error.empty()) return v.detail = out.error, v;
    if (out.sent == kLimit) {
        v.metrics["outcome"] = "unbounded";
        v.detail = "server accepted all " + std::to_string(kLimit >> 20) + " MiB" +
                   " from a client that never reads: neither flow control nor a reset bounded it";
        return v;
    }
    // Held by flow control: now read everything back and check it.
    v.metrics["outcome"] = "flow-control";
    const std::uint64_t accepted = out.sent;
    driver.stop_sending(0);
    driver.run(Clock::now() + milliseconds(quick ? 15000 : 30000));
    driver.expire();
    v.metrics["bytes_returned"] = out.received;
    v.passed = out.complete;
    v.detail = v.passed ? "server held the non-reading client by flow control at " + std::to_string(accepted) +
                              " bytes; all of them came back byte-exact once it read"
                        : "held by flow control at " + std::to_string(accepted) + " bytes, then " + out.error;
    return v;
}

CaseResult held(const SocketAddress& address, const CaseOptions& o) {
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
    CaseResult v;
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

CaseResult churn(const SocketAddress& address, const CaseOptions& o) {
    ErrorCount failures;
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
    CaseResult v;
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

CaseResult resets(const SocketAddress& address, const CaseOptions& o) {
    ErrorCount failures;
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
    CaseResult v;
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
CaseResult slow(const SocketAddress& address, const CaseOptions& o) {
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
    ErrorCount failures;
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
    CaseResult v;
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
CaseResult zero_length_writes(const SocketAddress& address, const CaseOptions&) {
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
    CaseResult v;
    v.metrics = {{"zero_length_writes", zero}, {"bytes_sent", sent}};
    v.passed = error.empty();
    v.detail = v.passed ? std::to_string(zero) + " 0-length writes between " + std::to_string(sent) +
                              " bytes of every value; all echoed in order"
                        : error;
    return v;
}

using CaseFunction = std::function<CaseResult(const SocketAddress&, const CaseOptions&)>;

struct CaseDef {
    const char* name;
    const char* workload;  // verify, or the stress workload that runs it
    bool quick;            // in verify's --quick subset
    CaseFunction run;
};

// One connection sends `bytes` of a pattern.
CaseFunction stream_case(PatternKind kind, std::uint64_t bytes, const std::string& what) {
    return [=](const SocketAddress& a, const CaseOptions&) {
        return streams(a, 1, {.kind = kind, .bytes = bytes}, milliseconds(60000), what + " echoed byte-exact");
    };
}

const std::vector<CaseDef>& case_defs() {
    using A = const SocketAddress&;
    using O = const CaseOptions&;
    static const std::vector<CaseDef> defs = {
        {"size-1B", "verify", true, stream_case(PatternKind::mixed, 1, "1 byte")},
        {"size-4KiB", "verify", true, stream_case(PatternKind::mixed, 4096, "4 KiB")},
        {"size-64KiB", "verify", true, stream_case(PatternKind::mixed, 64 << 10, "64 KiB")},
        {"size-1MiB", "verify", true, stream_case(PatternKind::mixed, 1 << 20, "1 MiB")},
        {"size-16MiB", "verify", false, stream_case(PatternKind::mixed, 16 << 20, "16 MiB")},
        {"all-byte-values", "verify", true,
         stream_case(PatternKind::all_bytes, 64 << 10, "64 KiB holding each byte value 0..255 256 times")},
        {"nul-heavy", "verify", true, stream_case(PatternKind::nul_heavy, 1 << 20, "1 MiB of 98% NUL bytes")},
        // One send() per message, sent without waiting for the echo.
        {"back-to-back-1000", "verify", true,
         [](A a, O) {
             return streams(a, 1, {.bytes = 1000 * 64, .write_chunk = 64}, milliseconds(30000),
                            "1000 messages of 64 bytes sent back to back, all echoed in order");
         }},
        {"concurrent-200", "verify", true,
         [](A a, O) {
             return streams(a, 200, {.bytes = 64 * 1024, .write_chunk = 4096}, milliseconds(60000),
                            "200 connections open at once, 64 KiB each, every byte back on its own connection");
         }},
        {"half-close-1000", "verify", true,
         [](A a, O) { return half_close(a, 1000, 16384, milliseconds(60000), 256); }},
        {"reset-mid-stream", "verify", true, [](A a, O) { return reset_mid_stream(a); }},
        // 90 s: under 5% loss it takes seconds; a stall must end as this case's FAIL, with its mix and
        // the connections still short, before the VM guests' 150 s bound on the whole battery.
        {"mixed-64", "verify", true, [](A a, O) { return mixed(a, 64, milliseconds(90000)); }},
        {"non-reading-client", "verify", true, [](A a, O o) { return non_reading(a, o.quick); }},
        {"held", "held", false, held},
        {"churn", "churn", false, churn},
        {"half-close", "half-close", false,
         [](A a, O o) { return half_close(a, o.clients, 8192, milliseconds(180000), 1000); }},
        {"resets", "resets", false, resets},
        {"slow", "slow", false, slow},
        {"zero-length-writes", "bad-input", false, zero_length_writes},
    };
    return defs;
}

const CaseDef* find_case(const std::string& name) {
    for (const auto& d : case_defs())
        if (name == d.name) return &d;
    return nullptr;
}

}  // namespace

std::string last_reason(const std::string& error) {
    auto colon = error.rfind(": ");
    return colon == std::string::npos ? error : error.substr(colon + 2);
}

const std::vector<std::string>& verify_case_names() {
    static const std::vector<std::string> names = workload_cases("verify", false);
    return names;
}

std::vector<std::string> workload_cases(const std::string& workload, bool quick,
                                        const std::vector<std::string>& selected) {
    if (!selected.empty()) return selected;
    std::vector<std::string> names;
    for (const auto& d : case_defs())
        if (workload == d.workload && (d.quick || !quick || workload != "verify")) names.push_back(d.name);
    // Hostile input: zero-length writes, then verify's cases with unusual bytes and a long message.
    if (workload == "bad-input")
        names.insert(names.end(), {"all-byte-values", "nul-heavy", quick ? "size-1MiB" : "size-16MiB"});
    return names;
}

std::vector<CaseResult> run_cases(const SocketAddress& address, const std::vector<std::string>& names,
                                  const CaseOptions& options, const std::function<void(const CaseResult&)>& on_result) {
    std::vector<CaseResult> results;
    for (const auto& name : names) {
        const CaseDef* def = find_case(name);
        if (!def) throw Error("unknown case '" + name + "'");
        CaseResult result;
        const auto start = Clock::now();
        try {
            result = def->run(address, options);
        } catch (const Error& e) {
            result.detail = e.what();
        }
        result.name = name;
        result.seconds = seconds_since(start);
        if (result.passed) result.detail += format(" in %.3f s", result.seconds);
        if (on_result) on_result(result);
        results.push_back(std::move(result));
    }
    return results;
}

}  // namespace kecho::bench
