// SPDX-License-Identifier: GPL-2.0-only
// bench's subcommands besides the comparisons (comparison.h): verify and the stress workloads, and
// the tools that read results and drive no server. main.cpp binds each one's options and calls it;
// each returns the exit code.
#pragma once

#include <string>
#include <vector>

#include "bench/comparison.h"
#include "bench/results.h"
#include "bench/targets.h"
#include "bench/workloads.h"

namespace kecho::bench {

// verify and the stress workloads (held, churn, half-close, resets, slow, bad-input).
struct CaseRunOptions {
    std::vector<std::string> cases;  // verify --case
    CaseOptions options;
    RecordOptions record;  // --server-info: whose CPU time is the server's
    std::string json_path;
};

// PASS/FAIL lines per case, a summary line, the cases as JSON; each target's CPU over its cases
// (per unit of work where the workload's report layout counts one: churn, half-close).
int run_cases_workload(const std::string& workload, const CaseRunOptions& options, const Targets& targets,
                       const RunInfo& started);

struct ReportOptions {
    std::vector<ReportInput> inputs;
    std::string baseline = "user";
    std::vector<std::string> perf_stat;  // WHO=FILE: perf stat -x, counts over the one target's run
    std::string best;                    // a metric: print only its best median (for scripts)
    bool ratios = false;                 // print only "NAME RATIOx" per target (for scripts)
    std::string json_path, csv_path;
};

// bench report: the files' runs merged per target, the usual table, the CPU split and the counts;
// with `best`, only the highest median of that metric among the targets that are no busy-poll
// reference, as a whole number (0 when none has it); with `ratios`, only each target's ratio to the
// baseline, one "NAME 1.23x" line each.
int run_report(const ReportOptions& options);

// bench merge FILES: one server's results from several client hosts.
int run_merge(const std::vector<std::string>& files, const std::string& json_path);

// bench summarize DIR.
int run_summarize(const std::string& dir);

// bench servers: the server registry.
int run_servers(bool heading);

}  // namespace kecho::bench
