// SPDX-License-Identifier: GPL-2.0-only
// scripts/reliability.sh run as a user runs it, and its JSON report read: shared by the
// reliability suite (--quick) and the faults suite (--faults --quick).
#pragma once

#include <chrono>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "kecho/scratch_dir.h"

namespace kecho::test {

// One run of the script into a scratch --out directory of its own (removed afterwards).
class ReliabilityScript {
public:
    // Runs the script with `args` (--build and --out added) for at most `timeout`. Returns its
    // JSON report, or null (a failure added) when it wrote none; its exit status must agree with
    // the report (0 iff no goal was missed).
    nlohmann::json run(const std::vector<std::string>& args, std::chrono::seconds timeout);

private:
    kecho::ScratchDir out_{"kecho-reliability-test"};
};

// Every row of the report met its goal, and each of `required` is a case of `server`'s rows
// (prefixed with `prefix`): a check a user looks for was not silently left out.
void expect_every_goal_met(const nlohmann::json& report, const std::string& server,
                           const std::vector<std::string>& required, const std::string& prefix = "");

}  // namespace kecho::test
