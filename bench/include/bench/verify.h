// SPDX-License-Identifier: GPL-2.0-only
// The named cases the bench runs for correctness and reliability, each pass or fail with a detail:
// verify's battery and the stress workloads (held, churn, half-close, resets, slow, bad-input) in
// one table, run by one runner, reported in one shape (scripts/reliability.sh reads its --json).
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "kecho/net.h"

namespace kecho::bench {

struct CaseResult {
    std::string name;
    bool passed = false;
    std::string detail;
    double seconds = 0;
    nlohmann::json metrics = nlohmann::json::object();
};

// What a case function decides; the runner adds the name and the timing.
struct Verdict {
    bool passed = false;
    std::string detail;
    nlohmann::json metrics = nlohmann::json::object();
};

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

// verify's cases, in the order the battery runs them.
const std::vector<std::string>& verify_case_names();
bool is_verify_case(const std::string& name);

// The cases a workload runs: verify's (`selected`, else all or the --quick subset), or the one or
// several of a stress workload.
std::vector<std::string> workload_cases(const std::string& workload, bool quick,
                                        const std::vector<std::string>& selected = {});

// Runs the named cases against the server at `address`; `on_result` sees each result as soon as it
// is known (to print it). Returns every result in run order.
std::vector<CaseResult> run_cases(const SocketAddress& address, const std::vector<std::string>& names,
                                  const CaseOptions& options,
                                  const std::function<void(const CaseResult&)>& on_result = {});

// "PASS size-1B 1 byte echoed in 0.000 s" / "FAIL ...": one line, no newline.
std::string format_case_line(const CaseResult& result);

// {"cases":[...], "passed":N, "failed":M}
nlohmann::json verify_json(const std::vector<CaseResult>& results);

}  // namespace kecho::bench
