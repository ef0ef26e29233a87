// SPDX-License-Identifier: GPL-2.0-only
// bench's comparisons: pingpong, stream and burst, each one descriptor (its metrics, title and
// configuration, run code and per-thread series), run by one runner: every target in turn,
// interleaved and repeated, into one Report (results.h) printed and saved the same way.
#pragma once

#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "bench/results.h"
#include "bench/targets.h"
#include "bench/workloads.h"
#include "kecho/run_info.h"

namespace kecho::bench {

enum class ClientChoice { automatic, epoll, blocking };

// Where and how a run is recorded: the client's CPUs, how each server was started, the placement.
struct RecordOptions {
    std::string cpus;                      // CPU list the client is pinned to (empty: not pinned)
    std::vector<std::string> server_info;  // "mode=user engine=epoll threads=1 cpus=1 pid=123"
    std::string layout;                    // "shared", "split", or empty (not said)
};

// Every option of the comparisons; each workload reads its own.
struct ComparisonSettings {
    unsigned repeat = 0;  // runs per row, the cap with ci_percent; 0: 10 with ci_percent, else 3 when
                          // several targets run, else 1
    // > 0: a row runs again (up to repeat) until the 95% interval of its primary metric's median is
    // within +/- ci_percent % of the median (bench/stats.h); netperf's -i/-I.
    double ci_percent = 0;
    std::vector<unsigned> workers;  // several: a row per target and client worker count (a sweep)
    std::string best_of;            // a sweep's result file: each server at its best row there
    std::string baseline = "user";
    std::string json_path, csv_path, plot_path;
    RecordOptions record;
    LoadOptions load;  // pingpong, stream
    std::uint64_t size = 64, stream_size = 64 * 1024, window = 256 * 1024;
    ClientChoice client = ClientChoice::automatic;  // pingpong
    BurstOptions burst;
    std::string out_path;  // burst: kecho's per-thread file
};

// One run against one target.
struct RunOutput {
    Metrics metrics;
    nlohmann::json histogram;           // the latency histogram (LatencyHistogram::to_json), or null
    std::vector<double> per_thread_us;  // the per-thread series, for workloads that have one
    std::string error;                  // the run's first error, empty when every byte came back
    unsigned client_workers = 0;        // the client's threads, recorded in each run (client_workers)
};

struct ComparisonWorkload {
    std::string_view name;
    WorkloadDef layout;  // what a row shows (the first metric is the primary one)
    // Before the first run: the client's engine and sizes, recorded in run.client.
    void (*prepare)(ComparisonSettings& settings, bool many_targets, RunInfo& run);
    std::string (*title)(const ComparisonSettings& settings, bool interleaved);
    nlohmann::json (*config)(const ComparisonSettings& settings);
    // One run; `progress` takes the fraction done (for a progress line).
    RunOutput (*run)(const Target& target, ComparisonSettings& settings, const RunInfo& run,
                     const std::function<void(double)>& progress);
    bool per_thread_series;  // kecho's per-thread file (--out) and plot
};

// pingpong, stream and burst, in that order.
const std::vector<ComparisonWorkload>& comparison_workloads();
const ComparisonWorkload* find_comparison(std::string_view name);

// Runs the comparison against the reachable targets (the skipped ones listed), prints its table and
// writes what settings ask for (JSON, CSV, plot, per-thread files). Returns the exit code: 1 when a
// run failed (a byte wrong or missing, a server gone).
int run_comparison(const ComparisonWorkload& workload, ComparisonSettings& settings, const Targets& targets,
                   const RunInfo& started);

// The run record a workload starts from: the command and machine, the client pinned to
// record.cpus, the servers as --server-info described them.
RunInfo begin_run(const RecordOptions& record, int argc, char** argv);

// The server a target is a configuration of: its own (Target::server), else --server-info's of= for
// it; empty when neither says (then it is its own server).
std::string server_of(const RunInfo& run, const Target& target);

// The pids --server-info gave for this target (the processes whose CPU time counts as the server's).
std::vector<int> server_pids(const RunInfo& run, const std::string& name);

// --best-of FILE: a comparison's result file of the same workload (a sweep: targets x client worker
// counts), read back into the targets of a new one, each server (a registry mode with its
// configurations, or a peer) at its best row there: the row's target, address and client workers.
// A server with a failed row there is failed (its first error), not driven; unreachable ones are
// skipped. Throws Error naming the file when it holds another workload or no row.
Targets best_targets(const std::string& path, const ComparisonWorkload& workload);

}  // namespace kecho::bench
