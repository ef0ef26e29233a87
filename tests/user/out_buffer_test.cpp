// SPDX-License-Identifier: GPL-2.0-only
// OutBuffer keeps the bytes the kernel would not take: in order, within its growth limit, and
// gives large allocations back once drained (what keeps an idle connection's memory near zero).
#include "out_buffer.h"

#include <gtest/gtest.h>

#include <string>

namespace kecho::userserver {
namespace {

std::string contents(const OutBuffer& buffer) {
    return std::string(buffer.data(), buffer.size());
}

TEST(OutBuffer, KeepsOrderAcrossGrowthAndCompaction) {
    OutBuffer buffer;
    std::string expected;
    std::string chunk;
    for (int i = 0; i < 2000; ++i) {
        chunk.assign(static_cast<std::size_t>(i % 97 + 1), static_cast<char>(i));
        buffer.append(chunk.data(), chunk.size());
        expected += chunk;
        if (i % 3 == 0) {  // drain some from the front, forcing the content to move later
            std::size_t n = std::min<std::size_t>(expected.size(), 50);
            buffer.consume(n);
            expected.erase(0, n);
        }
        ASSERT_EQ(buffer.size(), expected.size());
    }
    EXPECT_EQ(contents(buffer), expected);
}

TEST(OutBuffer, GrowthStopsAtTheLimitUnlessTheContentNeedsMore) {
    OutBuffer buffer;
    buffer.set_growth_limit(100 * 1024);
    std::string block(30 * 1024, 'x');
    for (int i = 0; i < 3; ++i) buffer.append(block.data(), block.size());
    EXPECT_LE(buffer.capacity(), 100u * 1024);  // doubling from 64 KiB would give 128 KiB
    buffer.append(block.data(), block.size());  // 120 KiB of content: must fit anyway
    EXPECT_EQ(buffer.size(), 120u * 1024);
    EXPECT_GE(buffer.capacity(), 120u * 1024);
    EXPECT_LT(buffer.capacity(), 240u * 1024);
}

// Past the limit (the io_uring engine's multishot recv on Linux 6.1 hands over every provided
// buffer, 4 MiB, before the loop can stop reading), capacity still grows geometrically: growing to
// just what each 16 KiB append needed copied the whole content every time, 1.5 GB of copies that
// froze the loop for 23 s under emulation. A few reallocations, the bytes in order.
TEST(OutBuffer, GrowthPastTheLimitStaysGeometric) {
    constexpr std::size_t limit = 1024 * 1024;
    OutBuffer buffer;
    buffer.set_growth_limit(limit);
    std::string expected;
    std::string chunk(16 * 1024, '\0');
    int reallocations_past_limit = 0;
    for (int i = 0; expected.size() < 8 * limit; ++i) {
        chunk.assign(chunk.size(), static_cast<char>(i));
        std::size_t before = buffer.capacity();
        buffer.append(chunk.data(), chunk.size());
        expected += chunk;
        if (buffer.capacity() != before && before >= limit) ++reallocations_past_limit;
    }
    EXPECT_LE(reallocations_past_limit, 8) << "one reallocation per append is quadratic";
    EXPECT_LE(buffer.capacity(), 2 * buffer.size());
    EXPECT_TRUE(contents(buffer) == expected);
}

TEST(OutBuffer, GivesLargeAllocationsBackWhenDrained) {
    OutBuffer buffer;
    std::string block(1024 * 1024, 'y');
    buffer.append(block.data(), block.size());
    EXPECT_GE(buffer.capacity(), block.size());
    buffer.consume(block.size() / 2);
    EXPECT_GE(buffer.capacity(), block.size());  // still holding bytes
    buffer.clear();
    EXPECT_TRUE(buffer.empty());
    EXPECT_EQ(buffer.capacity(), 0u);
    buffer.append("z", 1);  // and works again afterwards
    EXPECT_EQ(contents(buffer), "z");
}

}  // namespace
}  // namespace kecho::userserver
