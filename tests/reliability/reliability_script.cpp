// SPDX-License-Identifier: GPL-2.0-only
#include "reliability_script.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <iostream>
#include <set>

#include "process.h"

namespace kecho::test {

namespace fs = std::filesystem;

nlohmann::json ReliabilityScript::run(const std::vector<std::string>& args, std::chrono::seconds timeout) {
    std::vector<std::string> argv = {std::string(KECHO_SOURCE_DIR) + "/scripts/reliability.sh"};
    argv.insert(argv.end(), args.begin(), args.end());
    argv.insert(argv.end(), {"--build", fs::path(binary("bench")).parent_path().string(), "--out", out_.path()});
    RunResult r = test::run(argv, timeout);
    EXPECT_FALSE(r.timed_out) << "reliability.sh did not finish in " << timeout.count() << " s\n" << r.err;
    std::ifstream in(out_.file("reliability.json"));
    if (!in) {
        ADD_FAILURE() << "no reliability.json written; exit " << r.exit_code << "\n" << r.err;
        return nullptr;
    }
    nlohmann::json report = nlohmann::json::parse(in);
    EXPECT_EQ(r.exit_code == 0, report["missed"] == 0) << r.err;
    return report;
}

void expect_every_goal_met(const nlohmann::json& report, const std::string& server,
                           const std::vector<std::string>& required, const std::string& prefix) {
    ASSERT_FALSE(report.is_null());
    std::set<std::string> cases;
    for (const auto& row : report["rows"]) {
        EXPECT_TRUE(row["met"].get<bool>()) << row["server"] << " " << row["case"] << ": " << row["figure"]
                                            << " (goal: " << row["goal"] << ") " << row["detail"];
        if (row["server"] == server) cases.insert(row["case"].get<std::string>());
        std::cout << row["server"].get<std::string>() << " " << row["case"].get<std::string>() << ": "
                  << row["figure"].get<std::string>() << "\n";
    }
    for (const auto& name : required)
        EXPECT_TRUE(cases.count(prefix + name)) << server << ": no row for '" << prefix << name << "'";
}

}  // namespace kecho::test
