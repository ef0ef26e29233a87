// SPDX-License-Identifier: GPL-2.0-only
// Network faults, per server, as a user would check them: scripts/reliability.sh --faults --quick
// drops 5% of the packets in each direction (nftables, numgen random, in a network namespace of its
// own); verify, 1,000 half-closing clients and churn must pass with 0 bytes lost, no connection left
// on the port, every bpf drain completed, and the drops must really have happened.
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

// Every server this build can run: the user-space engines user-echo-server's --help offers.
std::vector<std::string> fault_servers() {
    std::vector<std::string> servers = {"bpf", "epoll", "uring"};
    RunResult help = run({binary("user-echo-server"), "--help"}, std::chrono::seconds(10));
    if (help.out.find("splice") != std::string::npos) servers.push_back("splice");
    return servers;
}

class Faults : public ::testing::TestWithParam<std::string> {
protected:
    void SetUp() override {
        out_ = fs::temp_directory_path() / ("kecho-faults-test-" + std::to_string(::getpid()));
        fs::create_directories(out_);
    }
    void TearDown() override { fs::remove_all(out_); }
    fs::path out_;
};

TEST_P(Faults, FivePercentLossEachWayLosesNothing) {
    if (::geteuid() != 0) KECHO_SKIP_UNLESS_REQUIRED("network namespaces and nftables rules need root");
    if (::access("/usr/sbin/nft", X_OK) != 0)
        KECHO_SKIP_UNLESS_REQUIRED("nft is not installed (apt-get install nftables)");
    const std::string server = GetParam();
    const std::string build = fs::path(binary("bench")).parent_path().string();
    const std::string script = std::string(KECHO_SOURCE_DIR) + "/scripts/reliability.sh";
    RunResult r = run({script, "--faults", "--quick", "--servers", server, "--build", build, "--out", out_.string()},
                      std::chrono::seconds(360));
    ASSERT_FALSE(r.timed_out) << "reliability.sh --faults did not finish in 360 s\n" << r.err;
    std::ifstream in(out_ / "reliability.json");
    ASSERT_TRUE(in) << "no reliability.json written; exit " << r.exit_code << "\n" << r.err;
    nlohmann::json doc = nlohmann::json::parse(in);
    EXPECT_EQ(r.exit_code == 0, doc["missed"] == 0) << r.err;

    std::set<std::string> cases;
    for (const auto& row : doc["rows"]) {
        EXPECT_TRUE(row["met"].get<bool>()) << row["server"] << " " << row["case"] << ": " << row["figure"]
                                            << " (goal: " << row["goal"] << ") " << row["detail"];
        if (row["server"] == server) cases.insert(row["case"].get<std::string>());
        std::cout << row["server"].get<std::string>() << " " << row["case"].get<std::string>() << ": "
                  << row["figure"].get<std::string>() << "\n";
    }
    const std::string label = "faults (5% loss each way): ";
    std::vector<std::string> required = {"verify --quick", "half-close", "churn", "connections left on the port",
                                         "packets dropped"};
    if (server == "bpf") required.push_back("drains");
    for (const auto& name : required)
        EXPECT_TRUE(cases.count(label + name)) << server << ": no row for '" << label << name << "'";
}

INSTANTIATE_TEST_SUITE_P(Servers, Faults, ::testing::ValuesIn(fault_servers()),
                         [](const ::testing::TestParamInfo<std::string>& info) { return info.param; });

}  // namespace
}  // namespace kecho::test
