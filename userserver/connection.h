// SPDX-License-Identifier: GPL-2.0-only
// What the readiness-based loop (epoll_loop.cpp) needs of a connection. Two kinds exist:
// StreamConnection (recv into the loop's scratch buffer, send back; epoll and floor engines) and
// SpliceConnection (socket to pipe to socket; splice engine). Each provides:
//   using Extra;                    what a connection needs besides its socket (a pipe, or nothing)
//   static int make_extra(const Config&, std::optional<Extra>&);
//                                   made BEFORE accepting, so a connection is never accepted that
//                                   could not be served; returns 0 or an errno (EMFILE...)
//   Connection(UniqueFd, Extra, const Config&, std::span<char> scratch);
//   State read(int budget);         reads and echoes at most `budget` times
//   State flush();                  sends what is held back; called when the socket is writable
//   bool wants_read(), has_unsent(); void mark_readable(), mark_hangup();
//   void mark_urgent();             EPOLLPRI: urgent data is pending (inline: SO_OOBINLINE)
//   int fd(), error(); std::uint64_t bytes_echoed(); std::string peer;
#pragma once

#include <sys/types.h>

#include <cerrno>

namespace kecho::userserver {

enum class ConnectionState {
    open,      // still echoing
    finished,  // the peer closed its side and every byte went back: close normally
    failed,    // reset or error: close now
};

// What both kinds know of their socket (bytes may be waiting, the peer closed, an error), and what
// a read from it (recv, or splice into the pipe) that moved no byte means.
struct SocketStatus {
    enum class Next {
        stop,    // end of stream (peer_closed) or an empty receive queue (EAGAIN: a new edge comes)
        again,   // EINTR: read again
        failed,  // any other errno, kept in `error`
    };
    // After a read that returned n <= 0 (errno set when n < 0).
    Next after_empty_read(ssize_t n) {
        if (n < 0 && errno == EINTR) return Next::again;
        if (n < 0 && errno != EAGAIN) {
            error = errno;
            return Next::failed;
        }
        peer_closed = peer_closed || n == 0;
        maybe_readable = false;
        return Next::stop;
    }

    bool maybe_readable = true;  // a fresh connection may have bytes queued already
    bool peer_closed = false;
    int error = 0;  // errno of a failure (a read's or a write's), 0 otherwise
};

}  // namespace kecho::userserver
