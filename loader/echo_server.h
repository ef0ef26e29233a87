// The user-space half of the echo: accepts every connection promptly, makes sure each one is in the
// socket hash (or echoes it itself when it cannot be), closes only after the kernel has echoed every
// byte, and resets connections the pending-bytes guard reports.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "echo.h"
#include "kecho/signals.h"
#include "kecho/unique_fd.h"

struct ring_buffer;

namespace kecho::loader {

enum class InsertMode {
    sockops,  // sockops inserts; the loader inserts what it missed after accept
    loader,   // no sockops: the loader inserts after accept (diagnostic)
    none,     // nothing inserted: every connection is echoed in user space (diagnostic)
};

struct ServerSettings {
    InsertMode insert = InsertMode::sockops;
    std::chrono::milliseconds drain_timeout{10000};
    std::chrono::seconds stats_interval{0};  // 0: no periodic line
};

class EchoServer {
public:
    // `listener` is non-blocking and listening; `sockets_fd` is the socket hash, `events_fd` the
    // guard's ring buffer; `stats` lives in the BPF object's mmapped .bss.
    EchoServer(UniqueFd listener, int sockets_fd, int events_fd, echo_loader_stats& stats, ServerSettings settings);
    EchoServer(const EchoServer&) = delete;
    EchoServer& operator=(const EchoServer&) = delete;
    ~EchoServer();

    // Runs until `shutdown` is signalled; then stops accepting, drains (bounded) and closes all.
    // `periodic` is called every stats_interval.
    template <typename Periodic>
    void run(ShutdownSignal& shutdown, Periodic periodic) {
        run_loop(
            shutdown, [](void* p) { (*static_cast<Periodic*>(p))(); }, &periodic);
    }

private:
    struct Connection {
        UniqueFd fd;
        std::uint64_t cookie = 0;
        bool in_map = false;
        bool draining = false;
        std::chrono::steady_clock::time_point drain_deadline{};
        // User-space fallback only.
        std::vector<char> out;  // bytes read and not yet written back
        std::size_t out_offset = 0;
        bool peer_closed = false;
    };

    void run_loop(ShutdownSignal& shutdown, void (*periodic)(void*), void* ctx);
    void accept_ready();
    void add_connection(UniqueFd fd);
    void on_event(int fd, std::uint32_t events);
    void fallback_io(Connection& conn, std::uint32_t events);
    void start_drain(Connection& conn);
    bool drained(const Connection& conn) const;
    void check_draining();
    void close_connection(int fd, bool reset);
    void on_guard_event(std::uint64_t cookie);
    static int ring_callback(void* ctx, void* data, std::size_t size);
    void watch(int fd, std::uint32_t events, bool add);

    UniqueFd listener_;
    int sockets_fd_;
    echo_loader_stats& stats_;
    ServerSettings settings_;
    UniqueFd epoll_;
    ring_buffer* ring_ = nullptr;
    std::unordered_map<int, Connection> connections_;
    std::unordered_map<std::uint64_t, int> by_cookie_;
    std::unordered_set<int> draining_;
    std::unordered_set<std::uint64_t> early_resets_;  // reported before accept
    std::chrono::steady_clock::time_point accept_paused_until_{};
    std::chrono::steady_clock::time_point last_accept_warning_{};
};

}  // namespace kecho::loader
