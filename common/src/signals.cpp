// SPDX-License-Identifier: GPL-2.0-only
#include "kecho/signals.h"

#include <signal.h>
#include <sys/signalfd.h>

#include <atomic>
#include <cerrno>

#include "kecho/error.h"

namespace kecho {
namespace {
std::atomic<int> g_signal{0};
}

ShutdownSignal::ShutdownSignal() {
    ::signal(SIGPIPE, SIG_IGN);
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    if (::pthread_sigmask(SIG_BLOCK, &set, nullptr) != 0) throw Error("cannot block SIGINT/SIGTERM");
    fd_.reset(::signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC));
    if (!fd_) throw_errno("cannot create a signalfd", errno);
}

ShutdownSignal::~ShutdownSignal() = default;

bool ShutdownSignal::requested() {
    if (g_signal.load(std::memory_order_relaxed) != 0) return true;
    signalfd_siginfo info{};
    // Peeking would be nicer, but a signalfd can only be read; remember what we read (sticky).
    if (::read(fd_.get(), &info, sizeof(info)) == static_cast<ssize_t>(sizeof(info))) {
        g_signal.store(static_cast<int>(info.ssi_signo));
        // Re-raise for the other threads waiting on the same signalfd.
        ::kill(::getpid(), static_cast<int>(info.ssi_signo));
        return true;
    }
    return false;
}

}  // namespace kecho
