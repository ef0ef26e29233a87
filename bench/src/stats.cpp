// SPDX-License-Identifier: GPL-2.0-only
#include "bench/stats.h"

#include <algorithm>
#include <cmath>

namespace kecho::bench {
namespace {

// P(B <= k) for B ~ Binomial(n, 1/2), from logarithms (no underflow for large n).
double binomial_half_cdf(std::size_t n, std::size_t k) {
    double sum = 0;
    const double log_half_n = static_cast<double>(n) * std::log(0.5);
    for (std::size_t i = 0; i <= k && i <= n; ++i)
        sum += std::exp(std::lgamma(static_cast<double>(n) + 1) - std::lgamma(static_cast<double>(i) + 1) -
                        std::lgamma(static_cast<double>(n - i) + 1) + log_half_n);
    return sum;
}

// The 1-based rank j of the interval's lower end x(j) (upper end x(n+1-j)), 0 when n runs give none.
std::size_t interval_rank(std::size_t n) {
    std::size_t rank = 0;
    // x(j) <= median <= x(n+1-j) fails when at most j-1 runs fall on one side: 2 P(B <= j-1).
    for (std::size_t j = 1; 2 * j <= n; ++j) {
        if (2 * binomial_half_cdf(n, j - 1) > 1 - interval_confidence) break;
        rank = j;
    }
    return rank;
}

}  // namespace

bool Stat::has_interval() const {
    return !std::isnan(low) && !std::isnan(high);
}

bool Stat::within(double fraction) const {
    return has_interval() && median > 0 && low >= median * (1 - fraction) && high <= median * (1 + fraction);
}

Stat summarize(std::vector<double> values) {
    std::erase_if(values, [](double v) { return std::isnan(v); });
    if (values.empty()) return {NAN, NAN, NAN, NAN, NAN, 0};
    std::sort(values.begin(), values.end());
    const std::size_t n = values.size();
    Stat s{n % 2 ? values[n / 2] : (values[n / 2 - 1] + values[n / 2]) / 2, values.front(), values.back(), NAN, NAN, n};
    if (const std::size_t j = interval_rank(n); j > 0) {
        s.low = values[j - 1];
        s.high = values[n - j];
    }
    return s;
}

bool Ratio::has_interval() const {
    return !std::isnan(low) && !std::isnan(high);
}

Ratio ratio_of(const Stat& a, const Stat& b) {
    Ratio r{a.median / b.median, NAN, NAN};
    if (a.has_interval() && b.has_interval() && b.low > 0) {
        r.low = a.low / b.high;
        r.high = a.high / b.low;
    }
    return r;
}

bool better(double a, double b, bool lower_is_better) {
    if (std::isnan(a)) return false;
    if (std::isnan(b)) return true;
    return lower_is_better ? a < b : a > b;
}

Verdict compare(const Stat& a, const Stat& b, bool lower_is_better) {
    if (!a.has_interval() || !b.has_interval()) return Verdict::unranked;
    if (a.low <= b.high && b.low <= a.high) return Verdict::tie;
    const bool a_higher = a.low > b.high;
    return a_higher != lower_is_better ? Verdict::better : Verdict::worse;
}

std::string verdict_name(Verdict verdict) {
    switch (verdict) {
        case Verdict::better:
            return "faster";
        case Verdict::worse:
            return "slower";
        case Verdict::tie:
            return "tie";
        case Verdict::unranked:
            return "unranked";
    }
    return "?";
}

}  // namespace kecho::bench
