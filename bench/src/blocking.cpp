// SPDX-License-Identifier: GPL-2.0-only
#include "bench/blocking.h"

#include <sys/socket.h>
#include <sys/time.h>

#include <algorithm>
#include <cerrno>

#include "kecho/error.h"

namespace kecho::bench {
namespace {

void set_timeouts(int fd, std::chrono::milliseconds wait) {
    timeval tv{static_cast<time_t>(wait.count() / 1000), static_cast<suseconds_t>(wait.count() % 1000 * 1000)};
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
}

}  // namespace

BlockingConnection::BlockingConnection(const SocketAddress& address, std::uint32_t id, PatternKind kind,
                                       std::chrono::milliseconds wait)
    : fd_(connect_to(address, static_cast<int>(wait.count()))), pattern_(kind, id), wait_(wait) {
    set_nodelay(fd_.get());
    set_timeouts(fd_.get(), wait);
}

BlockingConnection::BlockingConnection(UniqueFd fd, std::uint32_t id, std::chrono::milliseconds wait)
    : fd_(std::move(fd)), pattern_(PatternKind::mixed, id), wait_(wait) {
    set_nonblocking(fd_.get(), false);
    set_timeouts(fd_.get(), wait);
}

bool BlockingConnection::waited_enough(const char* what, std::uint64_t got, std::uint64_t want) {
    if (keep_waiting_) return !keep_waiting_();
    throw Error(std::string("no ") + what + " progress within " + std::to_string(wait_.count()) + " ms (" +
                std::to_string(got) + " of " + std::to_string(want) + " bytes)");
}

bool BlockingConnection::send_all(const std::uint8_t* data, std::size_t length) {
    std::size_t done = 0;
    do {
        ssize_t w = ::send(fd_.get(), data + done, length - done, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR) continue;
        if (w < 0 && errno == EAGAIN) {
            if (waited_enough("send", done, length)) return false;
            continue;
        }
        if (w < 0) throw_errno("send failed after " + std::to_string(sent_ + done) + " bytes", errno);
        done += static_cast<std::size_t>(w);
    } while (done < length);
    return true;
}

bool BlockingConnection::send(std::size_t length) {
    if (buffer_.size() < length) buffer_.resize(length);
    pattern_.fill(sent_, buffer_.data(), length);
    if (!send_all(buffer_.data(), length)) return false;
    sent_ += length;
    return true;
}

bool BlockingConnection::send_text(const std::string& text) {
    return send_all(reinterpret_cast<const std::uint8_t*>(text.data()), text.size());
}

bool BlockingConnection::receive(
    std::uint64_t length, const std::function<std::optional<std::string>(const std::uint8_t*, std::size_t)>& check) {
    if (buffer_.size() < 64 * 1024) buffer_.resize(64 * 1024);
    std::uint64_t got = 0;
    while (got < length) {
        auto want = static_cast<std::size_t>(std::min<std::uint64_t>(buffer_.size(), length - got));
        ssize_t r = ::recv(fd_.get(), buffer_.data(), want, 0);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0 && errno == EAGAIN) {
            if (waited_enough("echo", got, length)) return false;
            continue;
        }
        if (r < 0) throw_errno("receive failed after " + std::to_string(received_ + got) + " bytes", errno);
        if (r == 0)
            throw Error("server closed the connection after returning " + std::to_string(received_ + got) + " bytes");
        if (auto error = check(buffer_.data(), static_cast<std::size_t>(r))) throw Error(*error);
        got += static_cast<std::uint64_t>(r);
        received_ += static_cast<std::uint64_t>(r);
    }
    return true;
}

bool BlockingConnection::expect(std::uint64_t length) {
    return receive(length, [&](const std::uint8_t* data, std::size_t n) -> std::optional<std::string> {
        if (auto m = pattern_.check(received_, data, n)) return m->describe();
        return std::nullopt;
    });
}

bool BlockingConnection::expect_text(const std::string& text) {
    std::uint64_t at = 0;
    return receive(text.size(), [&](const std::uint8_t* data, std::size_t n) -> std::optional<std::string> {
        for (std::size_t k = 0; k < n; ++k, ++at)
            if (data[k] != static_cast<std::uint8_t>(text[at]))
                return "echo differs from the message at offset " + std::to_string(at);
        return std::nullopt;
    });
}

}  // namespace kecho::bench
