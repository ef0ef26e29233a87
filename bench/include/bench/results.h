// SPDX-License-Identifier: GPL-2.0-only
// What a comparison shows of the servers it drove: runs per target, median with min-max, ratios
// against a baseline, noise, the CPU split; printed as a table, written as JSON, CSV (csv.cpp) and
// gnuplot figures (report.cpp). Reports come from a comparison's runs (comparison.cpp), from several
// clients' files merged (bench merge) or from result files combined per target (bench report,
// report_files.cpp); bench summarize writes a results directory's page (summary.cpp).
#pragma once

#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "bench/histogram.h"
#include "bench/stats.h"
#include "bench/targets.h"
#include "bench/workloads.h"
#include "kecho/scratch_dir.h"

namespace kecho::bench {

struct MetricDef {
    std::string key;    // JSON/CSV name: "requests_per_s"
    std::string label;  // table heading: "req/s"
    int decimals = 0;
    bool lower_is_better = false;  // a time (burst's mean_us), not a rate
};

// What a report shows of a workload: its metrics, the first being the primary one (ratios, min-max
// in the table), and what its CPU figures are per (cpu_us_per_<cpu_unit>; empty: no CPU figures).
// A per_metric layout prints one row per target and metric (echo-loader trace's phases) instead of
// one row per target.
struct WorkloadDef {
    std::string name;  // pingpong, stream, burst, churn, half-close, trace
    std::vector<MetricDef> metrics;
    std::string cpu_unit;
    std::string units_metric;  // a stress workload's metric counting those units ("cycles_done")
    bool per_metric = false;
};

// The layout of a workload's results: a comparison's (comparison.h), a stress workload's that bench
// report reads (churn, half-close) or echo-loader trace's; nullptr when it has none.
const WorkloadDef* find_workload_def(const std::string& name);
// The same, throwing Error naming the layouts there are.
const WorkloadDef& workload_def(const std::string& name);

// 1234567 -> "1,234,567" (decimals 0), NaN -> "-".
std::string format_number(double value, int decimals = 0);
// "median (min-max)"
std::string format_range(const Stat& stat, int decimals = 0);
// A comparison figure: "median [low-high]" (its 95% interval), or "median (min-max)" when the runs
// are too few for an interval.
std::string format_estimate(const Stat& stat, int decimals = 0);
// "1.23x [1.10-1.35]", or "1.23x" without an interval.
std::string format_ratio(const Ratio& ratio);
// {"a", "b"} -> "a, b"
std::string join(const std::vector<std::string>& items, const std::string& separator = ", ");
// Rows as aligned columns, two spaces apart: the first column left-aligned, the others right-aligned
// (numbers) unless left is true.
std::string format_columns(const std::vector<std::vector<std::string>>& rows, bool left = false);

struct ModeResults {
    Target target;
    std::vector<Metrics> runs;
    std::vector<std::string> errors;         // first error of each failed run, if any
    std::vector<nlohmann::json> histograms;  // each run's latency histogram (LatencyHistogram::to_json)
    std::map<std::string, Stat> summary() const;
    // A row whose bytes did not all come back right: it has no figure, no ratio and no rank.
    bool failed() const { return !errors.empty(); }
    // Why this row cannot be trusted, empty when it can: the primary metric's spread (max-min)/median
    // above 10 %, or processes other than the client, the servers and kernel threads using more than
    // other_cpu_limit_percent of the machine during a run (metric "other_cpu_percent").
    std::string noise(const std::string& primary) const;
    static constexpr double other_cpu_limit_percent = 5.0;
};

struct Report {
    WorkloadDef workload;
    std::string title;      // one line describing the run (table heading, plot title)
    nlohmann::json config;  // the options that define the run
    std::string baseline;   // a target's name
    std::vector<ModeResults> modes;
    std::vector<std::pair<std::string, std::string>> skipped;  // target name, reason
    nlohmann::json run;  // where and how it ran (kecho::RunInfo::to_json), in JSON and CSV
    // Counts another tool measured over a target's run, by target, then "who event" (bench report
    // --perf-stat), shown per unit of the workload.
    std::map<std::string, std::map<std::string, double>> counts;

    const MetricDef& primary() const { return workload.metrics.front(); }
    // The row the ratios divide by: the baseline target's, or for best_user_baseline the best row of
    // the registry's user-space servers (by their server, so uring-2t counts as uring); a failed row
    // never. nullptr when there is none.
    const ModeResults* baseline_row() const;
    // The primary metric of a row against the baseline row's, with its interval (nullopt without a
    // baseline or for a failed row), and whether it ranks above, below or ties.
    std::optional<Ratio> ratio(const ModeResults& mode) const;
    Verdict verdict(const ModeResults& mode) const;
    // "at 64 connections", "at 1000 threads": where a failure happened, from the configuration.
    std::string scale() const;
    static constexpr const char* best_user_baseline = "best-user";
};

// The table bench prints: the primary metric's median with its 95% interval, the runs, the other
// metrics' medians, the ratio to the baseline with its interval and verdict, and the noise; then
// the skipped targets and the failed ones (FAILED, where, and the first error; no figure).
std::string format_table(const Report& report);
// Where the CPU went, per target (medians): the machine's busy percent, the server's percent of a
// CPU, and CPU microseconds per unit for the machine, the client, the server, kernel threads and
// other processes, with the server's against the baseline's. Empty when no run measured CPU.
std::string format_cpu_split(const Report& report);
// A per_metric layout: one row per target and metric, median (min-max).
std::string format_metric_rows(const Report& report);
// The counts (Report::counts) per unit of work (the primary run's units); empty without counts.
std::string format_counts(const Report& report);

nlohmann::json report_json(const Report& report);
std::string report_csv(const Report& report);

// Draws the report with gnuplot into path (.png or .svg). Throws Error when gnuplot is missing
// or fails.
void plot_report(const Report& report, const std::string& path);
// kecho's burst plot: each thread's time, one series per target.
void plot_per_thread(const Report& report, const std::map<std::string, std::vector<double>>& series,
                     const std::string& path);

// A gnuplot figure of this size drawn into a .png or .svg path; its data files live in a scratch
// directory removed with it.
class Figure {
public:
    Figure(std::string path, int width, int height) : path_(std::move(path)), width_(width), height_(height) {}

    std::string data_path(const std::string& name) const { return scratch_.file(name); }
    // Adds a series of a data file to a plot command: "plot 'a' STYLE, 'b' STYLE".
    static void add_series(std::string& plot, const std::string& data, const std::string& style);
    // Runs gnuplot on the terminal and output lines, then script. Throws Error naming the figure:
    // gnuplot missing (with the package to install) or its first error line.
    void draw(const std::string& script) const;

private:
    ScratchDir scratch_{"kecho-bench-plot"};
    std::string path_;
    int width_, height_;
};

// bench merge: one server driven from several client hosts at once, each writing its own --json.
// Run i of a mode is merged across the files: latency histograms added (percentiles from the sum),
// rates added; per-client CPU figures are left out (they belong to different machines). Throws
// Error when they cannot be merged (other workload, no histograms, no mode in common).
Report merge_reports(const std::vector<std::pair<std::string, nlohmann::json>>& files);

// One input of bench report: a result file, its targets renamed to `name` when one is given
// (NAME=FILE: echo-loader trace's files name no target).
struct ReportInput {
    std::string path;
    std::string name;
};

// bench report: runs of the same workload from several files, merged per target in file order
// (a target's runs from every file become its runs), with their histograms and errors. Reads bench
// --json files of pingpong, stream and burst, of churn and half-close, and echo-loader trace --json
// files. Throws Error naming the file that does not fit.
Report combine_reports(const std::vector<ReportInput>& inputs, const std::string& baseline);

// `perf stat -x,` output: each event's count by name ("raw_syscalls:sys_enter"); Error when the
// file cannot be read or holds no count.
std::map<std::string, double> read_perf_stat(const std::string& path);

// Reads a bench --json file; throws Error naming the file when it is missing or not JSON.
nlohmann::json read_json_file(const std::string& path);
// Writes text to path; throws Error naming the file when it cannot.
void write_text(const std::string& path, const std::string& text);

// bench summarize RESULTS_DIR: what scripts/compare.sh leaves in results/, as its manifest.json
// declares it (each file's role and parameters), read back into one page a newcomer can trust:
// summary.md (machine, layout, the winner at each load with its client configuration and noise,
// CPU split, latency against load, burst, every table as printed, the guest's emulated figures),
// all.csv (one row per mode x workload x connections x run) and the figures (sweep.png,
// latency-vs-load.png, burst-scatter.png, cdf-*.png). Figures need gnuplot (Error when missing).
// Returns the paths written.
std::vector<std::string> summarize_directory(const std::string& dir);

}  // namespace kecho::bench
