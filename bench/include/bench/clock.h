// SPDX-License-Identifier: GPL-2.0-only
// The bench's one clock and the elapsed-time helper every workload uses.
#pragma once

#include <chrono>

namespace kecho::bench {

using Clock = std::chrono::steady_clock;

// Seconds since `start`, as a double.
inline double seconds_since(Clock::time_point start) {
    return std::chrono::duration<double>(Clock::now() - start).count();
}

}  // namespace kecho::bench
