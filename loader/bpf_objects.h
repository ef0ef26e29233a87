// SPDX-License-Identifier: GPL-2.0-only
// The kernel's BPF objects seen through their ids: what is loaded, is an id still there, and the
// echo's counters read by id (how `stats` reads a running instance).
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "echo.h"
#include "echo_program.h"

namespace kecho::loader {

struct BpfObjectInfo {
    std::string kind;  // "prog" or "map"
    std::uint32_t id = 0;
    std::string name;
};

// Every loaded program and map whose name starts with `prefix` (bpf_{prog,map}_get_next_id).
std::vector<BpfObjectInfo> list_bpf_objects(const std::string& prefix);

bool prog_exists(std::uint32_t id);
bool map_exists(std::uint32_t id);
bool link_exists(std::uint32_t id);
bool object_exists(ObjectKind kind, std::uint32_t id);

// One reading of every counter of an instance.
struct StatsSnapshot {
    std::array<std::uint64_t, ECHO_COUNTER_MAX> bpf{};  // summed over CPUs
    echo_loader_stats loader{};
    std::uint64_t in_map = 0;  // sockets in the socket hash right now
    // Kernel run-time statistics per program (only counted while kernel.bpf_stats_enabled=1).
    struct ProgramRuns {
        std::uint64_t runs = 0;
        std::uint64_t run_time_ns = 0;
    };
    ProgramRuns sockops, verdict, meter;
};

// Reads the counters through the map ids (works from any process with CAP_BPF). Throws Error.
StatsSnapshot read_stats(const ObjectIds& ids);

}  // namespace kecho::loader
