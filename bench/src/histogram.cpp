// SPDX-License-Identifier: GPL-2.0-only
#include "bench/histogram.h"

#include <algorithm>
#include <bit>
#include <cmath>

#include "kecho/error.h"

namespace kecho::bench {
namespace {

constexpr unsigned kSub = LatencyHistogram::sub_bucket_bits;
constexpr std::uint64_t kSubCount = std::uint64_t{1} << kSub;
// Values below 2^kSub have one bucket each; every higher power of two gets kSubCount/2 buckets.
constexpr std::size_t kBuckets = kSubCount + (64 - kSub) * (kSubCount / 2);

}  // namespace

LatencyHistogram::LatencyHistogram() : counts_(kBuckets, 0) {}

std::size_t LatencyHistogram::bucket_of(std::uint64_t value) {
    if (value < kSubCount) return static_cast<std::size_t>(value);
    unsigned top = 63 - static_cast<unsigned>(std::countl_zero(value));  // >= kSub
    unsigned shift = top - (kSub - 1);                                   // keeps kSub significant bits
    std::uint64_t mantissa = value >> shift;                             // in [kSubCount/2, kSubCount)
    return static_cast<std::size_t>(kSubCount + (shift - 1) * (kSubCount / 2) + (mantissa - kSubCount / 2));
}

std::uint64_t LatencyHistogram::bucket_low(std::size_t index) {
    if (index < kSubCount) return index;
    std::size_t rest = index - kSubCount;
    unsigned shift = static_cast<unsigned>(rest / (kSubCount / 2)) + 1;
    std::uint64_t mantissa = kSubCount / 2 + rest % (kSubCount / 2);
    return mantissa << shift;
}

std::uint64_t LatencyHistogram::bucket_high(std::size_t index) {
    return index + 1 < kBuckets ? bucket_low(index + 1) - 1 : UINT64_MAX;
}

void LatencyHistogram::record(std::uint64_t value) {
    ++counts_[bucket_of(value)];
    ++count_;
    sum_ += value;
    min_ = std::min(min_, value);
    max_ = std::max(max_, value);
}

void LatencyHistogram::merge(const LatencyHistogram& other) {
    for (std::size_t i = 0; i < counts_.size(); ++i) counts_[i] += other.counts_[i];
    count_ += other.count_;
    sum_ += other.sum_;
    min_ = std::min(min_, other.min_);
    max_ = std::max(max_, other.max_);
}

std::uint64_t LatencyHistogram::percentile(double p) const {
    if (count_ == 0) return 0;
    p = std::clamp(p, 0.0, 100.0);
    auto rank = static_cast<std::uint64_t>(std::ceil(p / 100.0 * static_cast<double>(count_)));
    rank = std::clamp<std::uint64_t>(rank, 1, count_);
    std::uint64_t seen = 0;
    for (std::size_t i = 0; i < counts_.size(); ++i) {
        seen += counts_[i];
        if (seen >= rank) {
            std::uint64_t mid = bucket_low(i) + (bucket_high(i) - bucket_low(i)) / 2;
            return std::clamp(mid, min_, max_);
        }
    }
    return max_;
}

nlohmann::json LatencyHistogram::to_json() const {
    nlohmann::json buckets = nlohmann::json::array();
    for (std::size_t i = 0; i < counts_.size(); ++i)
        if (counts_[i]) buckets.push_back({i, counts_[i]});
    return {{"unit", "ns"},      {"sub_bucket_bits", sub_bucket_bits},
            {"count", count_},   {"sum", sum_},
            {"min", min()},      {"max", max_},
            {"buckets", buckets}};
}

LatencyHistogram LatencyHistogram::from_json(const nlohmann::json& doc) {
    try {
        if (doc.at("unit") != "ns" || doc.at("sub_bucket_bits") != sub_bucket_bits)
            throw Error("histogram of another layout (unit " + doc.at("unit").dump() + ", sub_bucket_bits " +
                        doc.at("sub_bucket_bits").dump() + ")");
        LatencyHistogram h;
        std::uint64_t total = 0;
        for (const auto& b : doc.at("buckets")) {
            auto index = b.at(0).get<std::size_t>();
            if (index >= h.counts_.size()) throw Error("histogram bucket " + std::to_string(index) + " out of range");
            h.counts_[index] += b.at(1).get<std::uint64_t>();
            total += b.at(1).get<std::uint64_t>();
        }
        h.count_ = doc.at("count").get<std::uint64_t>();
        if (total != h.count_)
            throw Error("histogram counts add up to " + std::to_string(total) + ", not its count " +
                        std::to_string(h.count_));
        h.sum_ = doc.at("sum").get<std::uint64_t>();
        h.max_ = doc.at("max").get<std::uint64_t>();
        h.min_ = h.count_ ? doc.at("min").get<std::uint64_t>() : UINT64_MAX;
        return h;
    } catch (const nlohmann::json::exception& e) {
        throw Error(std::string("malformed histogram: ") + e.what());
    }
}

std::vector<std::pair<std::uint64_t, double>> LatencyHistogram::cdf() const {
    std::vector<std::pair<std::uint64_t, double>> points;
    std::uint64_t seen = 0;
    for (std::size_t i = 0; i < counts_.size(); ++i) {
        if (!counts_[i]) continue;
        seen += counts_[i];
        points.emplace_back(std::min(bucket_high(i), max_), static_cast<double>(seen) / static_cast<double>(count_));
    }
    return points;
}

}  // namespace kecho::bench
