// SPDX-License-Identifier: GPL-2.0-only
// The user-space half of the echo: one EchoWorker thread per SO_REUSEPORT listener (accepting,
// draining, closing), and this thread, which waits for SIGINT/SIGTERM, reads the guard's ring buffer
// (handing each reported connection to the workers) and prints the periodic counters.
#pragma once

#include <memory>
#include <unordered_set>
#include <vector>

#include "echo.h"
#include "echo_worker.h"
#include "kecho/net.h"
#include "kecho/signals.h"
#include "kecho/unique_fd.h"
#include "kecho/worker_group.h"
#include "libbpf_ptr.h"

namespace kecho::loader {

// The online CPUs, at most 8: the default number of accept threads.
int default_accept_threads();

class EchoServer {
public:
    // Starts one worker thread per listener (accepting at once); worker i counts in stats[i], this thread in
    // stats[ECHO_MAX_THREADS] (the slots are in the BPF object's mmapped .bss). `maps` names the socket hash, the
    // guard's ring buffer and sockops' failure count.
    EchoServer(std::vector<UniqueFd> listeners, const EchoMaps& maps, echo_loader_stats* stats,
               const ServerSettings& settings);
    EchoServer(const EchoServer&) = delete;
    EchoServer& operator=(const EchoServer&) = delete;
    ~EchoServer();

    // Runs until `shutdown` is signalled (or a worker fails: then throws its Error); every worker
    // then stops accepting and closes its connections. `periodic` is called every stats_interval.
    template <typename Periodic>
    void run(ShutdownSignal& shutdown, Periodic periodic) {
        run_loop(
            shutdown, [](void* p) { (*static_cast<Periodic*>(p))(); }, &periodic);
    }

private:
    void run_loop(ShutdownSignal& shutdown, void (*periodic)(void*), void* ctx);
    void watch(int epoll_fd, int fd);
    static int ring_callback(void* ctx, void* data, std::size_t size);

    ServerSettings settings_;
    echo_loader_stats& stats_;  // guard resets done from this thread
    std::vector<std::unique_ptr<EchoWorker>> workers_;
    // After the workers: joined before they go. Its stop_fd: every worker (and this loop) wakes and stops.
    WorkerGroup group_;
    RingBufferPtr ring_;                               // the guard's reports
    std::unordered_set<std::uint64_t> reset_cookies_;  // connections this thread reset
};

}  // namespace kecho::loader
