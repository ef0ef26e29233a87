// Correctness transfers: many connections, each sends a known stream and checks every byte that
// comes back, driven by one epoll loop. Used by the verify battery.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "bench/payload.h"
#include "kecho/net.h"

namespace kecho::bench {

struct StreamSpec {
    std::uint32_t id = 0;  // connection id carried in the payload
    PatternKind kind = PatternKind::mixed;
    std::uint64_t bytes = 0;      // how many bytes to send (and expect back)
    std::size_t write_chunk = 0;  // bytes per send() call; 0 = as much as the socket takes
    bool half_close = false;      // shutdown(SHUT_WR) after the last byte; expect EOF after the echo
};

struct StreamOutcome {
    std::uint64_t sent = 0;
    std::uint64_t received = 0;
    bool complete = false;
    std::string error;  // empty when complete
};

struct TransferOptions {
    std::chrono::milliseconds timeout{30000};  // for the whole set
    std::size_t max_open = 256;                // connections open at the same time
    std::size_t max_connecting = 128;          // connects in flight (keeps below small backlogs)
};

// Runs every stream to completion or until the timeout. Never throws for server misbehaviour:
// every failure lands in the stream's outcome (the first failure names the connection and offset).
std::vector<StreamOutcome> run_streams(const SocketAddress& address, const std::vector<StreamSpec>& specs,
                                       const TransferOptions& options = {});

// `count` half-closing streams (ids 1..count) of varied sizes from 1 to max_bytes; their bytes in all
// are added to `total`.
std::vector<StreamSpec> half_close_specs(std::uint32_t count, std::uint64_t max_bytes, std::uint64_t& total);

// One fresh connection echoes `bytes` byte-exact within 10 s (the server still serves).
// Empty on success, else the stream's error.
std::string echo_once(const SocketAddress& address, std::uint32_t id, std::uint64_t bytes);

// The first error among outcomes, prefixed with how many streams failed; empty when all complete.
std::string first_error(const std::vector<StreamOutcome>& outcomes);

}  // namespace kecho::bench
