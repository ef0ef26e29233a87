// SPDX-License-Identifier: GPL-2.0-only
// One accept thread of the user-space half of the echo: accepts from its own SO_REUSEPORT listener,
// makes sure each connection is in the socket hash (or echoes it itself when it cannot be), closes
// only after the kernel has echoed every byte, and resets the connections the guard reports.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <mutex>
#include <queue>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "echo.h"
#include "kecho/unique_fd.h"

struct epoll_event;

namespace kecho::loader {

enum class InsertMode {
    sockops,  // sockops inserts; the loader inserts what it missed after accept
    loader,   // no sockops: the loader inserts after accept (diagnostic)
    none,     // nothing inserted: every connection is echoed in user space (diagnostic)
};

// The BPF objects the workers use.
struct EchoMaps {
    int sockets_fd = -1;                      // the socket hash
    int events_fd = -1;                       // the guard's ring buffer
    const __u64* sockops_failures = nullptr;  // sockops' failed inserts (mmapped .bss), or null
};

struct ServerSettings {
    InsertMode insert = InsertMode::sockops;
    std::chrono::milliseconds drain_timeout{10000};
    std::chrono::seconds stats_interval{0};  // 0: no periodic line
};

class EchoWorker {
public:
    // `listener` is non-blocking and listening; `stop_fd` becomes readable (and stays so) when every
    // worker must stop; `stats` is this thread's slot.
    EchoWorker(UniqueFd listener, const EchoMaps& maps, int stop_fd, echo_loader_stats& stats,
               const ServerSettings& settings);
    EchoWorker(const EchoWorker&) = delete;
    EchoWorker& operator=(const EchoWorker&) = delete;
    ~EchoWorker();

    // Serves until stop_fd is readable; then stops accepting and closes every connection.
    void run();

    // Thread-safe: if this worker has the connection with this cookie, the kernel resets it now
    // (the worker closes the socket when it sees the hang-up) and forgets the cookie, so no later
    // report resets or counts it again; returns whether it had it.
    bool reset_now(std::uint64_t cookie);

    // Thread-safe: resets the connection with this cookie when this worker accepts it (the guard
    // may report a connection before it is accepted).
    void post_reset(std::uint64_t cookie);

private:
    using Clock = std::chrono::steady_clock;

    struct Connection {
        UniqueFd fd;
        std::uint64_t cookie = 0;
        std::uint64_t serial = 0;  // tells a connection from a later one with the same fd
        bool in_map = false;
        bool draining = false;
        Clock::time_point drain_deadline{};
        std::chrono::microseconds drain_interval{};
        // User-space fallback only.
        std::vector<char> out;  // bytes read and not yet written back
        std::size_t out_offset = 0;
        bool peer_closed = false;
    };

    // A due "has the kernel echoed everything?" check of a closing connection.
    struct DrainCheck {
        Clock::time_point due;
        int fd;
        std::uint64_t serial;
        bool operator>(const DrainCheck& other) const { return due > other.due; }
    };

    bool dispatch(const epoll_event& event);
    int wait_timeout_us() const;
    void accept_ready();
    void pause_or_resume_accepting();
    void add_connection(UniqueFd fd);
    bool insert_into_map(Connection& conn);
    void on_event(int fd, std::uint32_t events);
    void fallback_io(Connection& conn, std::uint32_t events);
    bool fallback_flush(Connection& conn);
    void start_drain(Connection& conn);
    void schedule_drain_check(Connection& conn, std::chrono::microseconds interval);
    void run_due_drain_checks();
    bool drained(const Connection& conn);
    void close_connection(int fd, bool reset);
    void close_all();
    void take_mailbox();
    void on_guard_event(std::uint64_t cookie);
    void watch(int fd, std::uint32_t events, bool add);

    UniqueFd listener_;
    int sockets_fd_;
    const __u64* sockops_failures_;
    int stop_fd_;
    echo_loader_stats& stats_;
    ServerSettings settings_;
    UniqueFd epoll_;
    UniqueFd mailbox_fd_;  // eventfd: post_reset() wrote to mailbox_
    std::mutex mailbox_mutex_;
    std::vector<std::uint64_t> mailbox_;
    std::uint64_t next_serial_ = 1;
    std::unordered_map<int, Connection> connections_;
    std::mutex registry_mutex_;  // by_cookie_, and closing its fds (reset_now() uses them)
    std::unordered_map<std::uint64_t, int> by_cookie_;
    std::priority_queue<DrainCheck, std::vector<DrainCheck>, std::greater<>> drain_checks_;
    std::unordered_set<std::uint64_t> early_resets_;  // reported before accept
    bool accept_paused_ = false;
    Clock::time_point accept_paused_until_{};
    Clock::time_point last_accept_warning_{};
};

}  // namespace kecho::loader
