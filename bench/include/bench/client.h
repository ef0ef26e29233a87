// SPDX-License-Identifier: GPL-2.0-only
// The bench's client engine. A Driver owns an epoll set and the connections it drives, each a
// small state machine: waiting -> connecting (non-blocking connect) -> running -> done or failed.
// A running connection sends its Plan's stream (pattern bytes, chunked, messages in flight),
// receives, checks every byte back, and counts message latency. One Driver runs on one thread;
// pingpong and stream run one per worker thread, verify and the stress workloads one in all.
// BlockingConnection is the simple client next to it (pingpong's thread-per-connection path,
// burst, churn, resets and the hostile-input cases).
//
// When a message may be sent, and where its latency counts from, is one function:
// DriverOptions::send_at(connection index, message index) returns the message's scheduled send time.
// Empty (closed loop): a message starts as soon as fewer than Plan::in_flight are outstanding and
// its latency counts from then. An open-loop rate (wrk2-style) sets send_at to each message's
// place in the timetable: the driver holds the message back until that time (waking from
// epoll_wait for it) and counts its latency from the scheduled time, not from the actual send, so
// a slow server cannot hide its queueing delay (coordinated omission).
#pragma once

#include <pthread.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "bench/histogram.h"
#include "bench/payload.h"
#include "kecho/error.h"
#include "kecho/net.h"

namespace kecho::bench {

using Clock = std::chrono::steady_clock;

inline double seconds_since(Clock::time_point start) {
    return std::chrono::duration<double>(Clock::now() - start).count();
}

inline Clock::time_point after_seconds(double seconds) {
    return Clock::now() + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(seconds));
}

// The first error seen by any of several threads, and how many there were.
class ErrorCount {
public:
    void add(const std::string& what) {
        std::lock_guard lock(mutex_);
        if (count_++ == 0) first_ = what;
    }
    std::uint64_t count() const {
        std::lock_guard lock(mutex_);
        return count_;
    }
    std::string first() const {
        std::lock_guard lock(mutex_);
        return first_;
    }
    // Empty when there was none, else "3 errors; first: ...".
    std::string describe() const {
        std::lock_guard lock(mutex_);
        if (count_ == 0) return {};
        return std::to_string(count_) + (count_ == 1 ? " error" : " errors") + "; first: " + first_;
    }

private:
    mutable std::mutex mutex_;
    std::uint64_t count_ = 0;
    std::string first_;
};

// A thread with a small stack: burst and the blocking client start up to thousands of them.
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

inline constexpr std::uint64_t unbounded = UINT64_MAX;

// How a connection reads its echo.
struct Reading {
    bool enabled = true;                 // false: never reads (a non-reading client)
    std::size_t chunk = 0;               // paced: at most this many bytes ...
    std::chrono::milliseconds every{0};  // ... per interval (a slow reader); 0 = read all, at once
};

// What one connection sends and expects back.
struct Plan {
    std::uint32_t id = 1;  // connection id carried in the payload
    PatternKind kind = PatternKind::mixed;
    std::uint64_t bytes = 0;      // to send in all (and expect back); `unbounded` for timed runs
    std::size_t message = 0;      // bytes per message (latency is per message); 0: one stream
    std::uint32_t in_flight = 0;  // messages outstanding at once; 0: send while the socket takes bytes
    std::size_t write_chunk = 0;  // bytes per send() call; 0: as much as the socket takes
    bool half_close = false;      // shutdown(SHUT_WR) after the last byte; expect end-of-file after the echo
    bool keep_open = false;       // stay connected once done (Driver::extend sends more)
    Reading reading;
    int receive_buffer = 0;          // SO_RCVBUF set before connect (0: the kernel's default)
    std::uint32_t varied_sizes = 0;  // not 0: a seed, and every send() and recv() takes a random size
                                     // (1 byte up to write_chunk, or up to the read buffer)
};

// Where a connection stands.
struct Outcome {
    std::uint64_t sent = 0;
    std::uint64_t received = 0;  // every byte checked
    bool complete = false;
    bool reset = false;             // the server reset it (ECONNRESET/EPIPE)
    std::string error;              // "connection 3: ..."; empty while running or when complete
    Clock::time_point last_send{};  // when the server last took bytes
};

// Messages and bytes counted while DriverOptions::measuring is set.
struct Tally {
    std::uint64_t messages = 0, bytes_sent = 0, bytes_received = 0;
    LatencyHistogram latency_ns;
    void merge(const Tally& other);
};

struct DriverOptions {
    std::size_t max_open = 256;                    // connections open at once (added ones wait their turn)
    std::size_t max_connecting = 128;              // connects in flight (stays below small backlogs)
    const std::atomic<bool>* measuring = nullptr;  // tally only while true; null: always
    // Scheduled send time of message `message` of connection `index` (see the top of this file).
    std::function<Clock::time_point(std::size_t index, std::uint64_t message)> send_at;
};

class Driver {
public:
    explicit Driver(const SocketAddress& address, DriverOptions options = {});
    ~Driver();
    Driver(const Driver&) = delete;
    Driver& operator=(const Driver&) = delete;

    // A connection to open when its turn comes; returns its index.
    std::size_t add(const Plan& plan);
    // An already connected socket.
    std::size_t adopt(const Plan& plan, UniqueFd fd);

    // Drives every connection until all ended, `deadline` passed, or `stop` (checked about every
    // 50 ms) returns true.
    void run(Clock::time_point deadline, const std::function<bool()>& stop = {});
    // Fails every connection still unfinished with "timed out ..." (what a deadline means for verify).
    void expire();

    // A kept-open, complete connection sends (and expects) `bytes` more.
    void extend(std::size_t index, std::uint64_t bytes);
    // Expect back what was sent so far and send no more; start reading.
    void stop_sending(std::size_t index);
    // Takes the socket out of the driver (the connection counts as done).
    UniqueFd release(std::size_t index);

    const Outcome& outcome(std::size_t index) const;
    std::vector<Outcome> outcomes() const;
    std::size_t size() const;
    Tally& tally();

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

// Runs every plan to completion or the timeout (then fails the rest); never throws for server
// misbehaviour.
std::vector<Outcome> run_streams(const SocketAddress& address, const std::vector<Plan>& plans,
                                 std::chrono::milliseconds timeout = std::chrono::seconds(30),
                                 std::size_t max_open = 256);

// The first error among outcomes, prefixed with how many failed; empty when all complete.
std::string first_error(const std::vector<Outcome>& outcomes);

// One connection with blocking calls: send the next bytes of its pattern, receive and check what
// comes back. Every wait is bounded (SO_RCVTIMEO/SO_SNDTIMEO); when one expires, `keep_waiting`
// (if set) says whether to go on, else the call fails.
class BlockingConnection {
public:
    // Connects (within `wait`); throws Error naming the address.
    BlockingConnection(const SocketAddress& address, std::uint32_t id, PatternKind kind = PatternKind::mixed,
                       std::chrono::milliseconds wait = std::chrono::seconds(5));
    // Takes a connected socket.
    BlockingConnection(UniqueFd fd, std::uint32_t id, std::chrono::milliseconds wait);

    // Asked when a wait expires: true waits again, false ends the call (it returns false).
    void keep_waiting(std::function<bool()> ask) { keep_waiting_ = std::move(ask); }

    // Sends the next `length` bytes of the pattern (length 0: one empty send()). Throws Error.
    bool send(std::size_t length);
    // Receives the next `length` bytes and checks them against the pattern. Throws Error on a
    // mismatch, end-of-file, a failed recv or an expired wait.
    bool expect(std::uint64_t length);
    // The same with literal bytes (burst's message) instead of the pattern; `first_byte` (when given)
    // is set to when the first bytes of the echo arrived.
    bool send_text(const std::string& text);
    bool expect_text(const std::string& text, Clock::time_point* first_byte = nullptr);

    UniqueFd release() { return std::move(fd_); }

private:
    bool send_all(const std::uint8_t* data, std::size_t length);
    bool receive(std::uint64_t length,
                 const std::function<std::optional<std::string>(const std::uint8_t*, std::size_t)>& check);
    bool waited_enough(const char* what, std::uint64_t got, std::uint64_t want);

    UniqueFd fd_;
    Pattern pattern_;
    std::chrono::milliseconds wait_;
    std::uint64_t sent_ = 0, received_ = 0;  // pattern offsets
    std::vector<std::uint8_t> buffer_;
    std::function<bool()> keep_waiting_;
};

}  // namespace kecho::bench
