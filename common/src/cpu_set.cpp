#include "kecho/cpu_set.h"

#include <pthread.h>
#include <sched.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <sstream>

#include "kecho/error.h"

namespace kecho {
namespace {

int parse_cpu(const std::string& text, const std::string& list) {
    if (text.empty() || text.size() > 6 ||
        !std::all_of(text.begin(), text.end(), [](unsigned char c) { return std::isdigit(c); }))
        throw Error("invalid CPU list '" + list + "': expected numbers and ranges like 0-3,6");
    int cpu = std::stoi(text);
    const long online = ::sysconf(_SC_NPROCESSORS_CONF);
    if (cpu >= online)
        throw Error("CPU " + text + " in '" + list + "' does not exist (this machine has CPUs 0-" +
                    std::to_string(online - 1) + ")");
    return cpu;
}

}  // namespace

std::vector<int> parse_cpu_list(const std::string& text) {
    if (text.empty()) throw Error("empty CPU list: expected numbers and ranges like 0-3,6");
    std::vector<int> cpus;
    std::istringstream in(text);
    std::string item;
    while (std::getline(in, item, ',')) {
        auto dash = item.find('-');
        if (dash == std::string::npos) {
            cpus.push_back(parse_cpu(item, text));
            continue;
        }
        int first = parse_cpu(item.substr(0, dash), text), last = parse_cpu(item.substr(dash + 1), text);
        if (last < first) throw Error("invalid CPU range '" + item + "' in '" + text + "': the end is below the start");
        for (int c = first; c <= last; ++c) cpus.push_back(c);
    }
    if (text.back() == ',') throw Error("invalid CPU list '" + text + "': it ends with a comma");
    std::sort(cpus.begin(), cpus.end());
    cpus.erase(std::unique(cpus.begin(), cpus.end()), cpus.end());
    return cpus;
}

void pin_current_thread(const std::vector<int>& cpus) {
    cpu_set_t set;
    CPU_ZERO(&set);
    for (int c : cpus) CPU_SET(static_cast<unsigned>(c), &set);
    int rc = ::pthread_setaffinity_np(::pthread_self(), sizeof(set), &set);
    if (rc != 0) throw_errno("cannot pin to CPUs " + format_cpu_list(cpus), rc);
}

std::string format_cpu_list(const std::vector<int>& cpus) {
    std::string out;
    for (std::size_t i = 0; i < cpus.size();) {
        std::size_t j = i;
        while (j + 1 < cpus.size() && cpus[j + 1] == cpus[j] + 1) ++j;
        out += (out.empty() ? "" : ",") + std::to_string(cpus[i]);
        if (j > i) out += "-" + std::to_string(cpus[j]);
        i = j + 1;
    }
    return out;
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
        "CPU list", "cpu_list");
}

}  // namespace cli
}  // namespace kecho
