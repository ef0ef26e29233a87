// SPDX-License-Identifier: GPL-2.0-only
// bench summarize RESULTS_DIR: what scripts/compare.sh leaves in results/, read back into one
// page a newcomer can trust: summary.md (machine, layout, the winner at each load with its client
// configuration and noise, CPU split, latency against load, burst, every table as printed, the
// guest's emulated figures), all.csv (one row per mode x workload x connections x run) and the
// figures (sweep.png, latency-vs-load.png, burst-scatter.png, cdf-*.png).
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace kecho::bench {

// One bench --json file of the directory.
struct ResultFile {
    std::string name;  // file name without .json: "pingpong-c64-w4"
    nlohmann::json doc;
};

// Every bench result (*.json with "workload" and "modes") in dir, sorted by name.
std::vector<ResultFile> load_result_files(const std::string& dir);

// all.csv's text: one row per mode x workload x connections x run.
std::string results_csv(const std::vector<ResultFile>& files);

// summary.md's text. dir is read for the tables as printed (*.txt), the guest's kmod-vm.txt and
// kernel-matrix*.md.
std::string summary_markdown(const std::string& dir, const std::vector<ResultFile>& files);

// Writes summary.md, all.csv and the figures into dir; figures need gnuplot (Error when missing).
// Returns the paths written.
std::vector<std::string> summarize_directory(const std::string& dir);

}  // namespace kecho::bench
