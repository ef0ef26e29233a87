// SPDX-License-Identifier: GPL-2.0-only
// What the bench runs against a server: pingpong and stream (load.cpp), burst (burst.cpp), and the
// named pass/fail cases of verify and the stress workloads (cases.cpp).
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "bench/client.h"
#include "kecho/net.h"

namespace kecho::bench {

// Load generation for pingpong and stream: C connections driven by a few epoll threads (or one
// blocking thread each), every returned byte checked, latency per message in a histogram. A
// connection keeps at most `in_flight` messages of `size` bytes outstanding and starts a new one as
// each completes: pingpong's --pipeline, stream's --window / --size.
enum class ClientEngine {
    epoll,     // a few threads, each an epoll loop over its share of the connections
    blocking,  // one thread per connection, blocking send/recv (the reference the epoll client must beat)
};

struct LoadOptions {
    std::uint32_t connections = 8;
    std::size_t size = 64;        // bytes per message
    std::uint32_t in_flight = 1;  // messages outstanding per connection
    double duration = 5;          // measured seconds
    double warmup = 1;            // seconds before measuring
    unsigned workers = 0;         // epoll threads; 0 = min(max(4, cores), 16, connections)
    ClientEngine engine = ClientEngine::epoll;
    double rate = 0;               // > 0: open loop, requests/s over all connections (Timetable)
    std::vector<int> server_pids;  // processes whose CPU time is the server's (attribution)
};

// CPU accounting over a run: system-wide busy time from /proc/stat, the client's own time from
// getrusage, and where the rest went: the servers' processes, kernel threads (kworkers running the
// in-kernel echo's egress, ksoftirqd) and every other process, read from /proc/<pid>/stat.
//
// With tick accounting (CONFIG_TICK_CPU_ACCOUNTING, no IRQ_TIME_ACCOUNTING: Debian's kernels), a
// softirq is charged to the task it interrupted: on loopback the receive path of a message runs in
// the sender's context, so it lands in the client or the server, and the kernel-thread share is
// what ran deferred (kworkers, ksoftirqd). softirq_seconds (from /proc/stat) says how much of all
// the time was softirq, wherever it was charged.
struct CpuUsage {
    double busy_percent = 0;         // of all CPUs, system-wide
    double busy_seconds = 0;         // CPU-seconds busy, system-wide
    double client_seconds = 0;       // CPU-seconds the bench itself used (its syscalls include the
                                     // loopback stack work done in its context)
    double client_user_seconds = 0;  // of which in user space: the bench's own code
    // Attribution: these add up to tasks_seconds.
    double server_seconds = 0;         // the given server processes
    double kernel_thread_seconds = 0;  // kworkers, ksoftirqd, ...: kernel work outside both
    double other_seconds = 0;          // every other process (other users of the machine)
    double tasks_seconds = 0;          // every task's time, measured independently of busy_seconds
    double softirq_seconds = 0;        // /proc/stat softirq (already inside the above)
    double steal_seconds = 0;
};

// The CPU used from construction to read(), split as CpuUsage says; `server_pids` are the processes
// whose time is the server's.
class CpuMeter {
public:
    explicit CpuMeter(std::vector<int> server_pids);
    CpuMeter(const CpuMeter&) = delete;
    CpuMeter& operator=(const CpuMeter&) = delete;
    ~CpuMeter();
    CpuUsage read() const;

private:
    struct Start;
    std::unique_ptr<Start> start_;
    std::vector<int> server_pids_;
};

// A run's figures by name ("requests_per_s", "cpu_us_per_request", ...).
using Metrics = std::map<std::string, double>;

// The CPU figures of a run of `seconds` that did `units` of work, each unit named `unit` ("request",
// "mb", "exchange", ...): the machine's busy percent, the server's percent of one CPU, the other
// processes' percent of the machine, and CPU microseconds per unit for the machine, then split into
// client (and its user space), server, kernel threads, other processes and softirq.
// Also work_units: the units it divided by.
Metrics cpu_metrics(const CpuUsage& cpu, double seconds, double units, const std::string& unit);

// p50/p90/p99/p99.9/max in microseconds from a nanosecond histogram (p50_us ... max_us).
void add_latency_metrics(Metrics& metrics, const LatencyHistogram& latency_ns);

struct LoadResult {
    double seconds = 0;  // measured window
    Tally tally;         // messages, bytes and latency in the window (every byte checked)
    ErrorCount errors;   // connections that failed (reset, closed, wrong bytes)
    CpuUsage cpu;
    unsigned workers = 0;  // client threads that drove the connections
};

// Opens the connections, warms up, measures, closes. Throws Error when connections cannot be
// opened; server misbehaviour during the run lands in errors.
// `progress` (optional) is called about every 200 ms with the fraction of the run done.
void run_load(const SocketAddress& address, const LoadOptions& options, LoadResult& result,
              const std::function<void(double)>& progress = {});

// Open loop (wrk2's method): requests leave on a fixed timetable whatever the server does, and each
// request's latency counts from when it was due, not from when it was sent, so a server stall
// shows in every request it delays (no coordinated omission).
//
// N requests/s over C connections: connection i (0-based) sends its k-th request at
// start + (k * C + i) / N seconds, so the connections take turns evenly.
class Timetable {
public:
    Timetable(double rate, std::uint32_t connections, std::uint32_t index, Clock::time_point start);

    // When request k (0-based) of this connection is due.
    Clock::time_point due(std::uint64_t k) const;

private:
    double interval_s_;  // between two requests of this connection
    double offset_s_;    // of this connection's first request
    Clock::time_point start_;
};

// Whether a run kept its rate: it did when it completed at least 95 % of the requests due.
struct RateCheck {
    double target = 0;    // requests/s asked for
    double achieved = 0;  // completed / seconds
    bool kept = true;
    std::string describe() const;  // "kept 10,000 req/s" or "could not keep 10,000 req/s: 6,012 achieved"
};

RateCheck check_rate(double target, std::uint64_t completed, double seconds);

// kecho's classic bench: N threads released together by a barrier; each connects, times the send
// and receive of one message, closes. Repeated for R rounds; the result per thread is its average.
// Each exchange's phases are timed too: the connect (kecho leaves it out), the first echoed byte and
// the whole echo after it, so the wait for a server's accept shows where it falls.
struct BurstOptions {
    std::uint32_t threads = 1000;
    std::uint32_t rounds = 10;
    std::string message = "dummy message";
};

// The mean, median, p99 and max of a phase over every exchange, microseconds.
struct PhaseTimes {
    double mean_us = 0, median_us = 0, p99_us = 0, max_us = 0;
};

struct BurstResult {
    std::vector<double> per_thread_us;  // average send+recv time of thread i over the rounds (index = i)
    PhaseTimes echo;                    // send to the whole echo back: kecho's timed interval
    PhaseTimes connect;                 // connect() until it returned (the handshake; the accept queue's backlog)
    PhaseTimes first_byte;              // send to the first echoed byte: the server's accept and read (or verdict)
    PhaseTimes exchange;                // connect through the whole echo
    double seconds = 0;                 // wall time of every round together
    std::uint64_t exchanges = 0;
    ErrorCount errors;  // failed connects, wrong or missing echo
};

void run_burst(const SocketAddress& address, const BurstOptions& options, BurstResult& result);

// The named cases the bench runs for correctness and reliability, each pass or fail with a detail:
// verify's battery and the stress workloads (held, churn, half-close, resets, slow, bad-input) in
// one table, run by one runner, reported in one shape (scripts/reliability.sh reads its --json).
struct CaseOptions {
    bool quick = false;                 // verify, bad-input: the seconds-long variants
    std::uint32_t connections = 10000;  // held: connections open at once
    double hold = 2;                    // held: seconds every connection stays open between two echo rounds
    std::uint64_t cycles = 1000000;     // churn: connect/echo/close cycles
    double duration_limit = 120;        // churn: stop after this many seconds (the rate is reported)
    double retry = 0;                   // churn: seconds a failed cycle is retried (server restarts)
    std::uint32_t clients = 10000;      // half-close: clients; slow: slow + non-reading clients
    std::uint32_t count = 10000;        // resets: connections reset mid-stream
    double duration = 5;                // slow: seconds the clients push without (or barely) reading
    unsigned threads = 4;               // churn, resets: client threads
};

struct CaseResult {
    std::string name;  // set by the runner, as is seconds
    bool passed = false;
    std::string detail;
    double seconds = 0;
    nlohmann::json metrics = nlohmann::json::object();
};
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(CaseResult, name, passed, detail, seconds, metrics)

// The reason at the end of an error ("connection 1: send failed ...: connection reset by peer").
std::string last_reason(const std::string& error);

// verify's cases, in the order the battery runs them.
const std::vector<std::string>& verify_case_names();

// The cases a workload runs: verify's (`selected`, else all or the --quick subset), or the one or
// several of a stress workload.
std::vector<std::string> workload_cases(const std::string& workload, bool quick,
                                        const std::vector<std::string>& selected = {});

// Runs the named cases against the server at `address`; `on_result` sees each result as soon as it
// is known (to print it). Returns every result in run order.
std::vector<CaseResult> run_cases(const SocketAddress& address, const std::vector<std::string>& names,
                                  const CaseOptions& options,
                                  const std::function<void(const CaseResult&)>& on_result = {});

}  // namespace kecho::bench
