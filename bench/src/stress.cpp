#include "bench/stress.h"

#include <poll.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/time.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <mutex>
#include <thread>

#include "bench/clock.h"
#include "bench/payload.h"
#include "bench/transfer.h"
#include "kecho/error.h"

namespace kecho::bench {
namespace {

using std::chrono::milliseconds;

Clock::time_point after_seconds(double s) {
    return Clock::now() + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(s));
}

std::string format(const char* fmt, double a, double b = 0, double c = 0, double d = 0) {
    char text[256];
    std::snprintf(text, sizeof(text), fmt, a, b, c, d);
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

// Reads exactly length bytes (SO_RCVTIMEO bounds each recv) and checks them against the pattern.
// Empty on success, else what went wrong.
std::string recv_checked(int fd, const Pattern& pattern, std::uint64_t offset, std::size_t length) {
    std::uint8_t buf[4096];
    std::size_t got = 0;
    while (got < length) {
        ssize_t r = ::recv(fd, buf, std::min(sizeof(buf), length - got), 0);
        if (r == 0) return "end-of-file after " + std::to_string(got) + " of " + std::to_string(length) + " bytes";
        if (r < 0) {
            if (errno == EINTR) continue;
            if (errno == EAGAIN)
                return "no echo within 5 s (" + std::to_string(got) + " of " + std::to_string(length) + " bytes)";
            return errno_message("recv failed", errno);
        }
        if (auto m = pattern.check(offset + got, buf, static_cast<std::size_t>(r))) return m->describe();
        got += static_cast<std::size_t>(r);
    }
    return {};
}

void set_recv_timeout(int fd, int seconds) {
    timeval tv{seconds, 0};
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
}

// One message on every open connection, then every echo checked, driven by one epoll set.
// Returns how many connections had their echo back byte-exact before the deadline.
std::uint32_t echo_round(std::vector<UniqueFd>& conns, std::uint64_t offset, std::size_t size,
                         Clock::time_point deadline, Failures& failures) {
    UniqueFd ep(::epoll_create1(EPOLL_CLOEXEC));
    if (!ep) throw_errno("epoll_create1 failed", errno);
    std::vector<std::uint8_t> out(size);
    std::vector<std::size_t> got(conns.size(), 0);
    std::uint32_t waiting = 0;
    for (std::size_t i = 0; i < conns.size(); ++i) {
        Pattern pattern(PatternKind::mixed, static_cast<std::uint32_t>(i + 1));
        pattern.fill(offset, out.data(), size);
        ssize_t w = ::send(conns[i].get(), out.data(), size, MSG_NOSIGNAL);
        if (w != static_cast<ssize_t>(size)) {
            failures.add(errno_message("connection " + std::to_string(i + 1) + ": send failed", errno));
            got[i] = SIZE_MAX;
            continue;
        }
        epoll_event ev{};
        ev.events = EPOLLIN;
        ev.data.u64 = i;
        ::epoll_ctl(ep.get(), EPOLL_CTL_ADD, conns[i].get(), &ev);
        ++waiting;
    }
    std::uint32_t echoed = 0;
    std::vector<epoll_event> events(1024);
    std::uint8_t buf[4096];
    while (waiting > 0 && Clock::now() < deadline) {
        int n = ::epoll_wait(ep.get(), events.data(), static_cast<int>(events.size()), 100);
        for (int e = 0; e < n; ++e) {
            std::size_t i = events[e].data.u64;
            Pattern pattern(PatternKind::mixed, static_cast<std::uint32_t>(i + 1));
            ssize_t r = ::recv(conns[i].get(), buf, std::min(sizeof(buf), size - got[i]), 0);
            if (r < 0 && (errno == EAGAIN || errno == EINTR)) continue;
            std::string error;
            if (r == 0)
                error = "end-of-file before the echo";
            else if (r < 0)
                error = errno_message("recv failed", errno);
            else if (auto m = pattern.check(offset + got[i], buf, static_cast<std::size_t>(r)))
                error = m->describe();
            if (error.empty()) {
                got[i] += static_cast<std::size_t>(r);
                if (got[i] < size) continue;
                ++echoed;
            } else {
                failures.add("connection " + std::to_string(i + 1) + ": " + error);
            }
            ::epoll_ctl(ep.get(), EPOLL_CTL_DEL, conns[i].get(), nullptr);
            --waiting;
        }
    }
    if (waiting > 0) failures.add(std::to_string(waiting) + " connections had no complete echo before the deadline");
    return echoed;
}

CaseResult held(const SocketAddress& address, const StressOptions& o) {
    CaseResult r;
    r.name = "held";
    const std::size_t kSize = 64;
    Failures failures;
    std::vector<UniqueFd> conns;
    conns.reserve(o.connections);
    const auto start = Clock::now();
    const auto connect_deadline = after_seconds(120);
    for (std::uint32_t i = 0; i < o.connections && Clock::now() < connect_deadline; ++i) {
        try {
            conns.push_back(connect_to(address, 5000));
            set_nodelay(conns.back().get());
        } catch (const Error& e) {
            failures.add("connection " + std::to_string(i + 1) + " of " + std::to_string(o.connections) + ": " +
                         e.what());
            break;
        }
    }
    const double connect_seconds = seconds_since(start);
    std::uint32_t round1 = 0, round2 = 0;
    if (conns.size() == o.connections) {
        round1 = echo_round(conns, 0, kSize, after_seconds(60), failures);
        std::this_thread::sleep_until(after_seconds(o.hold));
        round2 = echo_round(conns, kSize, kSize, after_seconds(60), failures);
    }
    r.metrics = {{"connections", o.connections}, {"connected", conns.size()},          {"echoed_first_round", round1},
                 {"echoed_after_hold", round2},  {"connect_seconds", connect_seconds}, {"hold_seconds", o.hold},
                 {"failures", failures.count()}};
    r.passed = failures.count() == 0 && round2 == o.connections;
    r.detail = r.passed ? std::to_string(o.connections) + " connections open at once, each echoed 64 bytes, held " +
                              format("%.1f s", o.hold) + ", echoed 64 more; connected in " +
                              format("%.2f s", connect_seconds)
                        : std::to_string(conns.size()) + " of " + std::to_string(o.connections) + " connected, " +
                              std::to_string(round2) + " echoed after the hold; first: " + failures.first();
    return r;
}

// One connect/echo/close cycle; empty on success.
std::string churn_cycle(const SocketAddress& address, std::uint32_t id) {
    try {
        UniqueFd fd = connect_to(address, 2000);
        set_nodelay(fd.get());
        set_recv_timeout(fd.get(), 5);
        Pattern pattern(PatternKind::mixed, id);
        std::uint8_t out[16];
        pattern.fill(0, out, sizeof(out));
        if (::send(fd.get(), out, sizeof(out), MSG_NOSIGNAL) != static_cast<ssize_t>(sizeof(out)))
            return errno_message("send failed", errno);
        return recv_checked(fd.get(), pattern, 0, sizeof(out));
    } catch (const Error& e) {
        return e.what();
    }
}

CaseResult churn(const SocketAddress& address, const StressOptions& o) {
    CaseResult r;
    r.name = "churn";
    Failures failures;
    std::atomic<std::uint64_t> next{0}, done{0}, retried{0};
    const auto start = Clock::now();
    const auto stop_at = after_seconds(o.duration_limit);
    std::vector<std::thread> threads;
    for (unsigned t = 0; t < o.threads; ++t) {
        threads.emplace_back([&] {
            while (Clock::now() < stop_at) {
                std::uint64_t cycle = next.fetch_add(1);
                if (cycle >= o.cycles) return;
                const auto id = static_cast<std::uint32_t>(cycle % 0xffffff) + 1;
                std::string error = churn_cycle(address, id);
                // A restarting server refuses or drops connections for a while: retry within the window.
                const auto retry_until = after_seconds(o.retry);
                while (!error.empty() && Clock::now() < retry_until && Clock::now() < stop_at) {
                    retried.fetch_add(1);
                    std::this_thread::sleep_for(milliseconds(20));
                    error = churn_cycle(address, id);
                }
                if (!error.empty())
                    failures.add("cycle " + std::to_string(cycle + 1) + ": " + error);
                else
                    done.fetch_add(1);
            }
        });
    }
    for (auto& t : threads) t.join();
    const double elapsed = seconds_since(start);
    const std::uint64_t completed = done.load();
    const bool capped = completed + failures.count() < o.cycles;
    const double rate = elapsed > 0 ? static_cast<double>(completed) / elapsed : 0;
    r.metrics = {{"cycles_planned", o.cycles},   {"cycles_done", completed},
                 {"failures", failures.count()}, {"retries", retried.load()},
                 {"seconds", elapsed},           {"cycles_per_second", rate},
                 {"time_capped", capped},        {"duration_limit_seconds", o.duration_limit},
                 {"threads", o.threads}};
    r.passed = failures.count() == 0 && completed > 0;
    std::string what = std::to_string(completed) + " connect/echo/close cycles" +
                       (capped ? " (time cap " + format("%.0f s", o.duration_limit) + " reached before " +
                                     std::to_string(o.cycles) + ")"
                               : "") +
                       format(" in %.1f s, %.0f cycles/s", elapsed, rate);
    if (retried.load()) what += ", " + std::to_string(retried.load()) + " retries";
    r.detail = r.passed
                   ? what
                   : std::to_string(failures.count()) + " failed cycles of " + what + "; first: " + failures.first();
    return r;
}

CaseResult half_close_many(const SocketAddress& address, const StressOptions& o) {
    CaseResult r;
    r.name = "half-close";
    std::uint64_t total = 0;
    auto specs = half_close_specs(o.clients, 8192, total);  // 1 byte .. 8 KiB each
    TransferOptions options;
    options.max_open = 1000;
    options.timeout = milliseconds(180000);
    auto outcomes = run_streams(address, specs, options);
    std::uint64_t returned = 0, incomplete = 0;
    for (const auto& out : outcomes) {
        returned += out.received;
        if (!out.complete) ++incomplete;
    }
    r.metrics = {{"clients", o.clients},
                 {"bytes_sent", total},
                 {"bytes_returned", returned},
                 {"bytes_lost", total - std::min(total, returned)},
                 {"failed_clients", incomplete}};
    r.passed = incomplete == 0 && returned == total;
    r.detail = r.passed
                   ? std::to_string(o.clients) + " clients sent " + std::to_string(total) +
                         " bytes then shut down writing; 0 bytes lost, every one got end-of-file"
                   : std::to_string(incomplete) + " of " + std::to_string(o.clients) + " clients incomplete, " +
                         std::to_string(total - std::min(total, returned)) + " bytes lost; " + first_error(outcomes);
    return r;
}

// Sends 16 KiB, checks the first echoed bytes, then resets with the rest of the echo in flight.
std::string reset_once(const SocketAddress& address, std::uint32_t id) {
    try {
        UniqueFd fd = connect_to(address, 2000);
        set_recv_timeout(fd.get(), 5);
        Pattern pattern(PatternKind::mixed, id);
        std::vector<std::uint8_t> out(16384);
        pattern.fill(0, out.data(), out.size());
        if (::send(fd.get(), out.data(), out.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(out.size()))
            return errno_message("send failed", errno);
        if (auto error = recv_checked(fd.get(), pattern, 0, 1024); !error.empty()) return error;
        reset_and_close(std::move(fd));
        return {};
    } catch (const Error& e) {
        return e.what();
    }
}

// A fresh connection echoes 256 KiB byte-exact (the server still serves). Empty on success.
std::string still_serves(const SocketAddress& address) {
    std::string error = echo_once(address, 0xfffff0, 256 * 1024);
    return error.empty() ? error : "afterwards a new connection failed: " + error;
}

CaseResult resets(const SocketAddress& address, const StressOptions& o) {
    CaseResult r;
    r.name = "resets";
    Failures failures;
    std::atomic<std::uint32_t> next{0}, done{0};
    const auto stop_at = after_seconds(300);
    std::vector<std::thread> threads;
    for (unsigned t = 0; t < o.threads; ++t) {
        threads.emplace_back([&] {
            while (Clock::now() < stop_at) {
                std::uint32_t i = next.fetch_add(1);
                if (i >= o.count) return;
                if (auto error = reset_once(address, i + 1); !error.empty())
                    failures.add("connection " + std::to_string(i + 1) + ": " + error);
                else
                    done.fetch_add(1);
            }
        });
    }
    for (auto& t : threads) t.join();
    std::string after = still_serves(address);
    r.metrics = {{"resets_planned", o.count},
                 {"resets", done.load()},
                 {"failures", failures.count()},
                 {"served_after", after.empty()}};
    r.passed = failures.count() == 0 && done.load() == o.count && after.empty();
    r.detail = r.passed ? std::to_string(o.count) +
                              " clients sent 16 KiB and reset with the echo in flight; a new connection then "
                              "echoed 256 KiB byte-exact"
                        : std::to_string(done.load()) + " of " + std::to_string(o.count) + " resets done; " +
                              (failures.count() ? "first failure: " + failures.first() : after);
    return r;
}

// Half the clients never read; the other half read 16 KiB per 100 ms and check every byte.
CaseResult slow(const SocketAddress& address, const StressOptions& o) {
    CaseResult r;
    r.name = "slow";
    constexpr std::uint64_t kLimit = 64ull << 20;  // per client: reaching it means nothing bounded the client
    struct Client {
        UniqueFd fd;
        Pattern pattern;
        bool reads;
        std::uint64_t sent = 0, checked = 0;
        Clock::time_point last_progress;
        std::string outcome;  // reset, error: ..., or empty while running
    };
    std::vector<Client> clients;
    Failures failures;
    for (std::uint32_t i = 0; i < o.clients; ++i) {
        try {
            UniqueFd fd = connect_to(address, 5000);
            set_nonblocking(fd.get());
            clients.push_back({std::move(fd), Pattern(PatternKind::mixed, i + 1), i % 2 == 1, 0, 0, Clock::now(), {}});
        } catch (const Error& e) {
            failures.add(e.what());
            break;
        }
    }
    std::vector<std::uint8_t> buf(256 * 1024);
    const auto end = after_seconds(o.duration);
    auto next_read = Clock::now();
    while (Clock::now() < end && failures.count() == 0) {
        bool progress = false;
        const bool read_now = Clock::now() >= next_read;
        if (read_now) next_read = Clock::now() + milliseconds(100);
        for (auto& c : clients) {
            if (!c.outcome.empty()) continue;
            if (c.sent < kLimit) {
                std::size_t n = static_cast<std::size_t>(std::min<std::uint64_t>(buf.size(), kLimit - c.sent));
                c.pattern.fill(c.sent, buf.data(), n);
                ssize_t w = ::send(c.fd.get(), buf.data(), n, MSG_NOSIGNAL);
                if (w > 0) {
                    c.sent += static_cast<std::uint64_t>(w);
                    c.last_progress = Clock::now();
                    progress = true;
                } else if (w < 0 && (errno == ECONNRESET || errno == EPIPE)) {
                    c.outcome = "reset";
                    continue;
                } else if (w < 0 && errno != EAGAIN && errno != EINTR) {
                    c.outcome = errno_message("error: send failed", errno);
                    continue;
                }
            }
            if (c.reads && read_now) {
                ssize_t n = ::recv(c.fd.get(), buf.data(), 16384, 0);
                if (n > 0) {
                    if (auto m = c.pattern.check(c.checked, buf.data(), static_cast<std::size_t>(n)))
                        failures.add("slow reader " + std::to_string(c.pattern.connection()) + ": " + m->describe());
                    c.checked += static_cast<std::uint64_t>(n);
                } else if (n < 0 && errno == ECONNRESET) {
                    c.outcome = "reset";
                } else if (n == 0) {
                    c.outcome = "error: end-of-file while still sending";
                }
            }
        }
        if (!progress) std::this_thread::sleep_for(milliseconds(10));
    }
    std::uint64_t max_accepted = 0, total_accepted = 0, reset_count = 0, stalled = 0, unbounded = 0, checked = 0;
    for (auto& c : clients) {
        max_accepted = std::max(max_accepted, c.sent);
        total_accepted += c.sent;
        checked += c.checked;
        if (c.outcome == "reset")
            ++reset_count;
        else if (c.outcome.rfind("error", 0) == 0)
            failures.add("client " + std::to_string(c.pattern.connection()) + ": " + c.outcome);
        else if (c.sent >= kLimit)
            ++unbounded;
        else if (Clock::now() - c.last_progress > milliseconds(500))
            ++stalled;
    }
    clients.clear();
    std::string after = failures.count() ? std::string() : still_serves(address);
    r.metrics = {{"clients", o.clients},
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
    r.passed = failures.count() == 0 && unbounded == 0 && after.empty();
    char text[256];
    std::snprintf(text, sizeof(text),
                  "%u clients for %.1f s (half never read): %llu reset, %llu held by flow control, at most %.1f MiB "
                  "accepted from one",
                  o.clients, o.duration, (unsigned long long)reset_count, (unsigned long long)stalled,
                  static_cast<double>(max_accepted) / (1 << 20));
    r.detail = text;
    if (!r.passed)
        r.detail += "; " + (failures.count() ? failures.first()
                            : unbounded      ? std::to_string(unbounded) + " clients had 64 MiB accepted: unbounded"
                                             : after);
    return r;
}

// Zero-length send() calls interleaved with real ones: the stream must come back unchanged.
CaseResult zero_length_writes(const SocketAddress& address) {
    CaseResult r;
    r.name = "zero-length-writes";
    const auto start = Clock::now();
    std::uint64_t sent = 0, zero = 0;
    std::string error;
    try {
        UniqueFd fd = connect_to(address, 5000);
        set_recv_timeout(fd.get(), 5);
        Pattern pattern(PatternKind::all_bytes, 7);
        std::uint8_t out[128];
        for (int i = 0; i < 1000 && error.empty(); ++i) {
            if (::send(fd.get(), out, 0, MSG_NOSIGNAL) != 0) error = errno_message("0-length send failed", errno);
            ++zero;
            std::size_t n = 1 + static_cast<std::size_t>(i) % 100;
            pattern.fill(sent, out, n);
            if (::send(fd.get(), out, n, MSG_NOSIGNAL) != static_cast<ssize_t>(n))
                error = errno_message("send failed", errno);
            else
                sent += n;
            if (i % 100 == 99 && error.empty()) error = recv_checked(fd.get(), pattern, sent - 5050, 5050);
        }
    } catch (const Error& e) {
        error = e.what();
    }
    if (error.empty()) error = still_serves(address);
    r.seconds = seconds_since(start);
    r.metrics = {{"zero_length_writes", zero}, {"bytes_sent", sent}};
    r.passed = error.empty();
    r.detail = r.passed ? std::to_string(zero) + " 0-length writes between " + std::to_string(sent) +
                              " bytes of every value; all echoed in order"
                        : error;
    return r;
}

}  // namespace

const std::vector<std::string>& stress_workloads() {
    static const std::vector<std::string> names{"held", "churn", "half-close", "resets", "slow", "bad-input"};
    return names;
}

bool is_stress_workload(const std::string& name) {
    const auto& names = stress_workloads();
    return std::find(names.begin(), names.end(), name) != names.end();
}

std::vector<CaseResult> run_stress(const std::string& workload, const SocketAddress& address,
                                   const StressOptions& options) {
    if (workload == "bad-input") {
        std::vector<CaseResult> results{zero_length_writes(address)};
        VerifyOptions vo;
        vo.cases = {"all-byte-values", "nul-heavy", options.quick ? "size-1MiB" : "size-16MiB"};
        for (auto& c : run_verify(address, vo)) results.push_back(std::move(c));
        return results;
    }
    const auto start = Clock::now();
    CaseResult r;
    if (workload == "held")
        r = held(address, options);
    else if (workload == "churn")
        r = churn(address, options);
    else if (workload == "half-close")
        r = half_close_many(address, options);
    else if (workload == "resets")
        r = resets(address, options);
    else if (workload == "slow")
        r = slow(address, options);
    else
        throw Error("unknown reliability workload '" + workload + "'");
    r.seconds = seconds_since(start);
    return {r};
}

}  // namespace kecho::bench
