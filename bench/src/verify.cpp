#include "bench/verify.h"

#include <poll.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <thread>

#include "bench/clock.h"
#include "bench/payload.h"
#include "bench/transfer.h"
#include "kecho/error.h"

namespace kecho::bench {
namespace {

using std::chrono::milliseconds;

std::string fmt_seconds(double s) {
    char text[32];
    std::snprintf(text, sizeof(text), "%.3f s", s);
    return text;
}

std::string human_bytes(std::uint64_t n) {
    char text[32];
    if (n >= (1u << 20) && n % (1u << 20) == 0)
        std::snprintf(text, sizeof(text), "%llu MiB", (unsigned long long)(n >> 20));
    else if (n >= 1024 && n % 1024 == 0)
        std::snprintf(text, sizeof(text), "%llu KiB", (unsigned long long)(n >> 10));
    else
        std::snprintf(text, sizeof(text), "%llu bytes", (unsigned long long)n);
    return text;
}

// The outcome of a battery case before its name and timing are attached.
struct Verdict {
    bool passed = false;
    std::string detail;
    nlohmann::json metrics = nlohmann::json::object();
};

Verdict from_streams(const std::vector<StreamOutcome>& outcomes, const std::string& success,
                     std::uint64_t total_bytes) {
    Verdict v;
    std::string error = first_error(outcomes);
    std::uint64_t returned = 0;
    for (const auto& o : outcomes) returned += o.received;
    v.metrics["connections"] = outcomes.size();
    v.metrics["bytes_sent"] = total_bytes;
    v.metrics["bytes_returned"] = returned;
    v.passed = error.empty();
    v.detail = v.passed ? success : error;
    return v;
}

Verdict single_stream(PatternKind kind, std::uint64_t bytes, const SocketAddress& address, const std::string& what) {
    StreamSpec spec;
    spec.id = 1;
    spec.kind = kind;
    spec.bytes = bytes;
    TransferOptions options;
    options.timeout = milliseconds(60000);
    return from_streams(run_streams(address, {spec}, options), what + " echoed byte-exact", bytes);
}

Verdict back_to_back(const SocketAddress& address) {
    constexpr std::uint64_t kMessages = 1000, kSize = 64;
    StreamSpec spec;
    spec.id = 1;
    spec.bytes = kMessages * kSize;
    spec.write_chunk = kSize;  // one send() per message, sent without waiting for the echo
    return from_streams(run_streams(address, {spec}),
                        "1000 messages of 64 bytes sent back to back, all echoed in order", spec.bytes);
}

Verdict concurrent(const SocketAddress& address) {
    constexpr std::uint32_t kConnections = 200;
    constexpr std::uint64_t kBytes = 64 * 1024;
    std::vector<StreamSpec> specs;
    for (std::uint32_t i = 0; i < kConnections; ++i) {
        StreamSpec s;
        s.id = i + 1;
        s.bytes = kBytes;
        s.write_chunk = 4096;
        specs.push_back(s);
    }
    TransferOptions options;
    options.max_open = kConnections;
    options.timeout = milliseconds(60000);
    return from_streams(run_streams(address, specs, options),
                        "200 connections open at once, 64 KiB each, every byte back on its own connection",
                        kConnections * kBytes);
}

Verdict half_close(const SocketAddress& address) {
    constexpr std::uint32_t kClients = 1000;
    std::uint64_t total = 0;
    auto specs = half_close_specs(kClients, 16384, total);  // 1 byte .. 16 KiB each
    TransferOptions options;
    options.max_open = 256;
    options.timeout = milliseconds(60000);
    return from_streams(run_streams(address, specs, options),
                        "1000 clients sent then shut down writing; every byte came back, then end-of-file", total);
}

Verdict reset_mid_stream(const SocketAddress& address) {
    Verdict v;
    constexpr std::uint64_t kPlanned = 1 << 20;
    std::uint64_t sent = 0, returned = 0;
    {
        UniqueFd fd = connect_to(address);
        set_nodelay(fd.get());
        set_nonblocking(fd.get());
        Pattern pattern(PatternKind::mixed, 1);
        std::vector<std::uint8_t> buf(64 * 1024);
        const auto send_until = Clock::now() + milliseconds(500);
        // Send part of a stream, read part of the echo, then reset in the middle of it.
        while (sent < kPlanned && Clock::now() < send_until) {
            std::size_t n = static_cast<std::size_t>(std::min<std::uint64_t>(buf.size(), kPlanned - sent));
            pattern.fill(sent, buf.data(), n);
            ssize_t w = ::send(fd.get(), buf.data(), n, MSG_NOSIGNAL);
            if (w > 0) {
                sent += static_cast<std::uint64_t>(w);
                continue;
            }
            if (w < 0 && errno != EAGAIN && errno != EINTR) {
                v.detail =
                    errno_message("send failed before the reset, after " + std::to_string(sent) + " bytes", errno);
                return v;
            }
            // Window full: drain some echo so the stream keeps moving.
            pollfd p{fd.get(), POLLIN | POLLOUT, 0};
            ::poll(&p, 1, 50);
            if (!(p.revents & POLLIN)) continue;
            ssize_t r = ::recv(fd.get(), buf.data(), buf.size(), 0);
            if (r > 0) {
                if (auto m = pattern.check(returned, buf.data(), static_cast<std::size_t>(r))) {
                    v.detail = "before the reset: " + m->describe();
                    return v;
                }
                returned += static_cast<std::uint64_t>(r);
            }
        }
        const auto wait_until = Clock::now() + milliseconds(2000);
        while (returned == 0 && Clock::now() < wait_until) {
            pollfd p{fd.get(), POLLIN, 0};
            if (::poll(&p, 1, 100) <= 0) continue;
            ssize_t r = ::recv(fd.get(), buf.data(), buf.size(), 0);
            if (r <= 0) break;
            if (auto m = pattern.check(returned, buf.data(), static_cast<std::size_t>(r))) {
                v.detail = "before the reset: " + m->describe();
                return v;
            }
            returned += static_cast<std::uint64_t>(r);
        }
        if (returned == 0) {
            v.detail = "nothing came back within 2 s of sending " + std::to_string(sent) + " bytes (before the reset)";
            return v;
        }
        reset_and_close(std::move(fd));
    }
    std::this_thread::sleep_for(milliseconds(50));
    std::string after = echo_once(address, 2, 256 * 1024);
    v.metrics["bytes_sent_before_reset"] = sent;
    v.metrics["bytes_returned_before_reset"] = returned;
    if (!after.empty()) {
        v.detail = "after a client reset mid-stream, a new " + after;
        return v;
    }
    v.passed = true;
    v.detail = "reset after " + std::to_string(sent) + " bytes sent (" + std::to_string(returned) +
               " checked back); a new connection then echoed 256 KiB byte-exact";
    return v;
}

Verdict non_reading(const SocketAddress& address, bool quick) {
    constexpr std::uint64_t kLimit = 64ull << 20;
    const milliseconds stall(quick ? 300 : 1000);         // no progress for this long = held by flow control
    const milliseconds send_phase(quick ? 4000 : 10000);  // bound on the not-reading phase
    Verdict v;
    UniqueFd fd = connect_to(address);
    set_nonblocking(fd.get());
    Pattern pattern(PatternKind::mixed, 1);
    std::vector<std::uint8_t> buf(256 * 1024);
    std::uint64_t accepted = 0;
    std::string outcome;
    int reset_errno = 0;
    const auto start = Clock::now();
    while (accepted < kLimit) {
        if (Clock::now() - start > send_phase) {
            outcome = "flow-control";  // still creeping along after the bound: the server is pacing it
            break;
        }
        std::size_t n = static_cast<std::size_t>(std::min<std::uint64_t>(buf.size(), kLimit - accepted));
        pattern.fill(accepted, buf.data(), n);
        ssize_t w = ::send(fd.get(), buf.data(), n, MSG_NOSIGNAL);
        if (w > 0) {
            accepted += static_cast<std::uint64_t>(w);
            continue;
        }
        if (w < 0 && (errno == ECONNRESET || errno == EPIPE)) {
            outcome = "reset";
            reset_errno = errno;
            break;
        }
        if (w < 0 && errno != EAGAIN && errno != EINTR) {
            v.detail = errno_message("send failed after " + std::to_string(accepted) + " bytes", errno);
            return v;
        }
        pollfd p{fd.get(), POLLOUT, 0};
        int ready = ::poll(&p, 1, static_cast<int>(stall.count()));
        if (ready == 0) {
            outcome = "flow-control";
            break;
        }
        if (p.revents & (POLLERR | POLLHUP)) {
            int err = 0;
            socklen_t len = sizeof(err);
            ::getsockopt(fd.get(), SOL_SOCKET, SO_ERROR, &err, &len);
            outcome = "reset";
            reset_errno = err ? err : ECONNRESET;
            break;
        }
    }
    v.metrics["bytes_accepted"] = accepted;
    if (outcome.empty()) {
        // Every byte was taken. A server that drops what it cannot echo and resets from user space
        // (the bpf guard) may reset a little after a fast client finished: wait briefly for that.
        pollfd p{fd.get(), 0, 0};  // POLLERR/POLLHUP are always reported
        const auto wait_start = Clock::now();
        if (::poll(&p, 1, quick ? 1000 : 2000) > 0 && (p.revents & (POLLERR | POLLHUP))) {
            int err = 0;
            socklen_t len = sizeof(err);
            ::getsockopt(fd.get(), SOL_SOCKET, SO_ERROR, &err, &len);
            auto late_ms = std::chrono::duration_cast<milliseconds>(Clock::now() - wait_start).count();
            v.metrics["outcome"] = "reset";
            v.metrics["bytes_returned"] = 0;
            v.metrics["reset_late_ms"] = late_ms;
            v.passed = true;
            v.detail = "server reset the non-reading client " + std::to_string(late_ms) + " ms after it had sent all " +
                       human_bytes(kLimit) +
                       " (it did not hold the client back: its memory bound must come from dropping)";
            return v;
        }
    }
    if (outcome.empty()) {
        // Every byte of 64 MiB was taken from a client that never reads: nothing bounded it.
        v.metrics["outcome"] = "unbounded";
        v.metrics["bytes_returned"] = 0;
        v.detail = "server accepted all " + human_bytes(kLimit) +
                   " from a client that never reads: neither flow control nor a reset bounded it";
        return v;
    }
    v.metrics["outcome"] = outcome;
    if (outcome == "reset") {
        v.metrics["bytes_returned"] = 0;
        v.passed = true;
        v.detail = "server reset the non-reading client after accepting " + std::to_string(accepted) + " bytes (" +
                   errno_message("send", reset_errno).substr(6) + ")";
        return v;
    }
    // Held by flow control: now read everything back and check it.
    std::uint64_t returned = 0;
    const auto read_until = Clock::now() + milliseconds(quick ? 15000 : 30000);
    std::string error;
    while (returned < accepted && Clock::now() < read_until) {
        pollfd p{fd.get(), POLLIN, 0};
        if (::poll(&p, 1, 200) <= 0) continue;
        ssize_t r = ::recv(fd.get(), buf.data(), buf.size(), 0);
        if (r < 0 && (errno == EAGAIN || errno == EINTR)) continue;
        if (r < 0) {
            error = errno_message("while reading the echo back after " + std::to_string(returned) + " bytes", errno);
            break;
        }
        if (r == 0) {
            error = "server closed the connection after returning " + std::to_string(returned) + " of " +
                    std::to_string(accepted) + " bytes";
            break;
        }
        if (returned + static_cast<std::uint64_t>(r) > accepted) {
            error = "server returned more bytes than were sent (" + std::to_string(returned + r) + " > " +
                    std::to_string(accepted) + ")";
            break;
        }
        if (auto m = pattern.check(returned, buf.data(), static_cast<std::size_t>(r))) {
            error = m->describe();
            break;
        }
        returned += static_cast<std::uint64_t>(r);
    }
    v.metrics["bytes_returned"] = returned;
    if (error.empty() && returned < accepted)
        error = "timed out reading the echo back: " + std::to_string(returned) + " of " + std::to_string(accepted) +
                " bytes returned";
    if (!error.empty()) {
        v.detail = "held by flow control at " + std::to_string(accepted) + " bytes, then " + error;
        return v;
    }
    v.passed = true;
    v.detail = "server held the non-reading client by flow control at " + std::to_string(accepted) +
               " bytes; all of them came back byte-exact once it read";
    return v;
}

struct CaseDef {
    const char* name;
    bool quick;
    std::function<Verdict(const SocketAddress&, bool quick)> run;
};

const std::vector<CaseDef>& case_defs() {
    static const std::vector<CaseDef> defs = {
        {"size-1B", true, [](auto& a, bool) { return single_stream(PatternKind::mixed, 1, a, "1 byte"); }},
        {"size-4KiB", true, [](auto& a, bool) { return single_stream(PatternKind::mixed, 4096, a, "4 KiB"); }},
        {"size-64KiB", true, [](auto& a, bool) { return single_stream(PatternKind::mixed, 64 << 10, a, "64 KiB"); }},
        {"size-1MiB", true, [](auto& a, bool) { return single_stream(PatternKind::mixed, 1 << 20, a, "1 MiB"); }},
        {"size-16MiB", false, [](auto& a, bool) { return single_stream(PatternKind::mixed, 16 << 20, a, "16 MiB"); }},
        {"all-byte-values", true,
         [](auto& a, bool) {
             return single_stream(PatternKind::all_bytes, 64 << 10, a,
                                  "64 KiB holding each byte value 0..255 256 times");
         }},
        {"nul-heavy", true,
         [](auto& a, bool) { return single_stream(PatternKind::nul_heavy, 1 << 20, a, "1 MiB of 98% NUL bytes"); }},
        {"back-to-back-1000", true, [](auto& a, bool) { return back_to_back(a); }},
        {"concurrent-200", true, [](auto& a, bool) { return concurrent(a); }},
        {"half-close-1000", true, [](auto& a, bool) { return half_close(a); }},
        {"reset-mid-stream", true, [](auto& a, bool) { return reset_mid_stream(a); }},
        {"non-reading-client", true, [](auto& a, bool quick) { return non_reading(a, quick); }},
    };
    return defs;
}

}  // namespace

const std::vector<std::string>& verify_case_names() {
    static const std::vector<std::string> names = [] {
        std::vector<std::string> out;
        for (const auto& d : case_defs()) out.push_back(d.name);
        return out;
    }();
    return names;
}

const std::vector<std::string>& verify_quick_case_names() {
    static const std::vector<std::string> names = [] {
        std::vector<std::string> out;
        for (const auto& d : case_defs())
            if (d.quick) out.push_back(d.name);
        return out;
    }();
    return names;
}

bool is_verify_case(const std::string& name) {
    const auto& names = verify_case_names();
    return std::find(names.begin(), names.end(), name) != names.end();
}

std::vector<CaseResult> run_verify(const SocketAddress& address, const VerifyOptions& options,
                                   const std::function<void(const CaseResult&)>& on_result) {
    std::vector<std::string> selected = options.cases;
    if (selected.empty()) selected = options.quick ? verify_quick_case_names() : verify_case_names();
    std::vector<CaseResult> results;
    for (const auto& name : selected) {
        auto def =
            std::find_if(case_defs().begin(), case_defs().end(), [&](const CaseDef& d) { return name == d.name; });
        if (def == case_defs().end()) throw Error("unknown verify case '" + name + "'");
        CaseResult result;
        result.name = name;
        const auto start = Clock::now();
        try {
            Verdict v = def->run(address, options.quick);
            result.passed = v.passed;
            result.detail = v.detail;
            result.metrics = std::move(v.metrics);
        } catch (const Error& e) {
            result.passed = false;
            result.detail = e.what();
        }
        result.seconds = seconds_since(start);
        if (result.passed) result.detail += " in " + fmt_seconds(result.seconds);
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
