// SPDX-License-Identifier: GPL-2.0-only
// The server registry (kecho/servers.def) for C++: each echo server's mode, engine, default port,
// program, role, start command and description, one entry per server.
#pragma once

#include <cstdint>
#include <string_view>

namespace kecho {

// Where a server's echo happens; a reference busy-polls (a measuring floor, measured alone).
enum class ServerRole { kernel, user, reference };

struct ServerEntry {
    std::string_view mode;         // "uring": the name bench, the scripts and the results use
    std::string_view engine;       // "uring": user-echo-server's --engine, or the kind (sockmap, kecho.ko)
    std::uint16_t port;            // the default port
    std::string_view program;      // echo-loader, kecho.ko or user-echo-server
    ServerRole role;               // kernel, user or reference
    std::string_view start;        // "./user-echo-server --engine uring"
    std::string_view description;  // one line: where and how it echoes
};

// Every server, in bench --mode all's order.
inline constexpr ServerEntry servers[] = {
#define KECHO_SERVER(mode, engine, port, program, role, start, description) \
    {#mode, engine, port, program, ServerRole::role, start, description},
#include "kecho/servers.def"
#undef KECHO_SERVER
};

// The server of that mode, nullptr when there is none.
constexpr const ServerEntry* find_server(std::string_view mode) {
    for (const auto& s : servers)
        if (s.mode == mode) return &s;
    return nullptr;
}

// The default port of a mode the registry has (a program's own mode: bpf, user, ...).
constexpr std::uint16_t default_port(std::string_view mode) {
    const ServerEntry* s = find_server(mode);
    return s ? s->port : 0;
}

// "kernel", "user", "reference".
constexpr std::string_view role_name(ServerRole role) {
    constexpr std::string_view names[] = {"kernel", "user", "reference"};  // ServerRole's order
    return names[static_cast<int>(role)];
}

}  // namespace kecho
