// SPDX-License-Identifier: GPL-2.0-only
// The servers a bench run drives: the registry's (--mode, kecho/servers.def) at their default port
// or the one given, and ad-hoc targets (--target NAME=HOST:PORT): any TCP echo server, its bytes
// checked and its results reported the same way as a registry server's.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "kecho/net.h"

namespace kecho::bench {

// One server to drive: a name (a registry mode, or an ad-hoc target's) at an address, and what the
// client does for it when that is its own.
struct Target {
    std::string name = "user";
    SocketAddress address;
    std::string start;  // the command that starts it (the registry's); empty for an ad-hoc target
    // The server it is a configuration of: a registry mode ("uring" for a target "uring-2t", from
    // --server-info of=uring), or empty: its own name. Its role makes it a user-space server or not.
    std::string server;
    unsigned client_workers = 0;  // the client's epoll workers for this target (0: the run's own)

    std::string describe() const;     // "user server at 127.0.0.1:23001"
    std::string label() const;        // its row's name: "uring-2t", or "uring-2t/w4" with its own workers
    std::string server_name() const;  // server, or the name when it is no configuration of another
};

// "NAME=HOST:PORT" ("fast=127.0.0.1:9000", "peer=[::1]:9000"); throws Error saying what is wrong.
// NAME: letters, digits and . _ + - (it names result rows, files and CSV cells).
Target parse_target(const std::string& spec);

// What the command line asked for: registry modes (or "all"), their ports, ad-hoc targets.
struct TargetOptions {
    std::vector<std::string> modes;                   // empty: user, unless ad-hoc targets are given
    std::map<std::string, std::uint16_t> mode_ports;  // --mode-port user=23001
    std::vector<Target> ad_hoc;                       // --target, in the order given
    std::string host = "127.0.0.1";
    std::uint16_t port = 0;  // one mode's port (0: the registry's)

    std::vector<std::string> selected_modes() const;  // "all" expanded, duplicates dropped
    std::vector<Target> targets() const;              // the modes, then the ad-hoc targets
    std::vector<std::string> names() const;           // every target's name
};

// Connects once and closes. nullopt when the server answers; otherwise the reason, phrased for the
// user: "no user server at 127.0.0.1:23001: connection refused (start it with ./user-echo-server)".
std::optional<std::string> probe(const Target& target);

// The servers of a run: those that answered, and the others with the reason.
struct Targets {
    std::vector<Target> reachable;
    std::vector<std::pair<Target, std::string>> skipped;
    // Failed validation before this run (--best-of: in the sweep it reads): listed as failed, not driven.
    std::vector<std::pair<Target, std::string>> failed;
    bool many() const { return reachable.size() + skipped.size() + failed.size() > 1; }  // several servers asked for
};
Targets probe_all(const std::vector<Target>& targets);

// The registry's mode names, in its order; and "kmod PORT, user PORT, ...": each mode's default
// port, lowest first.
std::vector<std::string> mode_names();
std::string default_ports();

// `bench servers`: the registry as a table (mode, engine, port, program, role, start), one line per
// server after a heading line unless `heading` is false (what scripts read).
std::string servers_table(bool heading);

}  // namespace kecho::bench
