// One echoed connection for the readiness-based engines (epoll and busypoll): read into the
// loop's scratch buffer, write straight back, keep only what the kernel would not take.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>

#include "kecho/unique_fd.h"
#include "out_buffer.h"

namespace kecho::userserver {

class StreamConnection {
public:
    enum class State {
        open,      // still echoing
        finished,  // the peer closed its side and every byte went back: close normally
        failed,    // reset or error: close now
    };

    // max_buffer: unsent bytes before reading pauses; read_size: the most one read returns.
    StreamConnection(UniqueFd fd, std::size_t max_buffer, std::size_t read_size)
        : fd_(std::move(fd)), max_buffer_(max_buffer) {
        unsent_.set_growth_limit(max_buffer + read_size);
    }

    int fd() const { return fd_.get(); }

    // Reads and echoes at most `budget` times. Stops early when the kernel has no more bytes (a
    // short read means the queue was empty, unless a hangup was seen: then it reads on to see the
    // FIN, for which no new edge would come), or when the unsent bytes exceed max_buffer (reading
    // resumes once they drain).
    State read(std::span<char> scratch, int budget);

    // Sends what is buffered. Call when the socket became writable.
    State flush();

    // True while bytes may be waiting in the kernel and reading is not paused: the loop should
    // call read() again (its budget ran out, or reading just resumed).
    bool wants_read() const { return maybe_readable_ && !paused_; }
    void mark_readable() { maybe_readable_ = true; }
    void mark_hangup() { hangup_ = true; }  // EPOLLRDHUP, EPOLLHUP or EPOLLERR was reported
    bool has_unsent() const { return !unsent_.empty(); }

    std::uint64_t bytes_echoed() const { return echoed_; }
    int error() const { return error_; }  // errno of a failure, 0 otherwise
    bool peer_closed() const { return peer_closed_; }

    std::string peer;  // "address:port", filled only with --verbose

private:
    State echo(const char* bytes, std::size_t n);
    State state_after_io() const { return peer_closed_ && unsent_.empty() ? State::finished : State::open; }

    UniqueFd fd_;
    std::size_t max_buffer_;
    OutBuffer unsent_;
    std::uint64_t echoed_ = 0;
    int error_ = 0;
    bool maybe_readable_ = true;  // a fresh connection may have bytes queued already
    bool paused_ = false;
    bool peer_closed_ = false;
    bool hangup_ = false;
};

}  // namespace kecho::userserver
