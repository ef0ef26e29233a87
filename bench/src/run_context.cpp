// SPDX-License-Identifier: GPL-2.0-only
#include "bench/run_context.h"

#include "kecho/cpu_set.h"
#include "kecho/error.h"

namespace kecho::bench {

void add_run_context_options(CLI::App& app, RunContextOptions& options) {
    app.add_option("--cpus", options.cpus, "pin the client to these CPUs (e.g. 0 or 0-1,3); recorded in the results")
        ->check(cli::cpu_list_validator());
    app.add_option("--server-info", options.server_info,
                   "how a server was started, recorded in the results: 'mode=user engine=epoll threads=1 cpus=1 "
                   "pid=123' (repeatable; pid= also counts that process's CPU time as the server's)")
        ->check([](const std::string& value) -> std::string {
            try {
                if (!parse_key_values(value).contains("mode"))
                    return "--server-info needs mode=NAME, got '" + value + "'";
            } catch (const Error& e) {
                return e.what();
            }
            return {};
        });
    app.add_option("--layout", options.layout, "placement of client and servers, recorded in the results")
        ->check(CLI::IsMember({"shared", "split"}));
}

RunInfo begin_run(const RunContextOptions& options, int argc, char** argv) {
    if (!options.cpus.empty()) pin_current_thread(parse_cpu_list(options.cpus));
    RunInfo run = RunInfo::begin(argc, argv);
    for (const auto& info : options.server_info) run.servers.push_back(parse_key_values(info));
    run.client["cpus"] = options.cpus.empty() ? "any" : format_cpu_list(parse_cpu_list(options.cpus));
    if (!options.layout.empty()) run.client["layout"] = options.layout;
    return run;
}

std::vector<int> server_pids(const RunInfo& run, const std::string& mode) {
    std::vector<int> pids;
    for (const auto& s : run.servers)
        if (s.value("mode", "") == mode && s.contains("pid") && s["pid"].is_number_integer())
            pids.push_back(s["pid"].get<int>());
    return pids;
}

}  // namespace kecho::bench
