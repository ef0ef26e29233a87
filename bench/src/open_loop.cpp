// SPDX-License-Identifier: GPL-2.0-only
#include "bench/open_loop.h"

#include <cmath>
#include <cstdio>

namespace kecho::bench {

Timetable::Timetable(double rate, std::uint32_t connections, std::uint32_t index, Clock::time_point start)
    : interval_s_(static_cast<double>(connections) / rate),
      offset_s_(static_cast<double>(index) / rate),
      start_(start) {}

Clock::time_point Timetable::due(std::uint64_t k) const {
    const double at = offset_s_ + static_cast<double>(k) * interval_s_;
    return start_ + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(at));
}

std::uint64_t Timetable::due_by(Clock::time_point now) const {
    const double elapsed = std::chrono::duration<double>(now - start_).count() - offset_s_;
    if (elapsed < 0) return 0;
    auto n = static_cast<std::uint64_t>(std::floor(elapsed / interval_s_)) + 1;
    while (n > 0 && due(n - 1) > now) --n;  // floating point at the boundary
    while (due(n) <= now) ++n;
    return n;
}

std::string RateCheck::describe() const {
    char text[160];
    if (kept)
        std::snprintf(text, sizeof(text), "kept %.0f req/s (%.0f achieved)", target, achieved);
    else
        std::snprintf(text, sizeof(text), "could not keep %.0f req/s: %.0f achieved (%.0f%%)", target, achieved,
                      target > 0 ? 100 * achieved / target : 0);
    return text;
}

RateCheck check_rate(double target, std::uint64_t completed, double seconds) {
    RateCheck r;
    r.target = target;
    r.achieved = seconds > 0 ? static_cast<double>(completed) / seconds : 0;
    r.kept = r.achieved >= 0.95 * target;
    return r;
}

}  // namespace kecho::bench
