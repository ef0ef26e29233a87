// SPDX-License-Identifier: GPL-2.0-only
// One event loop per thread, each with its own listening socket (SO_REUSEPORT spreads connections).
#pragma once

#include <memory>

#include "config.h"
#include "kecho/unique_fd.h"

namespace kecho::userserver {

struct LoopContext {
    const Config* config = nullptr;
    UniqueFd listener;  // bound and listening, non-blocking
    int stop_fd = -1;   // eventfd, readable once the server should stop
};

class Loop {
public:
    virtual ~Loop() = default;
    // Serves connections until stop is requested. Throws kecho::Error on a failure that ends the
    // whole server (never because of what one client did).
    virtual void run() = 0;
};

// Each factory does the setup that can fail (so main can report it before "echoing on") and
// throws kecho::Error with a message naming what is missing.
std::unique_ptr<Loop> make_epoll_loop(LoopContext context);
std::unique_ptr<Loop> make_uring_loop(LoopContext context);
std::unique_ptr<Loop> make_floor_loop(LoopContext context);
std::unique_ptr<Loop> make_splice_loop(LoopContext context);

}  // namespace kecho::userserver
