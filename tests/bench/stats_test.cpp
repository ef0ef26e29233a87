// SPDX-License-Identifier: GPL-2.0-only
// The statistic every comparison figure carries (bench/stats.h): the 95% interval of the median,
// the ratio's interval, and the verdict that calls overlapping intervals a tie.
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "bench/stats.h"

using kecho::bench::compare;
using kecho::bench::ratio_of;
using kecho::bench::summarize;
using kecho::bench::Verdict;

namespace {

std::vector<double> one_to(int n) {
    std::vector<double> v;
    for (int i = n; i >= 1; --i) v.push_back(i);  // unsorted on purpose
    return v;
}

}  // namespace

// Five runs are too few for a 95% interval ([min, max] holds the median 93.75% of the time); six
// give [min, max]; nine drop one run at each end; a NaN run is left out.
TEST(Interval, OrderStatisticsOfTheSortedRuns) {
    auto five = summarize(one_to(5));
    EXPECT_EQ(five.median, 3);
    EXPECT_EQ(five.runs, 5u);
    EXPECT_FALSE(five.has_interval());
    auto six = summarize(one_to(6));
    EXPECT_EQ(six.median, 3.5);
    EXPECT_EQ(six.low, 1);
    EXPECT_EQ(six.high, 6);
    auto nine = summarize(one_to(9));
    EXPECT_EQ(nine.low, 2);
    EXPECT_EQ(nine.high, 8);
    auto twelve = summarize(one_to(12));
    EXPECT_EQ(twelve.low, 3);
    EXPECT_EQ(twelve.high, 10);
    std::vector<double> with_nan = one_to(6);
    with_nan.push_back(NAN);
    EXPECT_EQ(summarize(with_nan).runs, 6u);
    EXPECT_TRUE(std::isnan(summarize({}).median));
}

// One run far off moves the interval by one order statistic, not the median's neighbourhood.
TEST(Interval, WithinBoundsAndRobustToOneSlowRun) {
    auto steady = summarize({100, 101, 99, 100, 102, 98});
    EXPECT_TRUE(steady.within(0.05));
    EXPECT_FALSE(steady.within(0.01));
    auto one_slow = summarize({100, 101, 99, 100, 102, 98, 100, 101, 10});
    EXPECT_EQ(one_slow.median, 100);
    EXPECT_EQ(one_slow.low, 98);
    EXPECT_TRUE(one_slow.within(0.05));
    EXPECT_FALSE(summarize({100, 100, 100}).within(0.5));  // no interval, however close
}

// A ratio's interval is the quotient of the ends; overlapping intervals are a tie, apart ones rank
// in the metric's direction, and without an interval nothing ranks.
TEST(Verdict, OverlapIsATieApartRanksTooFewIsUnranked) {
    auto fast = summarize({200, 205, 195, 210, 190, 200});
    auto slow = summarize({100, 105, 95, 110, 90, 100});
    auto near = summarize({185, 180, 175, 190, 170, 180});
    auto r = ratio_of(fast, slow);
    EXPECT_DOUBLE_EQ(r.value, 2.0);
    EXPECT_DOUBLE_EQ(r.low, 190.0 / 110.0);
    EXPECT_DOUBLE_EQ(r.high, 210.0 / 90.0);
    EXPECT_EQ(compare(fast, slow, false), Verdict::better);
    EXPECT_EQ(compare(slow, fast, false), Verdict::worse);
    EXPECT_EQ(compare(fast, near, false), Verdict::tie);
    EXPECT_GE(ratio_of(fast, near).high, 1.0);  // a tie's ratio interval holds 1
    EXPECT_LE(ratio_of(fast, near).low, 1.0);
    // A time: lower is better.
    EXPECT_EQ(compare(slow, fast, true), Verdict::better);
    EXPECT_EQ(compare(fast, summarize({100, 100}), false), Verdict::unranked);
    EXPECT_FALSE(ratio_of(fast, summarize({100, 100})).has_interval());
}
