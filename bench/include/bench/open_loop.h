// SPDX-License-Identifier: GPL-2.0-only
// Open loop (wrk2's method): requests leave on a fixed timetable whatever the server does, and each
// request's latency counts from when it was due, not from when it was sent, so a server stall
// shows in every request it delays (no coordinated omission).
//
// N requests/s over C connections: connection i (0-based) sends its k-th request at
// start + (k * C + i) / N seconds, so the connections take turns evenly.
#pragma once

#include <cstdint>
#include <string>

#include "bench/clock.h"

namespace kecho::bench {

class Timetable {
public:
    Timetable(double rate, std::uint32_t connections, std::uint32_t index, Clock::time_point start);

    // When request k (0-based) of this connection is due.
    Clock::time_point due(std::uint64_t k) const;
    // How many requests are due at `now` (request k is due when due(k) <= now).
    std::uint64_t due_by(Clock::time_point now) const;

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

}  // namespace kecho::bench
