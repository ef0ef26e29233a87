// SPDX-License-Identifier: GPL-2.0-only
#include "log.h"

#include <unistd.h>

#include <cerrno>

#include "kecho/error.h"

namespace kecho::userserver {

std::atomic<unsigned long> AcceptErrors::pauses_{0};

void log_line(const std::string& line) {
    std::string text = "user-echo-server: " + line + "\n";
    // Best effort: a diagnostic that cannot be written is not worth failing for.
    ssize_t ignored = ::write(STDERR_FILENO, text.data(), text.size());
    (void)ignored;
}

bool AcceptErrors::should_pause(int err) {
    switch (err) {
        case EMFILE:
        case ENFILE:
        case ENOBUFS:
        case ENOMEM:
            if (pauses_.fetch_add(1) == 0) {
                std::string hint = (err == EMFILE || err == ENFILE) ? " (raise the open file limit, ulimit -n)" : "";
                log_line(errno_message("cannot accept connections", err) + hint + "; pausing accepts for " +
                         std::to_string(pause_ms) + " ms at a time (reported once)");
            }
            return true;
        case EAGAIN:
        case EINTR:
        case ECONNABORTED:
        case EPROTO:
        case EPERM:  // a firewall rule refused this one connection
        case ENETDOWN:
        case ENOPROTOOPT:
        case EHOSTDOWN:
        case ENONET:
        case EHOSTUNREACH:
        case EOPNOTSUPP:
        case ENETUNREACH:
        case ETIMEDOUT:
            return false;
        default:
            throw_errno("cannot accept connections", err);
    }
}

}  // namespace kecho::userserver
