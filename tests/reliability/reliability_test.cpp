// SPDX-License-Identifier: GPL-2.0-only
// Reliability at small scale, per server, as a user runs it: scripts/reliability.sh --quick, then
// every goal in its JSON must be met, and the checks a user looks for must be there (0 failures,
// 0 leaked descriptors, 0 sockhash entries left, memory within its bound, faults survived).
#include <gtest/gtest.h>
#include <unistd.h>

#include <set>
#include <string>
#include <vector>

#include "process.h"
#include "reliability_script.h"

namespace kecho::test {
namespace {

// The quick run for one server, on a free port.
nlohmann::json run_quick(const std::string& server) {
    ReliabilityScript script;
    return script.run({"--quick", "--servers", server, "--port", std::to_string(free_port())},
                      std::chrono::seconds(180));
}

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

TEST(Reliability, UserEpollMeetsEveryGoal) {
    expect_every_goal_met(run_quick("epoll"), "epoll", kUserCases);
}

TEST(Reliability, UserUringMeetsEveryGoal) {
    expect_every_goal_met(run_quick("uring"), "uring", kUserCases);
}

TEST(Reliability, BpfMeetsEveryGoal) {
    if (::geteuid() != 0) KECHO_SKIP_UNLESS_REQUIRED("the bpf echo needs root (CAP_BPF, CAP_NET_ADMIN)");
    std::vector<std::string> cases = kUserCases;
    cases.insert(cases.end(), {"churn: sockhash entries left", "resets: sockhash entries left",
                               "fault: SIGKILL echo-loader under load", "fault: new attach after SIGKILL serves"});
    expect_every_goal_met(run_quick("bpf"), "bpf", cases);
}

TEST(Reliability, GarbageArgumentsGiveExitTwoAndOneLine) {
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
