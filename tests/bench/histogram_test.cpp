// SPDX-License-Identifier: GPL-2.0-only
// The latency histogram against distributions whose percentiles are known exactly.
#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "bench/histogram.h"

using kecho::bench::LatencyHistogram;

namespace {

// Relative error the log-linear layout promises (half a bucket of 1/64 width, with slack).
void expect_close(std::uint64_t got, double want) {
    EXPECT_NEAR(static_cast<double>(got), want, want * 0.01 + 1) << "got " << got << " want " << want;
}

}  // namespace

TEST(Histogram, UniformPercentiles) {
    LatencyHistogram h;
    for (std::uint64_t v = 1; v <= 1'000'000; ++v) h.record(v);
    EXPECT_EQ(h.count(), 1'000'000u);
    EXPECT_EQ(h.min(), 1u);
    EXPECT_EQ(h.max(), 1'000'000u);
    expect_close(h.percentile(50), 500'000);
    expect_close(h.percentile(90), 900'000);
    expect_close(h.percentile(99), 990'000);
    expect_close(h.percentile(99.9), 999'000);
    EXPECT_EQ(h.percentile(100), 1'000'000u);
    EXPECT_NEAR(h.mean(), 500'000.5, 0.01);
}

TEST(Histogram, SmallValuesAreExact) {
    LatencyHistogram h;
    for (std::uint64_t v = 0; v < 100; ++v) h.record(v);
    EXPECT_EQ(h.percentile(50), 49u);
    EXPECT_EQ(h.percentile(1), 0u);
    EXPECT_EQ(h.percentile(100), 99u);
}

TEST(Histogram, ExponentialTail) {
    // Exponential with mean 10 us: p-th percentile = -mean * ln(1 - p).
    std::mt19937_64 rng(42);
    std::exponential_distribution<double> dist(1.0 / 10'000.0);
    LatencyHistogram h;
    for (int i = 0; i < 2'000'000; ++i) h.record(static_cast<std::uint64_t>(dist(rng)));
    for (double p : {50.0, 90.0, 99.0, 99.9}) {
        double want = -10'000.0 * std::log(1.0 - p / 100.0);
        EXPECT_NEAR(static_cast<double>(h.percentile(p)), want, want * 0.03) << "p" << p;
    }
}

TEST(Histogram, BimodalAndMerge) {
    // 90 % at 20 us, 10 % at 5 ms, split over two histograms as two threads would record them.
    LatencyHistogram a, b;
    for (int i = 0; i < 9000; ++i) a.record(20'000);
    for (int i = 0; i < 1000; ++i) b.record(5'000'000);
    a.merge(b);
    EXPECT_EQ(a.count(), 10'000u);
    expect_close(a.percentile(50), 20'000);
    expect_close(a.percentile(90), 20'000);
    expect_close(a.percentile(90.01), 5'000'000);
    expect_close(a.percentile(99.9), 5'000'000);
    EXPECT_EQ(a.max(), 5'000'000u);
}

TEST(Histogram, BucketsCoverEveryValue) {
    for (std::uint64_t v : {0ull, 1ull, 127ull, 128ull, 129ull, 255ull, 256ull, 1000ull, 123456789ull, 1ull << 40,
                            (1ull << 63) + 12343, ~0ull}) {
        auto i = LatencyHistogram::bucket_of(v);
        EXPECT_LE(LatencyHistogram::bucket_low(i), v) << v;
        EXPECT_GE(LatencyHistogram::bucket_high(i), v) << v;
        // Bucket width stays within 1/64 of its values.
        EXPECT_LE(LatencyHistogram::bucket_high(i) - LatencyHistogram::bucket_low(i), v / 64 + 1) << v;
    }
    LatencyHistogram h;
    EXPECT_EQ(h.percentile(99), 0u);  // empty
}
