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
//   int fd(), error(); std::uint64_t bytes_echoed(); std::string peer;
#pragma once

namespace kecho::userserver {

enum class ConnectionState {
    open,      // still echoing
    finished,  // the peer closed its side and every byte went back: close normally
    failed,    // reset or error: close now
};

}  // namespace kecho::userserver
