// SPDX-License-Identifier: GPL-2.0-only
#include "kecho/worker_group.h"

#include <sys/eventfd.h>
#include <unistd.h>

#include <cerrno>
#include <exception>
#include <future>

#include "kecho/error.h"

namespace kecho {

WorkerGroup::WorkerGroup() : stop_(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) {
    if (!stop_) throw_errno("cannot create an eventfd", errno);
}

void WorkerGroup::signal_stop() {
    std::uint64_t one = 1;
    (void)!::write(stop_.get(), &one, sizeof(one));
}

void WorkerGroup::start(std::function<std::function<void()>()> setup) {
    std::promise<void> ready;
    std::future<void> set_up = ready.get_future();
    threads_.emplace_back([this, setup = std::move(setup), ready = std::move(ready)]() mutable {
        std::function<void()> work;
        try {
            work = setup();
            ready.set_value();
        } catch (...) {
            ready.set_exception(std::current_exception());
            return;
        }
        try {
            work();
        } catch (const std::exception& e) {
            {
                std::lock_guard lock(mutex_);
                if (failure_.empty()) failure_ = e.what();
            }
            signal_stop();
        }
    });
    set_up.get();
}

void WorkerGroup::stop() {
    if (threads_.empty()) return;
    signal_stop();
    for (auto& thread : threads_) thread.join();
    threads_.clear();
}

std::string WorkerGroup::failure() {
    std::lock_guard lock(mutex_);
    return failure_;
}

}  // namespace kecho
