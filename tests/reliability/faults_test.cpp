// SPDX-License-Identifier: GPL-2.0-only
// Network faults, per server, as a user would check them: scripts/reliability.sh --faults --quick
// drops 5% of the packets in each direction (nftables, numgen random, in a network namespace of its
// own); verify, 1,000 half-closing clients and churn must pass with 0 bytes lost, no connection left
// on the port, every bpf drain completed, every reset the server's sockets sent one the server
// itself made (echo-loader trace), and the drops must really have happened.
#include <gtest/gtest.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "process.h"
#include "reliability_script.h"

namespace kecho::test {
namespace {

// Every server this build can run: the user-space engines user-echo-server's --help offers.
std::vector<std::string> fault_servers() {
    std::vector<std::string> servers = {"bpf", "epoll", "uring"};
    RunResult help = run({binary("user-echo-server"), "--help"}, std::chrono::seconds(10));
    if (help.out.find("splice") != std::string::npos) servers.push_back("splice");
    return servers;
}

class Faults : public ::testing::TestWithParam<std::string> {};

TEST_P(Faults, FivePercentLossEachWayLosesNothing) {
    if (::geteuid() != 0) KECHO_SKIP_UNLESS_REQUIRED("network namespaces and nftables rules need root");
    if (::access("/usr/sbin/nft", X_OK) != 0)
        KECHO_SKIP_UNLESS_REQUIRED("nft is not installed (apt-get install nftables)");
    const std::string server = GetParam();
    ReliabilityScript script;
    nlohmann::json report = script.run({"--faults", "--quick", "--servers", server}, std::chrono::seconds(360));
    std::vector<std::string> required = {"verify --quick",  "half-close", "churn", "connections left on the port",
                                         "packets dropped", "resets"};
    if (server == "bpf") required.push_back("drains");
    expect_every_goal_met(report, server, required, "faults (5% loss each way): ");
}

INSTANTIATE_TEST_SUITE_P(Servers, Faults, ::testing::ValuesIn(fault_servers()),
                         [](const ::testing::TestParamInfo<std::string>& info) { return info.param; });

}  // namespace
}  // namespace kecho::test
