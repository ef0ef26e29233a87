// SPDX-License-Identifier: GPL-2.0-only
// Payload validation: the checker must name the exact offset of altered, lost, crossed bytes.
#include <gtest/gtest.h>

#include <vector>

#include "bench/payload.h"

using kecho::bench::Pattern;
using kecho::bench::PatternKind;

namespace {

std::vector<std::uint8_t> stream(const Pattern& p, std::uint64_t offset, std::size_t n) {
    std::vector<std::uint8_t> out(n);
    p.fill(offset, out.data(), n);
    return out;
}

}  // namespace

TEST(Payload, ScrambleIsInvertible) {
    for (std::uint64_t v : {std::uint64_t{0}, std::uint64_t{1}, std::uint64_t{0xdeadbeef}, ~std::uint64_t{0},
                            kecho::bench::pack_position(7, 54321)})
        EXPECT_EQ(kecho::bench::unscramble(kecho::bench::scramble(v)), v);
}

TEST(Payload, FillMatchesByteAtFromAnyOffset) {
    for (auto kind : {PatternKind::mixed, PatternKind::all_bytes, PatternKind::nul_heavy}) {
        Pattern p(kind, 3);
        for (std::uint64_t offset : {0ull, 1ull, 7ull, 511ull, 4097ull}) {
            auto bytes = stream(p, offset, 3000);
            for (std::size_t i = 0; i < bytes.size(); ++i) ASSERT_EQ(bytes[i], p.byte_at(offset + i));
            EXPECT_FALSE(p.check(offset, bytes.data(), bytes.size()).has_value());
        }
    }
}

TEST(Payload, CorruptedByteIsCaughtAtItsOffset) {
    Pattern p(PatternKind::mixed, 1);
    auto bytes = stream(p, 1000, 10000);
    bytes[4321] ^= 0x01;
    auto m = p.check(1000, bytes.data(), bytes.size());
    ASSERT_TRUE(m.has_value());
    EXPECT_EQ(m->offset, 1000u + 4321u);
    EXPECT_NE(m->describe().find("byte mismatch at offset 5321"), std::string::npos) << m->describe();
}

TEST(Payload, LostByteIsCaughtAndNamed) {
    Pattern p(PatternKind::mixed, 1);
    auto bytes = stream(p, 0, 8192);
    bytes.erase(bytes.begin() + 3000);
    auto m = p.check(0, bytes.data(), bytes.size());
    ASSERT_TRUE(m.has_value());
    EXPECT_EQ(m->offset, 3000u);
    EXPECT_NE(m->describe().find("bytes lost"), std::string::npos) << m->describe();
}

TEST(Payload, CrossedConnectionIsNamed) {
    Pattern mine(PatternKind::mixed, 5), other(PatternKind::mixed, 9);
    auto bytes = stream(mine, 0, 4096);
    auto foreign = stream(other, 2048, 1024);
    std::copy(foreign.begin(), foreign.end(), bytes.begin() + 2048);
    auto m = mine.check(0, bytes.data(), bytes.size());
    ASSERT_TRUE(m.has_value());
    EXPECT_EQ(m->offset, 2048u);
    EXPECT_NE(m->describe().find("connection 9"), std::string::npos) << m->describe();
    EXPECT_NE(m->describe().find("crossed"), std::string::npos) << m->describe();
}

TEST(Payload, ReorderedBlocksAreCaught) {
    Pattern p(PatternKind::mixed, 1);
    auto bytes = stream(p, 0, 8192);
    std::swap_ranges(bytes.begin(), bytes.begin() + 1024, bytes.begin() + 4096);
    auto m = p.check(0, bytes.data(), bytes.size());
    ASSERT_TRUE(m.has_value());
    EXPECT_EQ(m->offset, 0u);
}

TEST(Payload, AllBytesBlocksHoldEveryValue) {
    Pattern p(PatternKind::all_bytes, 1);
    auto bytes = stream(p, 0, 256 * 4);
    for (int block = 0; block < 4; ++block) {
        std::vector<int> seen(256, 0);
        for (int i = 0; i < 256; ++i) seen[bytes[block * 256 + i]]++;
        for (int v = 0; v < 256; ++v) ASSERT_EQ(seen[v], 1) << "block " << block << " value " << v;
    }
    // Blocks differ, so a repeated block is caught.
    EXPECT_NE(std::vector<std::uint8_t>(bytes.begin(), bytes.begin() + 256),
              std::vector<std::uint8_t>(bytes.begin() + 256, bytes.begin() + 512));
}

TEST(Payload, NulHeavyIsMostlyZeroAndStillChecked) {
    Pattern p(PatternKind::nul_heavy, 1);
    auto bytes = stream(p, 0, 1 << 16);
    std::size_t zeros = 0;
    for (auto b : bytes) zeros += b == 0;
    EXPECT_GT(zeros, bytes.size() * 97 / 100);
    bytes[512] ^= 0xff;  // a marker byte
    auto m = p.check(0, bytes.data(), bytes.size());
    ASSERT_TRUE(m.has_value());
    EXPECT_EQ(m->offset, 512u);
}
