// SPDX-License-Identifier: GPL-2.0-only
#include "out_buffer.h"

#include <algorithm>
#include <cstring>

namespace kecho::userserver {

void OutBuffer::append(const char* bytes, std::size_t n) {
    if (n == 0) return;
    if (capacity_ - end_ < n) {
        std::size_t content = size();
        std::size_t needed = content + n;
        if (needed <= capacity_) {
            // Enough room once the content moves to the front.
            std::memmove(storage_.get(), data(), content);
        } else {
            std::size_t capacity = std::max({needed, min_capacity, grown_capacity(needed)});
            // new char[] leaves the bytes uninitialised: only the pages we copy into become resident.
            std::unique_ptr<char[]> grown(new char[capacity]);
            if (content != 0) std::memcpy(grown.get(), data(), content);
            storage_ = std::move(grown);
            capacity_ = capacity;
        }
        begin_ = 0;
        end_ = content;
    }
    std::memcpy(storage_.get() + end_, bytes, n);
    end_ += n;
}

std::size_t OutBuffer::grown_capacity(std::size_t needed) const {
    // Up to the limit: doubling, stopped at the limit.
    if (needed <= growth_limit_) return std::min({2 * capacity_, 2 * needed, growth_limit_});
    // Past it (the owner could not stop the bytes in time, e.g. an io_uring multishot recv that
    // filled every provided buffer before its completions were seen): still half as much again,
    // never just what is needed. Growing by one append at a time copied the whole content on
    // every append: 1.5 GB of copies for the 4 MiB beyond --max-buffer that Linux 6.1 delivers in
    // one turn, which froze the loop for 23 s under emulation.
    return needed + needed / 2;
}

void OutBuffer::consume(std::size_t n) {
    begin_ += n;
    if (begin_ != end_) return;
    begin_ = end_ = 0;
    if (capacity_ > keep_capacity) {
        storage_.reset();
        capacity_ = 0;
    }
}

}  // namespace kecho::userserver
