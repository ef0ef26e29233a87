// CPU lists as the kernel writes them ("0-3,6"): parsing, validation, pinning the calling thread.
#pragma once

#include <string>
#include <vector>

#include <CLI/CLI.hpp>

namespace kecho {

// "0-2,5" -> {0, 1, 2, 5}, sorted, duplicates removed. Throws Error on a malformed list, a
// descending range or a CPU this machine does not have online.
std::vector<int> parse_cpu_list(const std::string& text);

// Restricts the calling thread (and the threads it starts afterwards) to these CPUs. Throws Error
// when the kernel refuses (e.g. none of them is allowed by the cgroup).
void pin_current_thread(const std::vector<int>& cpus);

// {0, 1, 2, 5} -> "0-2,5" (what the results record).
std::string format_cpu_list(const std::vector<int>& cpus);

namespace cli {
// CLI11 validator for --cpus: a CPU list parse_cpu_list accepts.
CLI::Validator cpu_list_validator();
}  // namespace cli

}  // namespace kecho
