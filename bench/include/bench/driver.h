// SPDX-License-Identifier: GPL-2.0-only
// The bench's one client engine. A Driver owns an epoll set and the connections it drives, each a
// small state machine: waiting -> connecting (non-blocking connect) -> running -> done or failed.
// A running connection sends its Plan's stream (pattern bytes, chunked, messages in flight),
// receives, checks every byte back, and counts message latency. One Driver runs on one thread;
// pingpong and stream run one per worker thread, verify and the stress workloads one in all.
//
// When a message may be sent, and where its latency counts from, is one function:
// DriverOptions::send_at(connection index, message index) returns the message's scheduled send time.
// Empty (closed loop): a message starts as soon as fewer than Plan::in_flight are outstanding and
// its latency counts from then. An open-loop rate (wrk2-style) sets send_at to each message's
// place in the timetable: the driver holds the message back until that time (waking from
// epoll_wait for it) and counts its latency from the scheduled time, not from the actual send, so
// a slow server cannot hide its queueing delay (coordinated omission).
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "bench/clock.h"
#include "bench/histogram.h"
#include "bench/payload.h"
#include "kecho/net.h"

namespace kecho::bench {

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

// Runs every plan to completion or the timeout; never throws for server misbehaviour.
struct StreamsOptions {
    std::chrono::milliseconds timeout{30000};
    std::size_t max_open = 256;
};
std::vector<Outcome> run_streams(const SocketAddress& address, const std::vector<Plan>& plans,
                                 const StreamsOptions& options = {});

// `count` half-closing plans (ids 1..count) of varied sizes from 1 to max_bytes; their bytes in
// all are added to `total`.
std::vector<Plan> half_close_plans(std::uint32_t count, std::uint64_t max_bytes, std::uint64_t& total);

// One fresh connection echoes `bytes` byte-exact within 10 s. Empty on success, else the error.
std::string echo_once(const SocketAddress& address, std::uint32_t id, std::uint64_t bytes);

// The first error among outcomes, prefixed with how many failed; empty when all complete.
std::string first_error(const std::vector<Outcome>& outcomes);

}  // namespace kecho::bench
