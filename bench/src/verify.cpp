// SPDX-License-Identifier: GPL-2.0-only
#include "bench/verify.h"

#include <algorithm>
#include <cstdio>
#include <thread>

#include "bench/driver.h"
#include "bench/stress.h"
#include "kecho/error.h"

namespace kecho::bench {
namespace {

using std::chrono::milliseconds;

std::string human_bytes(std::uint64_t n) {
    if (n >= (1u << 20) && n % (1u << 20) == 0) return std::to_string(n >> 20) + " MiB";
    if (n >= 1024 && n % 1024 == 0) return std::to_string(n >> 10) + " KiB";
    return std::to_string(n) + " bytes";
}

// The reason at the end of an error ("connection 1: send failed ...: connection reset by peer").
std::string last_reason(const std::string& error) {
    auto colon = error.rfind(": ");
    return colon == std::string::npos ? error : error.substr(colon + 2);
}

Verdict from_streams(const std::vector<Outcome>& outcomes, const std::string& success, std::uint64_t total_bytes) {
    Verdict v;
    std::string error = first_error(outcomes);
    std::uint64_t returned = 0;
    for (const auto& o : outcomes) returned += o.received;
    v.metrics = {{"connections", outcomes.size()}, {"bytes_sent", total_bytes}, {"bytes_returned", returned}};
    v.passed = error.empty();
    v.detail = v.passed ? success : error;
    return v;
}

Verdict single_stream(PatternKind kind, std::uint64_t bytes, const SocketAddress& address, const std::string& what) {
    Plan plan;
    plan.kind = kind;
    plan.bytes = bytes;
    return from_streams(run_streams(address, {plan}, {milliseconds(60000)}), what + " echoed byte-exact", bytes);
}

Verdict back_to_back(const SocketAddress& address) {
    Plan plan;
    plan.bytes = 1000 * 64;
    plan.write_chunk = 64;  // one send() per message, sent without waiting for the echo
    return from_streams(run_streams(address, {plan}),
                        "1000 messages of 64 bytes sent back to back, all echoed in order", plan.bytes);
}

Verdict concurrent(const SocketAddress& address) {
    std::vector<Plan> plans(200);
    for (std::uint32_t i = 0; i < plans.size(); ++i) {
        plans[i].id = i + 1;
        plans[i].bytes = 64 * 1024;
        plans[i].write_chunk = 4096;
    }
    return from_streams(run_streams(address, plans, {milliseconds(60000), plans.size()}),
                        "200 connections open at once, 64 KiB each, every byte back on its own connection",
                        200 * 64 * 1024);
}

Verdict half_close(const SocketAddress& address) {
    std::uint64_t total = 0;
    auto plans = half_close_plans(1000, 16384, total);  // 1 byte .. 16 KiB each
    return from_streams(run_streams(address, plans, {milliseconds(60000), 256}),
                        "1000 clients sent then shut down writing; every byte came back, then end-of-file", total);
}

// Sends a stream while reading its echo slowly, then resets with the rest of the echo in flight.
Verdict reset_mid_stream(const SocketAddress& address) {
    Driver driver(address);
    Plan plan;
    plan.bytes = 1 << 20;
    plan.reading = {true, 64 * 1024, milliseconds(10)};
    driver.add(plan);
    const auto send_until = Clock::now() + milliseconds(500);
    const Outcome& out = driver.outcome(0);
    driver.run(send_until + milliseconds(2000),
               [&] { return out.received > 0 && (out.sent == plan.bytes || Clock::now() > send_until); });
    Verdict v;
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
Verdict non_reading(const SocketAddress& address, bool quick) {
    constexpr std::uint64_t kLimit = 64ull << 20;
    const milliseconds stall(quick ? 300 : 1000);  // no progress for this long = held by flow control
    Driver driver(address);
    Plan plan;
    plan.bytes = kLimit;
    plan.reading.enabled = false;
    driver.add(plan);
    const Outcome& out = driver.outcome(0);
    driver.run(Clock::now() + milliseconds(quick ? 4000 : 10000),
               [&] { return out.sent == kLimit || (out.sent > 0 && Clock::now() - out.last_send > stall); });
    Verdict v;
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
                                            " ms after it had sent all " + human_bytes(kLimit) +
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
        v.detail = "server accepted all " + human_bytes(kLimit) +
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

using CaseFunction = std::function<Verdict(const SocketAddress&, const CaseOptions&)>;

struct CaseDef {
    const char* name;
    const char* workload;  // verify, or the stress workload that runs it
    bool quick;            // in verify's --quick subset
    CaseFunction run;
};

CaseFunction stream_case(PatternKind kind, std::uint64_t bytes, const char* what) {
    return [=](const SocketAddress& a, const CaseOptions&) { return single_stream(kind, bytes, a, what); };
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
        {"back-to-back-1000", "verify", true, [](A a, O) { return back_to_back(a); }},
        {"concurrent-200", "verify", true, [](A a, O) { return concurrent(a); }},
        {"half-close-1000", "verify", true, [](A a, O) { return half_close(a); }},
        {"reset-mid-stream", "verify", true, [](A a, O) { return reset_mid_stream(a); }},
        {"non-reading-client", "verify", true, [](A a, O o) { return non_reading(a, o.quick); }},
        {"held", "held", false, held},
        {"churn", "churn", false, churn},
        {"half-close", "half-close", false, half_close_many},
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

const std::vector<std::string>& verify_case_names() {
    static const std::vector<std::string> names = workload_cases("verify", false);
    return names;
}

bool is_verify_case(const std::string& name) {
    const CaseDef* def = find_case(name);
    return def && std::string(def->workload) == "verify";
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
        result.name = name;
        const auto start = Clock::now();
        try {
            Verdict v = def->run(address, options);
            result.passed = v.passed;
            result.detail = v.detail;
            result.metrics = std::move(v.metrics);
        } catch (const Error& e) {
            result.detail = e.what();
        }
        result.seconds = seconds_since(start);
        char took[32];
        std::snprintf(took, sizeof(took), " in %.3f s", result.seconds);
        if (result.passed) result.detail += took;
        if (on_result) on_result(result);
        results.push_back(std::move(result));
    }
    return results;
}

std::string format_case_line(const CaseResult& result) {
    return std::string(result.passed ? "PASS " : "FAIL ") + result.name + " " + result.detail;
}

nlohmann::json verify_json(const std::vector<CaseResult>& results) {
    nlohmann::json cases = nlohmann::json::array();
    int passed = 0, failed = 0;
    for (const auto& r : results) {
        cases.push_back({{"name", r.name},
                         {"passed", r.passed},
                         {"detail", r.detail},
                         {"seconds", r.seconds},
                         {"metrics", r.metrics}});
        (r.passed ? passed : failed)++;
    }
    return {{"cases", cases}, {"passed", passed}, {"failed", failed}};
}

}  // namespace kecho::bench
