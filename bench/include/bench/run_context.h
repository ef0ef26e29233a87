// SPDX-License-Identifier: GPL-2.0-only
// The options every measuring run shares to describe itself: where the client runs (--cpus), how
// each server was started (--server-info, from the script that started it) and the placement
// (--layout). They end up in the result's "run" record (kecho::RunInfo).
#pragma once

#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "kecho/run_info.h"

namespace kecho::bench {

struct RunContextOptions {
    std::string cpus;                      // CPU list the client is pinned to (empty: not pinned)
    std::vector<std::string> server_info;  // "mode=user engine=epoll threads=1 cpus=1 pid=123"
    std::string layout;                    // "shared", "split", or empty (not said)
};

void add_run_context_options(CLI::App& app, RunContextOptions& options);

// Pins the calling thread (every thread the bench starts inherits it) when --cpus was given, and
// starts the run record with the servers as described.
RunInfo begin_run(const RunContextOptions& options, int argc, char** argv);

// The pids --server-info gave for this mode (the processes whose CPU time counts as the server's).
std::vector<int> server_pids(const RunInfo& run, const std::string& mode);

}  // namespace kecho::bench
