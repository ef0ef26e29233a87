// SPDX-License-Identifier: GPL-2.0-only
#include "buffer_ring.h"

#include <sys/mman.h>

#include <cerrno>

#include "kecho/error.h"

namespace kecho::userserver {

BufferRing::BufferRing(unsigned entries, unsigned count, unsigned size)
    : entries_(entries), count_(count), size_(size), position_(count) {}

std::unique_ptr<BufferRing> BufferRing::make(io_uring& ring, unsigned entries, unsigned count, unsigned size,
                                             std::uint16_t group) {
    std::unique_ptr<BufferRing> owner(new BufferRing(entries, count, size));
    void* entry_memory =
        ::mmap(nullptr, entries * sizeof(io_uring_buf), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (entry_memory == MAP_FAILED) throw_errno("cannot allocate the io_uring buffer ring", errno);
    owner->ring_ = static_cast<io_uring_buf_ring*>(entry_memory);
    void* buffers = ::mmap(nullptr, static_cast<std::size_t>(count) * size, PROT_READ | PROT_WRITE,
                           MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (buffers == MAP_FAILED) throw_errno("cannot allocate io_uring receive buffers", errno);
    owner->buffers_ = static_cast<char*>(buffers);
    io_uring_buf_reg reg{};
    reg.ring_addr = reinterpret_cast<std::uintptr_t>(owner->ring_);
    reg.ring_entries = entries;
    reg.bgid = group;
    int ret = io_uring_register_buf_ring(&ring, &reg, 0);
    if (ret == -EINVAL || ret == -ENOSYS || ret == -EOPNOTSUPP) return nullptr;  // kernel older than 5.19
    if (ret != 0) throw_errno("cannot register the io_uring buffer ring", -ret);
    io_uring_buf_ring_init(owner->ring_);
    for (unsigned id = 0; id < count; ++id) owner->give_back(static_cast<int>(id));
    owner->publish();
    return owner;
}

BufferRing::~BufferRing() {
    if (ring_) ::munmap(ring_, entries_ * sizeof(io_uring_buf));
    if (buffers_) ::munmap(buffers_, static_cast<std::size_t>(count_) * size_);
}

void BufferRing::lend(int id) {
    io_uring_buf_ring_add(ring_, data(id), size_, static_cast<unsigned short>(id), io_uring_buf_ring_mask(entries_),
                          static_cast<int>(unpublished_));
    ++unpublished_;
    position_[static_cast<unsigned>(id)] = lent_++;
}

void BufferRing::give_back(int id) {
    if (id < 0) return;
    lend(id);
    ++available_;
}

void BufferRing::publish() {
    if (unpublished_ == 0) return;
    io_uring_buf_ring_advance(ring_, static_cast<int>(unpublished_));
    unpublished_ = 0;
}

}  // namespace kecho::userserver
