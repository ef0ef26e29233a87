// SPDX-License-Identifier: GPL-2.0-only
// Unit tests for the run record (kecho/run_info.h): the fields a
// reader of a result relies on must be present and true on this machine.
#include <gtest/gtest.h>
#include <unistd.h>

#include <array>
#include <cstdio>
#include <memory>
#include <string>

#include "kecho/error.h"
#include "kecho/run_info.h"
#include "kecho/version.h"

using namespace kecho;

namespace {

// The first line a shell command prints, without the newline.
std::string first_line_of(const std::string& command) {
    std::unique_ptr<FILE, int (*)(FILE*)> pipe(::popen(command.c_str(), "r"), ::pclose);
    if (!pipe) return {};
    std::array<char, 512> buffer{};
    if (!std::fgets(buffer.data(), buffer.size(), pipe.get())) return {};
    std::string line = buffer.data();
    while (!line.empty() && (line.back() == '\n' || line.back() == '\r')) line.pop_back();
    return line;
}

}  // namespace

TEST(RunInfo, MachineFieldsAreWhatTheSystemSays) {
    char arg0[] = "bench", arg1[] = "--mode", arg2[] = "user uring";
    char* argv[] = {arg0, arg1, arg2};
    RunInfo run = RunInfo::begin(3, argv);
    run.finish();
    nlohmann::json doc = run.to_json();
    EXPECT_EQ(doc["kernel"], first_line_of("uname -r"));
    EXPECT_EQ(std::to_string(doc["available_cpus"].get<int>()), first_line_of("nproc"));
    EXPECT_EQ(std::to_string(doc["online_cpus"].get<int>()), first_line_of("getconf _NPROCESSORS_ONLN"));
    EXPECT_EQ(doc["version"], project_version());
    EXPECT_EQ(doc["git_commit"], git_commit());
    EXPECT_EQ(doc["command"], "bench --mode 'user uring'");
    std::string model = first_line_of("grep -m1 '^model name' /proc/cpuinfo | sed 's/^[^:]*: *//'");
    EXPECT_EQ(doc["cpu_model"], model.empty() ? "unknown" : model);
    std::string mem_kib = first_line_of("awk '/^MemTotal:/ {print $2}' /proc/meminfo");
    EXPECT_EQ(doc["memory_bytes"].get<std::uint64_t>(), std::stoull(mem_kib) * 1024);
    ASSERT_EQ(doc["load_before"].size(), 3u);
    ASSERT_EQ(doc["load_after"].size(), 3u);
    EXPECT_GE(doc["load_before"][0].get<double>(), 0.0);
    EXPECT_EQ(doc["started_utc"].get<std::string>().size(), 20u);  // 2026-11-27T15:40:02Z
    EXPECT_EQ(doc["started_utc"].get<std::string>().back(), 'Z');
    EXPECT_LE(doc["started_utc"].get<std::string>(), doc["finished_utc"].get<std::string>());
}

TEST(RunInfo, NoisyWhenTheLoadWasAboveHalfTheCpus) {
    RunInfo run;
    run.machine.online_cpus = 2;
    run.load_before = {0.9, 0, 0};
    EXPECT_FALSE(run.loaded_before());
    run.load_before = {1.1, 0, 0};
    EXPECT_TRUE(run.loaded_before());
}

TEST(RunInfo, KeyValuesKeepNumbersAndCpuLists) {
    auto doc = parse_key_values("mode=user engine=uring threads=4 cpus=0,1");
    EXPECT_EQ(doc["mode"], "user");
    EXPECT_EQ(doc["engine"], "uring");
    EXPECT_EQ(doc["threads"], 4);
    EXPECT_EQ(doc["cpus"], "0,1");
    EXPECT_THROW(parse_key_values("mode"), Error);
    EXPECT_THROW(parse_key_values("=x"), Error);
}
