// SPDX-License-Identifier: GPL-2.0-only
// The four verbs of echo-loader. Each returns the process exit code; errors throw kecho::Error.
#pragma once

#include <cstdint>
#include <string>

#include "echo.h"

namespace kecho::loader {

struct AttachOptions {
    std::string address = "0.0.0.0";
    std::uint16_t port = 0;  // main() sets bpf's port in the server registry
    int backlog = 4096;
    std::string cgroup;                                    // empty: <cgroup v2 root>/kecho-bpf
    std::uint64_t max_pending = ECHO_DEFAULT_MAX_PENDING;  // bytes
    std::uint32_t max_connections = 65536;
    double drain_timeout = 10.0;
    int stats_interval = 0;
    bool no_meter = false;
    std::string insert = "sockops";
    std::string seq_read = "auto";  // auto | kfunc | probe-read
    int threads = 1;                // accept threads; main() sets the default (default_accept_threads())
    bool verbose = false;
};

struct StatsOptions {
    bool json = false;
    double watch = 0;  // seconds; 0: once
    int count = 0;     // with --watch: stop after this many readings (0: until Ctrl-C)
};

struct StatusOptions {
    bool json = false;
};

struct DetachOptions {
    double timeout = 15.0;
};

int run_attach(const AttachOptions& options, const std::string& run_dir);
int run_stats(const StatsOptions& options, const std::string& run_dir);
int run_status(const StatusOptions& options, const std::string& run_dir);
int run_detach(const DetachOptions& options, const std::string& run_dir);

// Exit code of `status` when no instance runs (as systemctl's "inactive").
inline constexpr int exit_not_running = 3;

}  // namespace kecho::loader
