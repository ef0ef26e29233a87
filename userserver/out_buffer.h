// SPDX-License-Identifier: GPL-2.0-only
// Bytes received but not yet echoed back: the only per-connection copy the servers make, and only
// of what the kernel would not take at once.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>

namespace kecho::userserver {

class OutBuffer {
public:
    OutBuffer() = default;
    OutBuffer(const OutBuffer&) = delete;
    OutBuffer& operator=(const OutBuffer&) = delete;
    OutBuffer(OutBuffer&&) noexcept = default;
    OutBuffer& operator=(OutBuffer&&) noexcept = default;

    std::size_t size() const { return end_ - begin_; }
    bool empty() const { return end_ == begin_; }
    const char* data() const { return storage_.get() + begin_; }
    std::size_t capacity() const { return capacity_; }

    // Appends n bytes; grows to what is needed (never more than twice the content, nor beyond
    // the growth limit unless the content itself needs it: then by half the content at a time, so
    // appends stay cheap however far past the limit the content goes).
    void append(const char* bytes, std::size_t n);
    // The largest capacity doubling may reach: the most the owner lets it hold, so the memory a
    // connection pins stays near --max-buffer rather than the next power of two above it.
    void set_growth_limit(std::size_t limit) { growth_limit_ = limit; }
    // Drops the first n bytes (n <= size()). Once empty, a large allocation is given back so an
    // idle connection holds no memory for a burst that is over.
    void consume(std::size_t n);
    void clear() { consume(size()); }

private:
    std::size_t grown_capacity(std::size_t needed) const;

    static constexpr std::size_t min_capacity = 16 * 1024;
    static constexpr std::size_t keep_capacity = 64 * 1024;

    std::unique_ptr<char[]> storage_;
    std::size_t capacity_ = 0;
    std::size_t growth_limit_ = SIZE_MAX;
    std::size_t begin_ = 0;
    std::size_t end_ = 0;
};

}  // namespace kecho::userserver
