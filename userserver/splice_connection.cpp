// SPDX-License-Identifier: GPL-2.0-only
#include "splice_connection.h"

#include <fcntl.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <fstream>

namespace kecho::userserver {
namespace {

constexpr unsigned splice_flags = SPLICE_F_MOVE | SPLICE_F_NONBLOCK;

// fs.pipe-max-size: the largest pipe a process without CAP_SYS_RESOURCE may ask for.
int pipe_max_size() {
    static const int size = [] {
        std::ifstream in("/proc/sys/fs/pipe-max-size");
        int value = 0;
        return in >> value ? value : 0;
    }();
    return size;
}

}  // namespace

int SpliceConnection::make_extra(const Config& config, std::optional<Extra>& extra) {
    int fds[2];
    if (::pipe2(fds, O_NONBLOCK | O_CLOEXEC) != 0) return errno;
    Extra pipe{UniqueFd(fds[0]), UniqueFd(fds[1]), 0};
    int wanted = static_cast<int>(std::min<std::size_t>(config.max_buffer, INT_MAX));
    int size = ::fcntl(fds[1], F_SETPIPE_SZ, wanted);
    // EPERM: above fs.pipe-max-size without privilege, or the user's pipe pages are used up
    // (fs.pipe-user-pages-soft); then the pipe keeps a size the kernel allows.
    if (size < 0 && pipe_max_size() > 0 && pipe_max_size() < wanted)
        size = ::fcntl(fds[1], F_SETPIPE_SZ, pipe_max_size());
    if (size < 0) size = ::fcntl(fds[1], F_GETPIPE_SZ);
    if (size <= 0) return errno != 0 ? errno : EINVAL;
    pipe.capacity = static_cast<std::size_t>(size);
    extra.emplace(std::move(pipe));
    return 0;
}

SpliceConnection::State SpliceConnection::read(int budget) {
    for (int i = 0; i < budget; ++i) {
        if (State state = flush(); state != State::open) return state;
        // Bytes left in the pipe: the send buffer is full, so stop reading until it drains.
        if (in_pipe_ != 0 || !status_.maybe_readable) return State::open;
        // The pipe is empty, so EAGAIN below can only mean the socket has nothing more.
        ssize_t n = ::splice(fd_.get(), nullptr, pipe_.write_end.get(), nullptr, pipe_.capacity, splice_flags);
        if (n > 0) {
            in_pipe_ = static_cast<std::size_t>(n);
            continue;
        }
        if (n < 0 && errno == EAGAIN && urgent_pending_) {
            if (take_urgent_byte()) continue;
            if (status_.error) return State::failed;
            errno = EAGAIN;  // the splice's: the urgent byte has not arrived, an edge will come
        }
        SocketStatus::Next next = status_.after_empty_read(n);
        if (next == SocketStatus::Next::again) continue;
        return next == SocketStatus::Next::failed ? State::failed : state_after_io();
    }
    return flush();  // budget used up: status_.maybe_readable stays set and the loop comes back
}

// splice(2) stops before an urgent byte whatever SO_OOBINLINE says (tcp_read_sock), so the echo
// would stall there: with the urgent mark next in the stream, that one byte is read (inline) and
// put in the empty pipe in its place, and splicing goes on after it.
bool SpliceConnection::take_urgent_byte() {
    int at_mark = 0;
    if (::ioctl(fd_.get(), SIOCATMARK, &at_mark) != 0 || !at_mark) return false;
    char byte = 0;
    if (::recv(fd_.get(), &byte, 1, MSG_DONTWAIT) != 1) return false;  // not arrived yet: an edge comes
    if (::write(pipe_.write_end.get(), &byte, 1) != 1) {               // an empty pipe takes one byte
        status_.error = errno;
        return false;
    }
    in_pipe_ = 1;
    urgent_pending_ = false;
    return true;
}

SpliceConnection::State SpliceConnection::flush() {
    while (in_pipe_ != 0) {
        ssize_t n = ::splice(pipe_.read_end.get(), nullptr, fd_.get(), nullptr, in_pipe_, splice_flags);
        if (n > 0) {
            in_pipe_ -= static_cast<std::size_t>(n);
            echoed_ += static_cast<std::size_t>(n);
            continue;
        }
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && errno == EAGAIN) return State::open;  // the send buffer is full: wait to be writable
        status_.error = n == 0 ? EPIPE : errno;
        return State::failed;
    }
    return state_after_io();
}

}  // namespace kecho::userserver
