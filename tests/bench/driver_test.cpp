// SPDX-License-Identifier: GPL-2.0-only
// The connection driver's timetable hook (DriverOptions::send_at): a message is not sent before its
// scheduled time, and its latency counts from that time.
#include <gtest/gtest.h>

#include "bench/client.h"
#include "test_server.h"

using namespace kecho::bench;

TEST(Driver, SendsEachMessageAtItsScheduledTime) {
    kecho::benchtest::EchoServer server;
    ASSERT_TRUE(server.ready());
    const auto start = Clock::now();
    const auto gap = std::chrono::milliseconds(30);
    DriverOptions options;
    options.send_at = [&](std::size_t, std::uint64_t message) { return start + gap * (message + 1); };
    Driver driver(kecho::parse_address("127.0.0.1", static_cast<std::uint16_t>(std::stoi(server.port()))), options);
    Plan plan;
    plan.bytes = 10 * 64;
    plan.message = 64;
    plan.in_flight = 10;  // the schedule, not the in-flight limit, paces them
    driver.add(plan);
    driver.run(start + std::chrono::seconds(30));
    ASSERT_TRUE(driver.outcome(0).complete) << driver.outcome(0).error;
    EXPECT_GE(Clock::now() - start, gap * 10);  // the last one waited for its time
    EXPECT_EQ(driver.tally().messages, 10u);
}

TEST(Driver, LatencyCountsFromTheScheduledTime) {
    kecho::benchtest::EchoServer server;
    ASSERT_TRUE(server.ready());
    // Every message was due half a second ago (a server that fell behind an open-loop rate): the
    // wait counts, so no latency can be below 500 ms.
    const auto due = Clock::now() - std::chrono::milliseconds(500);
    DriverOptions options;
    options.send_at = [&](std::size_t, std::uint64_t) { return due; };
    Driver driver(kecho::parse_address("127.0.0.1", static_cast<std::uint16_t>(std::stoi(server.port()))), options);
    Plan plan;
    plan.bytes = 5 * 64;
    plan.message = 64;
    plan.in_flight = 1;
    driver.add(plan);
    driver.run(Clock::now() + std::chrono::seconds(30));
    ASSERT_TRUE(driver.outcome(0).complete) << driver.outcome(0).error;
    EXPECT_EQ(driver.tally().messages, 5u);
    EXPECT_GE(driver.tally().latency_ns.min(), 500'000'000u);
}

TEST(Driver, KeptOpenConnectionsEchoAgainWhenExtended) {
    kecho::benchtest::EchoServer server;
    ASSERT_TRUE(server.ready());
    Driver driver(kecho::parse_address("127.0.0.1", static_cast<std::uint16_t>(std::stoi(server.port()))));
    Plan plan;
    plan.bytes = 5000;
    plan.keep_open = true;
    for (std::uint32_t id = 1; id <= 3; ++id) {
        plan.id = id;
        driver.add(plan);
    }
    driver.run(Clock::now() + std::chrono::seconds(30));
    for (std::size_t i = 0; i < 3; ++i) driver.extend(i, 5000);
    driver.run(Clock::now() + std::chrono::seconds(30));
    for (std::size_t i = 0; i < 3; ++i) {
        EXPECT_TRUE(driver.outcome(i).complete) << driver.outcome(i).error;
        EXPECT_EQ(driver.outcome(i).received, 10000u);
    }
}
