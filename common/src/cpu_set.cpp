// SPDX-License-Identifier: GPL-2.0-only
#include "kecho/cpu_set.h"

#include <sched.h>

#include <algorithm>
#include <cerrno>
#include <fstream>

#include "kecho/error.h"

namespace kecho {
namespace {

constexpr int max_cpu = CPU_SETSIZE - 1;
const char* const list_hint = "expected CPU numbers and ranges like 0, 1-3 or 0,2";

// One CPU number: digits only, at most max_cpu.
int parse_cpu(const std::string& item, const std::string& list) {
    bool digits = !item.empty() && item.size() <= 5 &&
                  std::all_of(item.begin(), item.end(), [](char c) { return c >= '0' && c <= '9'; });
    if (!digits || std::stoi(item) > max_cpu) throw Error("invalid CPU list '" + list + "': " + list_hint);
    return std::stoi(item);
}

// The grammar alone, without looking at which CPUs exist.
std::vector<int> parse_list_syntax(const std::string& text) {
    if (text.empty() || text.front() == ',' || text.back() == ',' || text.find(",,") != std::string::npos)
        throw Error("invalid CPU list '" + text + "': " + list_hint);
    std::vector<int> cpus;
    for (std::size_t start = 0; start <= text.size();) {
        std::size_t comma = std::min(text.find(',', start), text.size());
        std::string item = text.substr(start, comma - start);
        std::size_t dash = item.find('-');
        int first = parse_cpu(item.substr(0, dash), text);
        int last = dash == std::string::npos ? first : parse_cpu(item.substr(dash + 1), text);
        if (last < first) throw Error("invalid CPU list '" + text + "': the range " + item + " ends below its start");
        for (int cpu = first; cpu <= last; ++cpu) cpus.push_back(cpu);
        start = comma + 1;
    }
    std::sort(cpus.begin(), cpus.end());
    cpus.erase(std::unique(cpus.begin(), cpus.end()), cpus.end());
    return cpus;
}

std::vector<int> online_cpus() {
    std::ifstream in("/sys/devices/system/cpu/online");
    std::string text;
    if (!(in >> text)) throw Error("cannot read /sys/devices/system/cpu/online to check the CPU list");
    return parse_list_syntax(text);
}

}  // namespace

std::vector<int> parse_cpu_list(const std::string& text) {
    std::vector<int> cpus = parse_list_syntax(text);
    std::vector<int> online = online_cpus();
    for (int cpu : cpus) {
        if (!std::binary_search(online.begin(), online.end(), cpu))
            throw Error("invalid CPU list '" + text + "': CPU " + std::to_string(cpu) +
                        " is not online (online: " + format_cpu_list(online) + ")");
    }
    return cpus;
}

std::string format_cpu_list(const std::vector<int>& cpus) {
    std::string out;
    for (std::size_t i = 0; i < cpus.size();) {
        std::size_t last = i;
        while (last + 1 < cpus.size() && cpus[last + 1] == cpus[last] + 1) ++last;
        out += (out.empty() ? "" : ",") + std::to_string(cpus[i]);
        if (last > i) out += "-" + std::to_string(cpus[last]);
        i = last + 1;
    }
    return out;
}

void pin_current_thread(const std::vector<int>& cpus) {
    cpu_set_t set;
    CPU_ZERO(&set);
    for (int cpu : cpus) CPU_SET(static_cast<unsigned>(cpu), &set);
    if (::sched_setaffinity(0, sizeof(set), &set) != 0)
        throw_errno("cannot pin a thread to CPUs " + format_cpu_list(cpus), errno);
}

namespace cli {

CLI::Validator cpu_list_validator() {
    return CLI::Validator(
        [](std::string& value) -> std::string {
            try {
                parse_cpu_list(value);
            } catch (const Error& e) {
                return e.what();
            }
            return {};
        },
        "LIST", "cpu list");
}

}  // namespace cli
}  // namespace kecho
