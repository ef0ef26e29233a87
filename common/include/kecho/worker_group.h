// SPDX-License-Identifier: GPL-2.0-only
// The threads of a server (user-echo-server's event loops, echo-loader's accept threads): started
// one by one after their setup, stopped together through one eventfd every thread watches, the
// first failure kept.
#pragma once

#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "kecho/unique_fd.h"

namespace kecho {

class WorkerGroup {
public:
    WorkerGroup();  // throws Error when the eventfd cannot be made
    WorkerGroup(const WorkerGroup&) = delete;
    WorkerGroup& operator=(const WorkerGroup&) = delete;
    ~WorkerGroup() { stop(); }

    // Readable (and it stays so) once the group must stop: stop() ran, or a thread failed. Every
    // thread watches it; so may the thread that waits for the group.
    int stop_fd() const { return stop_.get(); }

    // Starts a thread that runs `setup` and then the work setup returns, and waits for the setup:
    // setup's exception is thrown here (that thread ends); the work's is the group's failure, which
    // stops every thread.
    void start(std::function<std::function<void()>()> setup);

    // Signals stop_fd and joins every thread (what a failed setup left running too).
    void stop();

    // The first failure's message (after stop()), empty when none failed.
    std::string failure();

private:
    void signal_stop();

    UniqueFd stop_;
    std::mutex mutex_;
    std::string failure_;
    std::vector<std::thread> threads_;
};

}  // namespace kecho
