// SPDX-License-Identifier: GPL-2.0-only
// CPU lists as the kernel writes them ("0-3,6"): parsing, checking against the online CPUs, and
// pinning the calling thread.
#pragma once

#include <CLI/CLI.hpp>

#include <string>
#include <vector>

namespace kecho {

// "0-2,5" -> {0, 1, 2, 5}: sorted, no duplicates. Throws kecho::Error on a malformed list, a
// descending range, or a CPU that is not online (/sys/devices/system/cpu/online).
std::vector<int> parse_cpu_list(const std::string& text);

// {0, 1, 2, 5} -> "0-2,5".
std::string format_cpu_list(const std::vector<int>& cpus);

// Restricts the calling thread to these CPUs (sched_setaffinity); threads it starts afterwards
// inherit it. Throws kecho::Error when the kernel refuses (e.g. the cgroup allows none of them).
void pin_current_thread(const std::vector<int>& cpus);

namespace cli {
// CLI11 validator for a --cpus option: a list parse_cpu_list accepts.
CLI::Validator cpu_list_validator();
}  // namespace cli

}  // namespace kecho
