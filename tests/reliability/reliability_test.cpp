// SPDX-License-Identifier: GPL-2.0-only
// Reliability at small scale, per server, as a user runs it: scripts/reliability.sh --quick, then
// every goal in its JSON must be met, and the checks a user looks for must be there (0 failures,
// 0 leaked descriptors, 0 sockhash entries left, memory within its bound, faults survived).
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <vector>

#include "process.h"

namespace kecho::test {
namespace {

namespace fs = std::filesystem;

class Reliability : public ::testing::Test {
protected:
    void SetUp() override {
        out_ = fs::temp_directory_path() / ("kecho-reliability-test-" + std::to_string(::getpid()));
        fs::create_directories(out_);
    }
    void TearDown() override { fs::remove_all(out_); }

    // Runs the quick script for one server; returns its JSON report (null when none was written).
    nlohmann::json run_quick(const std::string& server) {
        const std::string build = fs::path(binary("bench")).parent_path().string();
        const std::string script = std::string(KECHO_SOURCE_DIR) + "/scripts/reliability.sh";
        RunResult r = run({script, "--quick", "--servers", server, "--build", build, "--out", out_.string(), "--port",
                           std::to_string(free_port())},
                          std::chrono::seconds(180));
        EXPECT_FALSE(r.timed_out) << "reliability.sh --quick did not finish in 180 s\n" << r.err;
        std::ifstream in(out_ / "reliability.json");
        if (!in) {
            ADD_FAILURE() << "no reliability.json written; exit " << r.exit_code << "\n" << r.err;
            return nullptr;
        }
        nlohmann::json doc = nlohmann::json::parse(in);
        // Exit status and JSON agree: 0 iff nothing was missed.
        EXPECT_EQ(r.exit_code == 0, doc["missed"] == 0) << r.err;
        return doc;
    }

    // Every row met; the named cases must be among the rows of this server.
    static void expect_all_met(const nlohmann::json& doc, const std::string& server,
                               const std::vector<std::string>& required) {
        ASSERT_FALSE(doc.is_null());
        std::set<std::string> cases;
        for (const auto& row : doc["rows"]) {
            EXPECT_TRUE(row["met"].get<bool>()) << row["server"] << " " << row["case"] << ": " << row["figure"]
                                                << " (goal: " << row["goal"] << ") " << row["detail"];
            if (row["server"] == server) cases.insert(row["case"].get<std::string>());
        }
        for (const auto& name : required) EXPECT_TRUE(cases.count(name)) << server << ": no row for '" << name << "'";
    }

    fs::path out_;
};

const std::vector<std::string> kUserCases = {"held",
                                             "churn",
                                             "churn: server fds leaked",
                                             "churn: Slab delta",
                                             "churn: TCP sockets in use delta",
                                             "churn: connections left on the port",
                                             "half-close",
                                             "resets",
                                             "resets: server fds leaked",
                                             "slow+non-reading: memory",
                                             "slow+non-reading: correctness",
                                             "bad input: zero-length-writes",
                                             "bad input: all-byte-values",
                                             "bad input: size-1MiB",
                                             "fault: restart while clients retry"};

TEST_F(Reliability, UserEpollMeetsEveryGoal) {
    expect_all_met(run_quick("epoll"), "epoll", kUserCases);
}

TEST_F(Reliability, UserUringMeetsEveryGoal) {
    expect_all_met(run_quick("uring"), "uring", kUserCases);
}

TEST_F(Reliability, BpfMeetsEveryGoal) {
    if (::geteuid() != 0) KECHO_SKIP_UNLESS_REQUIRED("the bpf echo needs root (CAP_BPF, CAP_NET_ADMIN)");
    std::vector<std::string> cases = kUserCases;
    cases.insert(cases.end(), {"churn: sockhash entries left", "resets: sockhash entries left",
                               "fault: SIGKILL echo-loader under load", "fault: new attach after SIGKILL serves"});
    expect_all_met(run_quick("bpf"), "bpf", cases);
}

TEST_F(Reliability, GarbageArgumentsGiveExitTwoAndOneLine) {
    // No server: only the garbage-argument rows, which must cover every command-line tool.
    nlohmann::json doc = run_quick("none");
    ASSERT_FALSE(doc.is_null());
    std::set<std::string> tools;
    for (const auto& row : doc["rows"]) {
        if (row["server"] != "cli") continue;
        const std::string c = row["case"];
        for (const char* tool : {"bench", "user-echo-server", "echo-loader", "reliability.sh", "run-vm.sh"})
            if (c.find(std::string(tool) + " ") != std::string::npos) tools.insert(tool);
        EXPECT_TRUE(row["met"].get<bool>()) << c << ": " << row["figure"];
    }
    EXPECT_EQ(tools.size(), 5u) << "garbage arguments not tried on every tool";
}

}  // namespace
}  // namespace kecho::test
