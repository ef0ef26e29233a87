// SPDX-License-Identifier: GPL-2.0-only
#include "bench/payload.h"

#include <array>
#include <bit>
#include <cstdio>
#include <cstring>
#include <vector>

namespace kecho::bench {
namespace {

constexpr std::uint64_t kMul1 = 0xbf58476d1ce4e5b9ULL;
constexpr std::uint64_t kMul2 = 0x94d049bb133111ebULL;
// Modular inverses of kMul1 and kMul2 (mod 2^64).
constexpr std::uint64_t inverse(std::uint64_t a) {
    std::uint64_t x = a;  // Newton's iteration: each step doubles the correct low bits
    for (int i = 0; i < 6; ++i) x *= 2 - a * x;
    return x;
}
constexpr std::uint64_t kInv1 = inverse(kMul1);
constexpr std::uint64_t kInv2 = inverse(kMul2);
static_assert(kMul1 * kInv1 == 1 && kMul2 * kInv2 == 1);

std::uint64_t unxorshift(std::uint64_t y, unsigned s) {
    std::uint64_t x = y;
    for (unsigned i = s; i < 64; i += s) x = y ^ (x >> s);
    return x;
}

constexpr std::uint64_t kMarkerPeriod = 512;  // nul_heavy: one 8-byte marker per 512 bytes

// mixed: one scramble per 512-byte block (connection, block index); its 64 words are that value
// XOR a fixed per-lane constant, so a word moved within a block is caught too. One multiply-chain
// per 512 bytes keeps generating and checking at memory speed.
constexpr std::uint64_t kBlockBytes = 512;
constexpr std::size_t kLanes = kBlockBytes / 8;

constexpr std::uint64_t mix(std::uint64_t x) {
    x += 0x9e3779b97f4a7c15ULL;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
}

constexpr std::array<std::uint64_t, kLanes> make_lanes() {
    std::array<std::uint64_t, kLanes> lanes{};
    for (std::size_t j = 0; j < kLanes; ++j) lanes[j] = j == 0 ? 0 : mix(0x6b657368ULL + j);  // lane 0: the bare value
    return lanes;
}
constexpr auto kLaneKeys = make_lanes();

std::uint64_t load_le(const std::uint8_t* p) {
    std::uint64_t v = 0;
    for (int i = 7; i >= 0; --i) v = (v << 8) | p[i];
    return v;
}

}  // namespace

std::uint64_t scramble(std::uint64_t x) {
    return mix(x);
}

std::uint64_t unscramble(std::uint64_t x) {
    x = unxorshift(x, 31) * kInv2;
    x = unxorshift(x, 27) * kInv1;
    x = unxorshift(x, 30);
    return x - 0x9e3779b97f4a7c15ULL;
}

std::string Mismatch::describe() const {
    char text[128];
    std::snprintf(text, sizeof(text), "byte mismatch at offset %llu: expected 0x%02x, got 0x%02x",
                  static_cast<unsigned long long>(offset), expected, got);
    std::string out = text;
    if (!origin.empty()) out += " (" + origin + ")";
    return out;
}

std::uint64_t Pattern::word(std::uint64_t index) const {
    return scramble(pack_position(connection_, index));
}

std::uint8_t Pattern::byte_at(std::uint64_t offset) const {
    switch (kind_) {
        case PatternKind::mixed: {
            std::uint64_t w = word(offset / kBlockBytes) ^ kLaneKeys[(offset / 8) % kLanes];
            return static_cast<std::uint8_t>(w >> (8 * (offset % 8)));
        }
        case PatternKind::all_bytes:
            // XOR with a per-block constant permutes 0..255 within each 256-byte block.
            return static_cast<std::uint8_t>((offset & 0xff) ^ (word(offset >> 8) & 0xff));
        case PatternKind::nul_heavy: {
            std::uint64_t in_period = offset % kMarkerPeriod;
            if (in_period >= 8) return 0;
            // Never an all-zero marker, so the marker itself is never mistaken for padding.
            std::uint64_t marker = word(offset / kMarkerPeriod) | 1;
            return static_cast<std::uint8_t>(marker >> (8 * in_period));
        }
    }
    return 0;
}

template <class Put>
std::size_t Pattern::for_each_word(std::uint64_t offset, std::size_t i, std::size_t length, Put&& put) const {
    while (i + 8 <= length) {
        const std::uint64_t abs = offset + i, base = word(abs / kBlockBytes);
        const auto lane = static_cast<std::size_t>((abs / 8) % kLanes);
        const std::size_t words = std::min(kLanes - lane, (length - i) / 8);
        for (std::size_t k = 0; k < words; ++k) put(i + 8 * k, base ^ kLaneKeys[lane + k]);
        i += 8 * words;
    }
    return i;
}

void Pattern::fill(std::uint64_t offset, std::uint8_t* out, std::size_t length) const {
    if (kind_ != PatternKind::mixed) {
        if (kind_ == PatternKind::nul_heavy) {
            std::memset(out, 0, length);
            std::uint64_t end = offset + length;
            std::uint64_t first = offset / kMarkerPeriod * kMarkerPeriod;
            for (std::uint64_t p = first; p < end; p += kMarkerPeriod)
                for (std::uint64_t o = std::max(p, offset); o < std::min(p + 8, end); ++o) out[o - offset] = byte_at(o);
            return;
        }
        for (std::size_t i = 0; i < length; ++i) out[i] = byte_at(offset + i);
        return;
    }
    std::size_t i = 0;
    for (; i < length && (offset + i) % 8 != 0; ++i) out[i] = byte_at(offset + i);
    i = for_each_word(offset, i, length, [out](std::size_t at, std::uint64_t w) {
        if constexpr (std::endian::native == std::endian::little)
            std::memcpy(out + at, &w, 8);
        else
            for (int b = 0; b < 8; ++b) out[at + b] = static_cast<std::uint8_t>(w >> (8 * b));
    });
    for (; i < length; ++i) out[i] = byte_at(offset + i);
}

std::optional<Mismatch> Pattern::check(std::uint64_t offset, const std::uint8_t* data, std::size_t length) const {
    if (kind_ == PatternKind::mixed && std::endian::native == std::endian::little) {
        // Compare word by word against the generated values; search byte by byte below only when
        // something differs.
        std::uint64_t diff = 0;
        std::size_t i = 0;
        for (; i < length && (offset + i) % 8 != 0; ++i) diff |= data[i] ^ byte_at(offset + i);
        i = for_each_word(offset, i, length, [&](std::size_t at, std::uint64_t w) {
            std::uint64_t got;
            std::memcpy(&got, data + at, 8);
            diff |= got ^ w;
        });
        for (; i < length; ++i) diff |= data[i] ^ byte_at(offset + i);
        if (diff == 0) return std::nullopt;
    }
    // Generate in chunks and memcmp, then find the first differing byte.
    std::uint8_t expected[4096];
    for (std::size_t done = 0; done < length;) {
        std::size_t n = std::min(sizeof(expected), length - done);
        fill(offset + done, expected, n);
        if (std::memcmp(expected, data + done, n) != 0) {
            for (std::size_t i = 0; i < n; ++i) {
                if (expected[i] == data[done + i]) continue;
                Mismatch m;
                m.offset = offset + done + i;
                m.expected = expected[i];
                m.got = data[done + i];
                m.origin = origin_of(offset, data, length, done + i);
                return m;
            }
        }
        done += n;
    }
    return std::nullopt;
}

// Tries to say where wrong bytes came from: undo the scramble on the 8 bytes around the first
// wrong one, at every alignment nearby (a lost or extra byte shifts the stream); a plausible
// (connection, offset) names bytes that crossed from another connection or moved in this one.
std::string Pattern::origin_of(std::uint64_t offset, const std::uint8_t* data, std::size_t length,
                               std::size_t at) const {
    if (kind_ != PatternKind::mixed) return {};
    for (std::size_t step = 0; step < 24; ++step) {
        if (at + step < 7 || at + step - 7 + 8 > length) continue;
        std::size_t q = at + step - 7;  // from 7 bytes before the wrong byte to 16 after it
        std::uint64_t word_value = load_le(data + q);
        std::uint64_t conn = 0, source = 0;
        bool plausible = false;
        for (std::size_t lane = 0; lane < kLanes && !plausible; ++lane) {
            std::uint64_t packed = unscramble(word_value ^ kLaneKeys[lane]);
            conn = packed >> 40;
            std::uint64_t block = packed & ((std::uint64_t{1} << 40) - 1);
            source = block * kBlockBytes + lane * 8;
            plausible = conn < (1u << 20) && block < (std::uint64_t{1} << 26);  // else garbage
        }
        if (!plausible) continue;
        std::uint64_t here = offset + q;
        if (conn != connection_)
            return "bytes at offset " + std::to_string(here) + " are connection " + std::to_string(conn) +
                   "'s offset " + std::to_string(source) + ": crossed between connections";
        if (source > here)
            return "stream skips ahead by " + std::to_string(source - here) + " bytes at offset " +
                   std::to_string(here) + ": bytes lost";
        if (source < here)
            return "bytes at offset " + std::to_string(here) + " repeat offset " + std::to_string(source) +
                   ": duplicated or reordered";
        return {};
    }
    return {};
}

}  // namespace kecho::bench
