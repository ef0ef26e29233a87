// SPDX-License-Identifier: GPL-2.0-only
// What the bench sends, and how it checks what comes back.
//
// Every connection's byte stream is a pure function of (pattern, connection id, offset): word k of
// connection c is an invertible scramble of (c, k). A byte that belongs to another connection
// (crossed), to another place in the stream (reordered, duplicated, dropped) or that was altered is
// caught at its exact offset, and the scramble can be undone to say where the bytes came from.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>

namespace kecho::bench {

enum class PatternKind {
    mixed,      // pseudo-random bytes encoding (connection id, word index)
    all_bytes,  // every 256-byte block holds each byte value 0..255 exactly once (permuted)
    nul_heavy,  // zeros, with one 8-byte marker of (connection id, position) every 512 bytes
};

// The first differing byte between what came back and what was sent.
struct Mismatch {
    std::uint64_t offset = 0;  // stream offset of the first wrong byte
    std::uint8_t expected = 0;
    std::uint8_t got = 0;
    std::string origin;  // e.g. "bytes look like connection 7 offset 4096", empty when unknown

    // "byte mismatch at offset 12: expected 0x3a, got 0x00 (...)"
    std::string describe() const;
};

class Pattern {
public:
    Pattern(PatternKind kind, std::uint32_t connection_id) : kind_(kind), connection_(connection_id) {}

    // Writes the stream's bytes [offset, offset + length) to out.
    void fill(std::uint64_t offset, std::uint8_t* out, std::size_t length) const;

    // Compares data with the stream's bytes [offset, offset + length).
    std::optional<Mismatch> check(std::uint64_t offset, const std::uint8_t* data, std::size_t length) const;

    std::uint8_t byte_at(std::uint64_t offset) const;

private:
    std::uint64_t word(std::uint64_t index) const;
    // mixed: calls put(i, value) for each whole 8-byte word of the stream from buffer index i (at an
    // 8-aligned stream offset) up to length; returns the index after the last word.
    template <class Put>
    std::size_t for_each_word(std::uint64_t offset, std::size_t i, std::size_t length, Put&& put) const;
    std::string origin_of(std::uint64_t offset, const std::uint8_t* data, std::size_t length, std::size_t at) const;

    PatternKind kind_;
    std::uint32_t connection_;
};

// The invertible scramble behind the patterns (exposed for tests and diagnostics).
std::uint64_t scramble(std::uint64_t value);
std::uint64_t unscramble(std::uint64_t value);

// (connection id, word index) packed into the value that scramble() hides in a stream word.
inline std::uint64_t pack_position(std::uint32_t connection, std::uint64_t word_index) {
    return (static_cast<std::uint64_t>(connection & 0xffffff) << 40) | (word_index & ((std::uint64_t{1} << 40) - 1));
}

}  // namespace kecho::bench
