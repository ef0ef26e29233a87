// SPDX-License-Identifier: GPL-2.0-only
#include "kecho/run_info.h"

#include <sched.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <cctype>
#include <cstdlib>
#include <ctime>
#include <fstream>
#include <sstream>

#include "kecho/error.h"
#include "kecho/version.h"

namespace kecho {
namespace {

std::string cpu_model() {
    std::ifstream in("/proc/cpuinfo");
    std::string line;
    while (std::getline(in, line)) {
        if (line.rfind("model name", 0) != 0) continue;
        auto colon = line.find(':');
        if (colon == std::string::npos) break;
        auto start = line.find_first_not_of(' ', colon + 1);
        return start == std::string::npos ? "unknown" : line.substr(start);
    }
    return "unknown";
}

std::uint64_t memory_total() {
    std::ifstream in("/proc/meminfo");
    std::string key;
    std::uint64_t kib = 0;
    std::string unit;
    while (in >> key >> kib >> unit)
        if (key == "MemTotal:") return kib * 1024;
    return 0;
}

std::string shell_quote(const std::string& word) {
    if (word.empty()) return "''";
    bool plain = true;
    for (unsigned char c : word)
        if (!std::isalnum(c) && std::string("-_./=,:@+%").find(static_cast<char>(c)) == std::string::npos)
            plain = false;
    if (plain) return word;
    std::string out = "'";
    for (char c : word) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
    return out + "'";
}

nlohmann::json load_json(const LoadAverage& load) {
    return {load[0], load[1], load[2]};
}

}  // namespace

MachineInfo machine_info() {
    MachineInfo m;
    utsname u{};
    m.kernel = ::uname(&u) == 0 ? u.release : "unknown";
    m.cpu_model = cpu_model();
    m.online_cpus = static_cast<int>(::sysconf(_SC_NPROCESSORS_ONLN));
    cpu_set_t set;
    CPU_ZERO(&set);
    m.available_cpus = ::sched_getaffinity(0, sizeof(set), &set) == 0 ? CPU_COUNT(&set) : m.online_cpus;
    m.memory_bytes = memory_total();
    return m;
}

LoadAverage load_average() {
    LoadAverage load{};
    std::ifstream in("/proc/loadavg");
    in >> load[0] >> load[1] >> load[2];
    return in ? load : LoadAverage{};
}

std::string utc_now() {
    std::time_t now = std::time(nullptr);
    std::tm tm{};
    ::gmtime_r(&now, &tm);
    char text[32];
    std::strftime(text, sizeof(text), "%Y-%m-%dT%H:%M:%SZ", &tm);
    return text;
}

std::string command_line(int argc, char** argv) {
    std::string out;
    for (int i = 0; i < argc; ++i) out += (i ? " " : "") + shell_quote(argv[i]);
    return out;
}

RunInfo RunInfo::begin(int argc, char** argv) {
    RunInfo r;
    r.machine = machine_info();
    r.load_before = load_average();
    r.started_utc = utc_now();
    r.command = command_line(argc, argv);
    return r;
}

void RunInfo::finish() {
    load_after = load_average();
    finished_utc = utc_now();
}

bool RunInfo::loaded_before() const {
    return load_before[0] > machine.online_cpus / 2.0;
}

nlohmann::json RunInfo::to_json() const {
    return {{"version", project_version()},
            {"git_commit", git_commit()},
            {"kernel", machine.kernel},
            {"cpu_model", machine.cpu_model},
            {"online_cpus", machine.online_cpus},
            {"available_cpus", machine.available_cpus},
            {"memory_bytes", machine.memory_bytes},
            {"load_before", load_json(load_before)},
            {"load_after", load_json(load_after)},
            {"loaded_before", loaded_before()},
            {"started_utc", started_utc},
            {"finished_utc", finished_utc},
            {"command", command},
            {"servers", servers},
            {"client", client}};
}

nlohmann::json parse_key_values(const std::string& text) {
    nlohmann::json out = nlohmann::json::object();
    std::istringstream in(text);
    std::string item;
    while (in >> item) {
        auto eq = item.find('=');
        if (eq == std::string::npos || eq == 0) throw Error("expected KEY=VALUE, got '" + item + "'");
        std::string key = item.substr(0, eq), value = item.substr(eq + 1);
        char* end = nullptr;
        long long number = std::strtoll(value.c_str(), &end, 10);
        if (!value.empty() && end && *end == '\0')
            out[key] = number;
        else
            out[key] = value;
    }
    return out;
}

}  // namespace kecho
