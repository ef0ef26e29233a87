// SPDX-License-Identifier: GPL-2.0-only
// Load generation for pingpong and stream: C connections driven by a few epoll threads (never a
// thread per connection), every returned byte checked, latency per message in a histogram.
//
// One engine serves both workloads. A connection keeps at most `in_flight` messages of `size`
// bytes outstanding and starts a new one as each completes:
//   pingpong: in_flight = --pipeline (1 = strict request/response);
//   stream:   in_flight = --window / --size (bytes in flight bounded by the window).
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "bench/cpu.h"
#include "bench/histogram.h"
#include "kecho/net.h"

namespace kecho::bench {

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
    double rate = 0;               // > 0: open loop, requests/s over all connections (bench/open_loop.h)
    std::vector<int> server_pids;  // processes whose CPU time is the server's (attribution)
};

struct LoadResult {
    double seconds = 0;                // measured window
    std::uint64_t messages = 0;        // completed in the window
    std::uint64_t bytes_sent = 0;      // in the window
    std::uint64_t bytes_received = 0;  // in the window (every one checked)
    LatencyHistogram latency_ns;       // per message, completed in the window
    std::uint64_t errors = 0;          // connections that failed (reset, closed, wrong bytes)
    std::string first_error;
    double cpu_busy_percent = 0;         // system-wide
    double cpu_busy_seconds = 0;         // system-wide CPU-seconds in the window
    double client_cpu_seconds = 0;       // the bench's own CPU-seconds in the window
    double client_user_cpu_seconds = 0;  // of which in user space
    CpuUsage cpu;                        // the whole split (client, servers, kernel threads, others)
    unsigned workers = 0;                // client threads that drove the connections
};

// Opens the connections, warms up, measures, closes. Throws Error when connections cannot be
// opened; server misbehaviour during the run lands in errors/first_error.
// `progress` (optional) is called about every 200 ms with the fraction of the run done.
LoadResult run_load(const SocketAddress& address, const LoadOptions& options,
                    const std::function<void(double)>& progress = {});

}  // namespace kecho::bench
