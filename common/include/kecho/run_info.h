// SPDX-License-Identifier: GPL-2.0-only
// What a result must say about where and how it was measured: the build, the machine, the load
// around the run, the exact command. Every bench result (JSON, CSV, summary) carries one.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace kecho {

struct MachineInfo {
    std::string kernel;              // uname -r
    std::string cpu_model;           // /proc/cpuinfo "model name" (or "unknown")
    int online_cpus = 0;             // sysconf(_SC_NPROCESSORS_ONLN)
    int available_cpus = 0;          // CPUs this process may run on (what `nproc` prints)
    std::uint64_t memory_bytes = 0;  // MemTotal
};

using LoadAverage = std::array<double, 3>;  // 1, 5, 15 minutes

MachineInfo machine_info();
LoadAverage load_average();                       // /proc/loadavg; zeros when unreadable
std::string utc_now();                            // "2026-11-27T15:40:02Z"
std::string command_line(int argc, char** argv);  // argv joined, shell-quoted where needed

// One run's record: filled at start (machine, load before, start time, command), finished at the
// end (load after, end time). servers/client are free-form objects the caller fills.
struct RunInfo {
    MachineInfo machine;
    LoadAverage load_before{};
    LoadAverage load_after{};
    std::string started_utc, finished_utc;
    std::string command;
    nlohmann::json servers = nlohmann::json::array();  // [{"mode":..,"engine":..,"threads":..,"cpus":..}]
    nlohmann::json client = nlohmann::json::object();  // {"workers":..,"cpus":..,"engine":..}

    static RunInfo begin(int argc, char** argv);
    void finish();
    // A run is noisy when the load before it was above half the CPUs.
    bool loaded_before() const;
    nlohmann::json to_json() const;
};

// "mode=user engine=epoll threads=1 cpus=0,1" -> {"mode":"user","engine":"epoll","threads":1,"cpus":"0,1"}
// (items separated by white space, so CPU lists keep their commas).
// Numbers stay numbers; everything else is a string. Throws Error on an item without '='.
nlohmann::json parse_key_values(const std::string& text);

}  // namespace kecho
