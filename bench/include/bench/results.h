// SPDX-License-Identifier: GPL-2.0-only
// The servers a comparison drives and what it shows of them: runs per mode, median with min-max,
// ratios against a baseline, noise; printed as a table, written as JSON, CSV and gnuplot figures
// (report.cpp), built from pingpong, stream and burst runs (comparison.cpp) or merged from several
// clients' files (merge.cpp); and bench summarize's page for a results directory (summary.cpp).
#pragma once

#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "bench/histogram.h"
#include "bench/workloads.h"
#include "kecho/net.h"
#include "kecho/scratch_dir.h"

namespace kecho::bench {

// A server the bench can drive: its mode name, default port and the command that starts it.
struct ServerMode {
    const char* name;
    std::uint16_t port;
    const char* start;
};

// Every mode in the order --mode all runs them.
const std::vector<ServerMode>& server_modes();
const ServerMode* find_mode(const std::string& name);

// One server to drive: a mode at an address.
struct Target {
    std::string mode = "user";
    SocketAddress address;

    std::string describe() const;  // "user server at 127.0.0.1:12346"
};

// Connects once and closes. nullopt when the server answers; otherwise the reason, already phrased
// for the user: "no user server at 127.0.0.1:12346: connection refused (start it with ./user-echo-server)".
std::optional<std::string> probe(const Target& target);

struct MetricDef {
    std::string key;    // JSON/CSV name: "requests_per_s"
    std::string label;  // table heading: "req/s"
    int decimals = 0;
};

// What a workload measures; the first metric is the primary one (ratios, min-max in the table).
struct WorkloadDef {
    std::string name;  // pingpong, stream, burst
    std::vector<MetricDef> metrics;
};

const WorkloadDef& workload_def(const std::string& name);

using Metrics = std::map<std::string, double>;

struct Stat {
    double median = 0, min = 0, max = 0;
};

// 1234567 -> "1,234,567" (decimals 0), NaN -> "-".
std::string format_number(double value, int decimals = 0);
// "median (min-max)"
std::string format_range(const Stat& stat, int decimals = 0);
// {"a", "b"} -> "a, b"
std::string join(const std::vector<std::string>& items, const std::string& separator = ", ");

struct ModeResults {
    Target target;
    std::vector<Metrics> runs;
    std::vector<std::string> errors;         // first error of each failed run, if any
    std::vector<nlohmann::json> histograms;  // each run's latency histogram (LatencyHistogram::to_json)
    std::map<std::string, Stat> summary() const;
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
    std::string baseline;   // mode name
    std::vector<ModeResults> modes;
    std::vector<std::pair<std::string, std::string>> skipped;  // mode, reason
    // burst only: per-thread microseconds of the last run, per mode (for the classic plot).
    std::map<std::string, std::vector<double>> burst_series;
    nlohmann::json run;  // where and how it ran (kecho::RunInfo::to_json), in JSON and CSV

    // The baseline's median of the primary metric divided into each mode's (nullopt without one).
    std::optional<double> ratio(const ModeResults& mode) const;
};

std::string format_table(const Report& report);
nlohmann::json report_json(const Report& report);
std::string report_csv(const Report& report);

// Draws the report with gnuplot into path (.png or .svg). Throws Error when gnuplot is missing
// or fails.
void plot_report(const Report& report, const std::string& path);

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

// pingpong, stream and burst as a comparison: an empty report (no runs yet) with the title and
// config of this run, and the metrics of one run.
Report comparison_report(const std::string& workload, unsigned repeat, bool interleaved, const LoadOptions& load,
                         const BurstOptions& burst);
Metrics load_metrics(const std::string& workload, const LoadResult& result);
Metrics burst_metrics(const BurstResult& result);

// bench merge: one server driven from several client hosts at once, each writing its own --json.
// Run i of a mode is merged across the files: latency histograms added (percentiles from the sum),
// rates added; per-client CPU figures are left out (they belong to different machines). Throws
// Error when they cannot be merged (other workload, no histograms, no mode in common).
Report merge_reports(const std::vector<std::pair<std::string, nlohmann::json>>& files);

// Reads a bench --json file; throws Error naming the file when it is missing or not JSON.
nlohmann::json read_json_file(const std::string& path);
// Writes text to path; throws Error naming the file when it cannot.
void write_text(const std::string& path, const std::string& text);

// bench summarize RESULTS_DIR: what scripts/compare.sh leaves in results/, read back into one
// page a newcomer can trust: summary.md (machine, layout, the winner at each load with its client
// configuration and noise, CPU split, latency against load, burst, every table as printed, the
// guest's emulated figures), all.csv (one row per mode x workload x connections x run) and the
// figures (sweep.png, latency-vs-load.png, burst-scatter.png, cdf-*.png). Figures need gnuplot
// (Error when missing). Returns the paths written.
std::vector<std::string> summarize_directory(const std::string& dir);

}  // namespace kecho::bench
