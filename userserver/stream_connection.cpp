// SPDX-License-Identifier: GPL-2.0-only
#include "stream_connection.h"

#include <sys/socket.h>

#include <cerrno>

namespace kecho::userserver {

StreamConnection::State StreamConnection::read(int budget) {
    for (int i = 0; i < budget; ++i) {
        if (paused_ || status_.peer_closed) return state_after_io();
        ssize_t n = ::recv(fd_.get(), scratch_.data(), scratch_.size(), 0);
        if (n > 0) {
            if (echo(scratch_.data(), static_cast<std::size_t>(n)) == State::failed) return State::failed;
            if (static_cast<std::size_t>(n) < scratch_.size() && !hangup_ && !urgent_pending_) {
                // The receive queue was emptied; new bytes raise a new edge.
                status_.maybe_readable = false;
                return State::open;
            }
            continue;
        }
        if (n < 0 && errno == EAGAIN) urgent_pending_ = false;  // read up to the (inline) urgent byte and past
        SocketStatus::Next next = status_.after_empty_read(n);
        if (next == SocketStatus::Next::again) continue;
        return next == SocketStatus::Next::failed ? State::failed : state_after_io();
    }
    return State::open;  // budget used up: status_.maybe_readable stays set, the loop comes back
}

StreamConnection::State StreamConnection::echo(const char* bytes, std::size_t n) {
    if (!unsent_.empty()) {
        // Writing now would jump the queue; the socket reports writable once it drains.
        unsent_.append(bytes, n);
    } else {
        ssize_t sent;
        do {
            sent = ::send(fd_.get(), bytes, n, MSG_NOSIGNAL | MSG_DONTWAIT);
        } while (sent < 0 && errno == EINTR);
        if (sent < 0) {
            if (errno != EAGAIN) {
                status_.error = errno;
                return State::failed;
            }
            sent = 0;
        }
        echoed_ += static_cast<std::size_t>(sent);
        if (static_cast<std::size_t>(sent) < n) unsent_.append(bytes + sent, n - static_cast<std::size_t>(sent));
    }
    if (unsent_.size() > max_buffer_) paused_ = true;  // TCP flow control now holds the peer
    return State::open;
}

StreamConnection::State StreamConnection::flush() {
    while (!unsent_.empty()) {
        ssize_t sent = ::send(fd_.get(), unsent_.data(), unsent_.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
        if (sent < 0) {
            if (errno == EINTR) continue;
            if (errno == EAGAIN) break;
            status_.error = errno;
            return State::failed;
        }
        echoed_ += static_cast<std::size_t>(sent);
        bool short_write = static_cast<std::size_t>(sent) < unsent_.size();
        unsent_.consume(static_cast<std::size_t>(sent));
        if (short_write) break;  // the send buffer is full; the next writable edge brings us back
    }
    // Resume reading at half the limit so a connection at the limit does not flip every message.
    if (paused_ && unsent_.size() <= max_buffer_ / 2) paused_ = false;
    return state_after_io();
}

}  // namespace kecho::userserver
