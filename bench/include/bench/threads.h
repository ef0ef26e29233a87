// SPDX-License-Identifier: GPL-2.0-only
// Threads with small stacks: burst and the blocking client start up to thousands of them.
#pragma once

#include <pthread.h>

#include <functional>
#include <memory>

#include "kecho/error.h"

namespace kecho::bench {

class SmallThread {
public:
    explicit SmallThread(std::function<void()> body, std::size_t stack_bytes = 256 * 1024) {
        auto heap = std::make_unique<std::function<void()>>(std::move(body));
        pthread_attr_t attr;
        pthread_attr_init(&attr);
        pthread_attr_setstacksize(&attr, stack_bytes);
        int rc = pthread_create(&thread_, &attr, &SmallThread::trampoline, heap.get());
        pthread_attr_destroy(&attr);
        if (rc != 0) throw_errno("cannot start a thread", rc);
        heap.release();
        joinable_ = true;
    }
    SmallThread(const SmallThread&) = delete;
    SmallThread& operator=(const SmallThread&) = delete;
    SmallThread(SmallThread&& other) noexcept : thread_(other.thread_), joinable_(other.joinable_) {
        other.joinable_ = false;
    }
    ~SmallThread() { join(); }

    void join() {
        if (joinable_) pthread_join(thread_, nullptr);
        joinable_ = false;
    }

private:
    static void* trampoline(void* arg) {
        std::unique_ptr<std::function<void()>> body(static_cast<std::function<void()>*>(arg));
        (*body)();
        return nullptr;
    }

    pthread_t thread_{};
    bool joinable_ = false;
};

}  // namespace kecho::bench
