// SPDX-License-Identifier: GPL-2.0-only
// One connection with blocking calls: send the next bytes of its pattern, receive and check what
// comes back. Every wait is bounded (SO_RCVTIMEO/SO_SNDTIMEO); when one expires, `keep_waiting`
// (if set) says whether to go on, else the call fails. The simple client next to the Driver:
// pingpong's thread-per-connection path, burst, churn, resets and the hostile-input cases.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "bench/payload.h"
#include "kecho/net.h"

namespace kecho::bench {

class BlockingConnection {
public:
    // Connects (within `wait`); throws Error naming the address.
    BlockingConnection(const SocketAddress& address, std::uint32_t id, PatternKind kind = PatternKind::mixed,
                       std::chrono::milliseconds wait = std::chrono::seconds(5));
    // Takes a connected socket.
    BlockingConnection(UniqueFd fd, std::uint32_t id, std::chrono::milliseconds wait);

    // Asked when a wait expires: true waits again, false ends the call (it returns false).
    void keep_waiting(std::function<bool()> ask) { keep_waiting_ = std::move(ask); }

    // Sends the next `length` bytes of the pattern (length 0: one empty send()). Throws Error.
    bool send(std::size_t length);
    // Receives the next `length` bytes and checks them against the pattern. Throws Error on a
    // mismatch, end-of-file, a failed recv or an expired wait.
    bool expect(std::uint64_t length);
    // The same with literal bytes (burst's message) instead of the pattern.
    bool send_text(const std::string& text);
    bool expect_text(const std::string& text);

    int fd() const { return fd_.get(); }
    UniqueFd release() { return std::move(fd_); }

private:
    bool send_all(const std::uint8_t* data, std::size_t length);
    bool receive(std::uint64_t length,
                 const std::function<std::optional<std::string>(const std::uint8_t*, std::size_t)>& check);
    bool waited_enough(const char* what, std::uint64_t got, std::uint64_t want);

    UniqueFd fd_;
    Pattern pattern_;
    std::chrono::milliseconds wait_;
    std::uint64_t sent_ = 0, received_ = 0;  // pattern offsets
    std::vector<std::uint8_t> buffer_;
    std::function<bool()> keep_waiting_;
};

}  // namespace kecho::bench
