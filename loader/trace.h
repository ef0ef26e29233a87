// SPDX-License-Identifier: GPL-2.0-only
// `echo-loader trace`: where each exchange's time goes on one port, for whichever server listens
// there (bpf/echo_trace.bpf.c, static tracepoints only).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "echo_trace.h"

namespace kecho::loader {

struct TraceOptions {
    std::uint16_t port = 0;  // main() sets bpf's port in the server registry
    double seconds = 0;      // 0: until SIGINT/SIGTERM
    bool json = false;
    std::string records_csv;  // every exchange's timestamps, when named
    bool verbose = false;
};

// One phase of an exchange: from one event of echo_trace_record to a later one.
struct TracePhase {
    const char* name;
    __u64 echo_trace_record::*from;
    __u64 echo_trace_record::*to;
};

// The phases `trace` reports, in the order an exchange goes through them. An exchange adds to a
// phase only when both of its events happened.
inline constexpr TracePhase trace_phases[] = {
    {"arrival to readable on an accepted socket", &echo_trace_record::arrived, &echo_trace_record::readable},
    {"arrival to server's first read", &echo_trace_record::arrived, &echo_trace_record::server_read},
    {"readable to psock work queued", &echo_trace_record::readable, &echo_trace_record::work_queued},
    {"work queued to kworker running it", &echo_trace_record::work_queued, &echo_trace_record::work_started},
    {"kworker running to echo at client", &echo_trace_record::work_started, &echo_trace_record::echoed},
    {"server's read to echo at client", &echo_trace_record::server_read, &echo_trace_record::echoed},
    {"arrival to echo at client (server side)", &echo_trace_record::arrived, &echo_trace_record::echoed},
    {"echo at client to client's read", &echo_trace_record::echoed, &echo_trace_record::client_read},
    {"arrival to client's read (the exchange)", &echo_trace_record::arrived, &echo_trace_record::client_read},
};

struct PhaseSummary {
    std::size_t count = 0;
    double mean_us = 0, p50_us = 0, p90_us = 0, p99_us = 0, max_us = 0;
};

// The distribution of every phase over the records (trace_phases order).
std::vector<PhaseSummary> summarize_phases(const std::vector<echo_trace_record>& records);

int run_trace(const TraceOptions& options);

}  // namespace kecho::loader
