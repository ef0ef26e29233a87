// SPDX-License-Identifier: GPL-2.0-only
// The statistic every comparison figure carries, in one place: the median of a target's runs with
// its 95% confidence interval, the ratio of two such figures with its interval, and whether two
// figures rank or tie. bench's tables, its JSON (what bench summarize reads back) and the stopping
// rule of repeated runs (bench --ci) all use these.
//
// The interval is distribution-free: the order statistics x(j) and x(n+1-j) of the sorted runs,
// with j the largest index for which the binomial distribution (n, 1/2) puts at least 95% between
// them (Le Boudec, Performance Evaluation of Computer and Communication Systems, 2.2.1). It assumes
// nothing about how runs spread, so one slow run (another job on the machine) moves it by one order
// statistic at most; the price is that fewer than 6 runs give no 95% interval at all.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

namespace kecho::bench {

inline constexpr double interval_confidence = 0.95;
// The fewest runs with a 95% interval of the median (5 runs: [min, max] holds it 93.75% of the time).
inline constexpr std::size_t runs_for_interval = 6;

struct Stat {
    double median = 0, min = 0, max = 0;
    double low = 0, high = 0;  // the 95% interval of the median; NaN below runs_for_interval runs
    std::size_t runs = 0;

    bool has_interval() const;
    // Whether the interval lies within +/- fraction of the median (false without an interval).
    bool within(double fraction) const;
};

// The median, min-max and interval of the values (NaN values left out; NaN everywhere when none is left).
Stat summarize(std::vector<double> values);

// a / b with an interval: the quotients of the intervals' ends. It holds the true ratio whenever both
// intervals hold their medians, so at least 90% of the time for two 95% intervals. No interval (NaN
// ends) when either figure has none.
struct Ratio {
    double value = 0, low = 0, high = 0;
    bool has_interval() const;
};
Ratio ratio_of(const Stat& a, const Stat& b);

// Whether a beats b in the metric's direction (higher, or lower for a time); NaN never beats a
// number, and any number beats NaN.
bool better(double a, double b, bool lower_is_better);

// How figure a stands against b: better or worse when their intervals do not overlap (in the
// metric's direction), a tie when they do, unranked when either has no interval.
enum class Verdict { better, worse, tie, unranked };
Verdict compare(const Stat& a, const Stat& b, bool lower_is_better);
// "faster", "slower", "tie", "unranked".
std::string verdict_name(Verdict verdict);

}  // namespace kecho::bench
