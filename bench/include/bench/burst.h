// SPDX-License-Identifier: GPL-2.0-only
// kecho's classic bench: N threads released together by a barrier; each connects, times the send
// and receive of one message, closes. Repeated for R rounds; the result per thread is its average.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "kecho/net.h"

namespace kecho::bench {

struct BurstOptions {
    std::uint32_t threads = 1000;
    std::uint32_t rounds = 10;
    std::string message = "dummy message";
};

struct BurstResult {
    std::vector<double> per_thread_us;  // average send+recv time of thread i over the rounds (index = i)
    double mean_us = 0, median_us = 0, p99_us = 0, max_us = 0;  // of every exchange
    double seconds = 0;                                         // wall time of every round together
    std::uint64_t exchanges = 0;
    std::uint64_t errors = 0;  // failed connects, wrong or missing echo
    std::string first_error;
};

BurstResult run_burst(const SocketAddress& address, const BurstOptions& options);

// kecho's data file: one "index microseconds" line per thread.
void write_burst_file(const std::string& path, const std::vector<double>& per_thread_us);

}  // namespace kecho::bench
