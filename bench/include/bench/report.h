// SPDX-License-Identifier: GPL-2.0-only
// Results of a comparison: runs per mode, median with min-max, ratios against a baseline, and
// the ways to show them (table, JSON, CSV, gnuplot).
#pragma once

#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "bench/target.h"

namespace kecho::bench {

struct MetricDef {
    std::string key;    // JSON/CSV name: "requests_per_s"
    std::string label;  // table heading: "req/s"
    int decimals = 0;
};

// What a workload measures; the first metric is the primary one (ratios, min-max in the table).
struct WorkloadDef {
    std::string name;  // pingpong, stream, burst
    std::vector<MetricDef> metrics;
    bool lower_is_better = false;  // of the primary metric
};

const WorkloadDef& workload_def(const std::string& name);

using Metrics = std::map<std::string, double>;

struct Stat {
    double median = 0, min = 0, max = 0;
};

struct ModeResults {
    Target target;
    std::vector<Metrics> runs;
    std::vector<std::string> errors;         // first error of each failed run, if any
    std::vector<nlohmann::json> histograms;  // each run's latency histogram (LatencyHistogram::to_json)
    std::map<std::string, Stat> summary() const;
    // Why this row cannot be trusted, empty when it can: the primary metric's spread (max-min)/median
    // above 10 %, or processes other than the client, the servers and kernel threads using more than
    // other_cpu_limit_percent of the machine during a run (metric "other_cpu_percent").
    std::string noise(const std::string& primary, double cpus) const;
    static constexpr double other_cpu_limit_percent = 5.0;
};

struct Report {
    WorkloadDef workload;
    std::string title;      // one line describing the run (table heading, plot title)
    nlohmann::json config;  // the options that define the run
    std::string baseline;   // mode name
    std::vector<ModeResults> modes;
    std::vector<std::pair<std::string, std::string>> skipped;  // mode, reason
    // burst only: per-thread microseconds of the last run, per mode (for the classic plot).
    std::map<std::string, std::vector<double>> burst_series;
    nlohmann::json run;  // where and how it ran (kecho::RunInfo::to_json), in JSON and CSV

    // The baseline's median of the primary metric divided into each mode's (nullopt without one).
    std::optional<double> ratio(const ModeResults& mode) const;
};

Stat summarize(std::vector<double> values);

std::string format_table(const Report& report);
nlohmann::json report_json(const Report& report);
std::string report_csv(const Report& report);

// Draws the report with gnuplot into path (.png or .svg). Throws Error when gnuplot is missing
// or fails.
void plot_report(const Report& report, const std::string& path);

}  // namespace kecho::bench
