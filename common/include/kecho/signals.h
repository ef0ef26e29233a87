// SPDX-License-Identifier: GPL-2.0-only
// Clean shutdown on SIGINT/SIGTERM. Two ways to wait, one per kind of loop:
//  - a loop blocked in epoll_wait/io_uring adds ShutdownSignal::fd() (a signalfd) to its wait set;
//  - a loop that spins (or has just woken) calls ShutdownSignal::requested().
#pragma once

#include "kecho/unique_fd.h"

namespace kecho {

class ShutdownSignal {
public:
    // Blocks SIGINT and SIGTERM in the calling thread (call before starting threads so they
    // inherit the mask) and opens a non-blocking signalfd for them. SIGPIPE is ignored.
    ShutdownSignal();
    ShutdownSignal(const ShutdownSignal&) = delete;
    ShutdownSignal& operator=(const ShutdownSignal&) = delete;
    ~ShutdownSignal();

    // Readable once a shutdown signal is pending. Every thread may add it to its wait set.
    int fd() const { return fd_.get(); }

    // True once SIGINT or SIGTERM arrived (reads the signalfd without blocking; sticky).
    bool requested();

private:
    UniqueFd fd_;
};

}  // namespace kecho
