// Reliability workloads: load held, churn, half-close at scale, slow and non-reading clients,
// resets, hostile input. Each one is a named case with pass/fail, a detail and metrics, reported
// like the verify battery so scripts/reliability.sh collects them from --json.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "bench/verify.h"
#include "kecho/net.h"

namespace kecho::bench {

struct StressOptions {
    std::uint32_t connections = 10000;  // held: connections open at once
    double hold = 2;                    // held: seconds every connection stays open between two echo rounds
    std::uint64_t cycles = 1000000;     // churn: connect/echo/close cycles
    double duration_limit = 120;        // churn: stop after this many seconds (the rate is reported)
    double retry = 0;                   // churn: seconds a failed cycle is retried (server restarts)
    std::uint32_t clients = 10000;      // half-close: clients; slow: slow + non-reading clients
    std::uint32_t count = 10000;        // resets: connections reset mid-stream
    double duration = 5;                // slow: seconds the clients push without (or barely) reading
    unsigned threads = 4;               // churn, resets: client threads
    bool quick = false;                 // bad-input: 1 MiB instead of 16 MiB messages
};

// held, churn, half-close, resets, slow, bad-input
const std::vector<std::string>& stress_workloads();
bool is_stress_workload(const std::string& name);

// Runs one workload against the server at address; bad-input yields several cases, the others one.
std::vector<CaseResult> run_stress(const std::string& workload, const SocketAddress& address,
                                   const StressOptions& options);

}  // namespace kecho::bench
