// SPDX-License-Identifier: GPL-2.0-only
// The io_uring engine's provided buffers as one resource (liburing's setup_buffer_ring): the
// buffers the kernel fills for a buffer group's receives and the ring of entries that lends them
// to it, mapped and registered together and unmapped together, so no early exit leaks either.
#pragma once

#include <liburing.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

namespace kecho::userserver {

class BufferRing {
public:
    // `count` buffers (a power of two) of `size` bytes lent through a ring of `entries` entries
    // (a power of two, at least count: an entry the kernel took from stays as it was until that
    // many more buffers were given back) under buffer group `group` of `ring`, all given to the
    // kernel. nullptr when the kernel has no buffer rings (older than 5.19); Error on any other
    // failure. The io_uring must outlive it or have exited first (exiting drops the registration).
    static std::unique_ptr<BufferRing> make(io_uring& ring, unsigned entries, unsigned count, unsigned size,
                                            std::uint16_t group);
    BufferRing(const BufferRing&) = delete;
    BufferRing& operator=(const BufferRing&) = delete;
    ~BufferRing();

    unsigned count() const { return count_; }
    unsigned size() const { return size_; }
    char* data(int id) const { return buffers_ + static_cast<std::size_t>(id) * size_; }
    // Buffers the kernel may fill now (lent and not taken back by a completion).
    long available() const { return available_; }

    // A completion took this buffer from the kernel (it holds received bytes, or nothing).
    void taken() { --available_; }
    // Gives a buffer back to the kernel (id -1: none), seen by it after publish().
    void give_back(int id);
    // Publishes what was given back since the last call (one store for all of them).
    void publish();
    // The ring position buffer `id` was last lent at, and the entry at a position: a receive bundle
    // that starts at buffer `id` filled the entries from its position on. (Read the position first:
    // giving buffers back moves positions on.)
    unsigned position_of(int id) const { return position_[static_cast<unsigned>(id)]; }
    const io_uring_buf& entry(unsigned position) const { return ring_->bufs[position % entries_]; }

private:
    BufferRing(unsigned entries, unsigned count, unsigned size);
    void lend(int id);

    unsigned entries_, count_, size_;
    io_uring_buf_ring* ring_ = nullptr;  // mmap'ed
    char* buffers_ = nullptr;            // mmap'ed, count_ x size_
    unsigned unpublished_ = 0;           // lent to the ring, not yet published
    unsigned lent_ = 0;                  // ring positions filled so far (wraps; entries divides 2^32)
    std::vector<unsigned> position_;     // where each buffer was last lent
    long available_ = 0;
};

}  // namespace kecho::userserver
