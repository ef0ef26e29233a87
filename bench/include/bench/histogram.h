// SPDX-License-Identifier: GPL-2.0-only
// Latency histogram: log-linear buckets (HdrHistogram's layout), so every value is kept within
// 1/128 relative error over nanoseconds to minutes, in fixed memory, merged across threads.
#pragma once

#include <array>
#include <cstdint>
#include <vector>

#include <nlohmann/json.hpp>

namespace kecho::bench {

class LatencyHistogram {
public:
    // 2^7 linear sub-buckets per power of two: relative error below 0.8 %.
    static constexpr unsigned sub_bucket_bits = 7;

    LatencyHistogram();

    void record(std::uint64_t value);
    void merge(const LatencyHistogram& other);

    std::uint64_t count() const { return count_; }
    std::uint64_t min() const { return count_ ? min_ : 0; }
    std::uint64_t max() const { return max_; }
    double mean() const { return count_ ? static_cast<double>(sum_) / static_cast<double>(count_) : 0.0; }

    // The value at percentile p (0 < p <= 100): the smallest recorded bucket value such that at
    // least p % of the samples are <= it, reported as the bucket's midpoint, clamped to [min, max].
    // 0 when empty.
    std::uint64_t percentile(double p) const;

    // Bucket index of a value and the [low, high] range of values a bucket holds (exposed for tests).
    static std::size_t bucket_of(std::uint64_t value);
    static std::uint64_t bucket_low(std::size_t index);
    static std::uint64_t bucket_high(std::size_t index);

    // The mergeable form saved in every run's JSON: {"unit":"ns","sub_bucket_bits":7,"count",
    // "sum","min","max","buckets":[[index,count],...]} (non-empty buckets only). from_json throws
    // Error on a histogram of another layout or with counts that do not add up.
    nlohmann::json to_json() const;
    static LatencyHistogram from_json(const nlohmann::json& doc);

    // (value, fraction of samples <= value) at each non-empty bucket's upper edge: the CDF.
    std::vector<std::pair<std::uint64_t, double>> cdf() const;

private:
    std::vector<std::uint64_t> counts_;
    std::uint64_t count_ = 0;
    std::uint64_t sum_ = 0;
    std::uint64_t min_ = UINT64_MAX;
    std::uint64_t max_ = 0;
};

}  // namespace kecho::bench
