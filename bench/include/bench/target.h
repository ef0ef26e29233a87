// SPDX-License-Identifier: GPL-2.0-only
// The servers the bench can drive: mode names, default ports, how to start each one.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "kecho/net.h"

namespace kecho::bench {

enum class Mode { bpf, kmod, user, uring, floor, splice };  // the order of target.cpp's table

// Every mode in the order --mode all runs them.
const std::vector<Mode>& all_modes();
const char* mode_name(Mode mode);
std::optional<Mode> parse_mode(const std::string& name);
std::uint16_t default_port(Mode mode);
// The command that starts a server for this mode, for error messages.
const char* start_hint(Mode mode);

// One server to drive: a mode at an address.
struct Target {
    Mode mode = Mode::user;
    SocketAddress address;

    std::string describe() const;  // "user server at 127.0.0.1:12346"
};

// Connects once and closes. nullopt when the server answers; otherwise the reason, already phrased
// for the user: "no user server at 127.0.0.1:12346: connection refused (start it with ./user-echo-server)".
std::optional<std::string> probe(const Target& target, int timeout_ms = 2000);

}  // namespace kecho::bench
