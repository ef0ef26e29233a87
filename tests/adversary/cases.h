// SPDX-License-Identifier: GPL-2.0-only
// The hostile peer's cases: each scripts the segments of one connection (or two) and says whether
// the server echoed every byte once, in order. Reordering cases run twice: with their segments
// queued before the server accepts the connection (the server is stopped meanwhile when its pid is
// known) and after an exchange proves it accepted.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <random>
#include <span>
#include <string>

#include "raw_link.h"
#include "tcp_peer.h"

namespace kecho::adversary {

enum class Phase { before_accept, after_accept };
const char* phase_name(Phase phase);

struct Outcome {
    bool passed = false;
    std::string detail;
};

// A connection of a case: its stream and where the case's own bytes start in it (after the
// exchange that proves the server accepted, when the case runs after accept).
struct Connection {
    TcpPeer peer;
    std::size_t base = 0;

    // The case's bytes [from, to), counted from base, in one segment.
    void send(std::size_t from, std::size_t to) { peer.send_bytes(base + from, base + to); }
};

// The server under test as one case sees it; stops and resumes it around a before-accept phase.
class Session {
public:
    Session(RawLink& link, std::uint16_t port, pid_t pause_pid, Phase phase, std::uint32_t seed);
    Session(const Session&) = delete;
    Session& operator=(const Session&) = delete;
    ~Session();

    // A new connection whose case sends `bytes`, announcing `window` (before accept, in the
    // handshake; after, once the accept exchange is done). Throws CaseFailed when it cannot start.
    Connection open(std::size_t bytes, std::uint16_t window = TcpPeer::max_window);
    // The server runs again (after a before-accept phase).
    void resume();
    // Delivers whatever the case left unsent or the server dropped, in order, waits for the whole
    // echo and closes: the verdict on the connection.
    Outcome finish(Connection& c);

    Phase phase() const { return phase_; }
    std::mt19937& rng() { return rng_; }

private:
    void stop_server();

    RawLink& link_;
    std::uint16_t port_;
    pid_t pause_pid_;
    Phase phase_;
    std::mt19937 rng_;
    bool stopped_ = false;
};

// A connection could not be set up the way the case needs: the case fails with this reason. Fatal:
// no case can run (the server does not answer, or cannot be stopped).
struct CaseFailed {
    std::string reason;
    bool fatal = false;
};

struct Case {
    const char* name;
    const char* what;  // one line for --list
    Outcome (*run)(Session& session);
};

std::span<const Case> all_cases();

}  // namespace kecho::adversary
