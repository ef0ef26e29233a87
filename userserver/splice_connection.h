// SPDX-License-Identifier: GPL-2.0-only
// One echoed connection of the splice engine: socket -> pipe -> socket with splice(2), so the bytes
// never enter user space. The pipe is the connection's buffer and its memory bound: its capacity
// is --max-buffer (rounded up to whole pages by the kernel; see make_extra for when the kernel
// allows less). A connection costs three descriptors (socket and the pipe's two ends).
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>

#include "config.h"
#include "connection.h"
#include "kecho/unique_fd.h"

namespace kecho::userserver {

class SpliceConnection {
public:
    using State = ConnectionState;
    struct Extra {
        UniqueFd read_end;   // non-blocking
        UniqueFd write_end;  // non-blocking
        std::size_t capacity = 0;
    };
    // Creates the pipe and sizes it: --max-buffer where the kernel allows it, else the largest
    // size an unprivileged process may ask for (fs.pipe-max-size, 1 MiB by default), else the
    // kernel's default. Without CAP_SYS_RESOURCE, once the user's pipes hold more than
    // fs.pipe-user-pages-soft pages (64 MiB by default: 64 connections of 1 MiB) new pipes get
    // two pages: still correct, slower. Returns 0, or the errno of pipe2 (EMFILE/ENFILE when out
    // of descriptors: the loop then pauses accepting, as for accept's own EMFILE).
    static int make_extra(const Config& config, std::optional<Extra>& extra);

    SpliceConnection(UniqueFd fd, Extra pipe, const Config&, std::span<char>)
        : fd_(std::move(fd)), pipe_(std::move(pipe)) {}

    int fd() const { return fd_.get(); }

    // Moves bytes socket -> pipe -> socket at most `budget` times. The socket is read only while
    // the pipe is empty: once the socket's send buffer is full the pipe keeps what it holds,
    // reading stops and TCP flow control holds the peer until a writable edge drains the pipe.
    State read(int budget);
    // Drains the pipe into the socket. Call when the socket became writable.
    State flush();

    bool wants_read() const { return status_.maybe_readable && in_pipe_ == 0; }
    void mark_readable() { status_.maybe_readable = true; }
    void mark_hangup() {}  // reading goes on to EAGAIN or end of stream anyway
    void mark_urgent() {
        urgent_pending_ = true;
        status_.maybe_readable = true;
    }
    bool has_unsent() const { return in_pipe_ != 0; }

    std::uint64_t bytes_echoed() const { return echoed_; }
    int error() const { return status_.error; }

    std::string peer;  // "address:port", filled only with --verbose

private:
    State state_after_io() const { return status_.peer_closed && in_pipe_ == 0 ? State::finished : State::open; }
    bool take_urgent_byte();

    UniqueFd fd_;
    Extra pipe_;
    std::size_t in_pipe_ = 0;  // bytes read from the socket, not yet sent back
    std::uint64_t echoed_ = 0;
    bool urgent_pending_ = false;  // EPOLLPRI came: splice may stop short of an urgent byte
    SocketStatus status_;
};

}  // namespace kecho::userserver
