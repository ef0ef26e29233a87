// SPDX-License-Identifier: GPL-2.0-only
// One echoed connection for the readiness-based engines (epoll and floor): read into the
// loop's scratch buffer, write straight back, keep only what the kernel would not take.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>

#include "config.h"
#include "connection.h"
#include "kecho/unique_fd.h"
#include "out_buffer.h"

namespace kecho::userserver {

class StreamConnection {
public:
    using State = ConnectionState;
    struct Extra {};  // nothing besides the socket
    static int make_extra(const Config&, std::optional<Extra>& extra) {
        extra.emplace();
        return 0;
    }

    // config.max_buffer: unsent bytes before reading pauses; scratch: the loop's read buffer.
    StreamConnection(UniqueFd fd, Extra, const Config& config, std::span<char> scratch)
        : fd_(std::move(fd)), max_buffer_(config.max_buffer), scratch_(scratch) {
        unsent_.set_growth_limit(max_buffer_ + scratch.size());
    }

    int fd() const { return fd_.get(); }

    // Reads and echoes at most `budget` times. Stops early when the kernel has no more bytes (a
    // short read means the queue was empty, unless a hangup was seen: then it reads on to see the
    // FIN, for which no new edge would come), or when the unsent bytes exceed max_buffer (reading
    // resumes once they drain).
    State read(int budget);

    // Sends what is buffered. Call when the socket became writable.
    State flush();

    // True while bytes may be waiting in the kernel and reading is not paused: the loop should
    // call read() again (its budget ran out, or reading just resumed).
    bool wants_read() const { return status_.maybe_readable && !paused_; }
    void mark_readable() { status_.maybe_readable = true; }
    void mark_hangup() { hangup_ = true; }  // EPOLLRDHUP, EPOLLHUP or EPOLLERR was reported
    // recv reads urgent bytes inline (SO_OOBINLINE) but stops short before one: until the queue is
    // empty, a short read no longer means it is.
    void mark_urgent() { urgent_pending_ = true; }
    bool has_unsent() const { return !unsent_.empty(); }

    std::uint64_t bytes_echoed() const { return echoed_; }
    int error() const { return status_.error; }  // errno of a failure, 0 otherwise

    std::string peer;  // "address:port", filled only with --verbose

private:
    State echo(const char* bytes, std::size_t n);
    State state_after_io() const { return status_.peer_closed && unsent_.empty() ? State::finished : State::open; }

    UniqueFd fd_;
    std::size_t max_buffer_;
    std::span<char> scratch_;
    OutBuffer unsent_;
    std::uint64_t echoed_ = 0;
    SocketStatus status_;
    bool paused_ = false;
    bool hangup_ = false;
    bool urgent_pending_ = false;  // EPOLLPRI came: reads may stop short before an urgent byte
};

}  // namespace kecho::userserver
