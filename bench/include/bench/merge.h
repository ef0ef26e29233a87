// SPDX-License-Identifier: GPL-2.0-only
// bench merge: one server driven from several client hosts at once, each writing its own --json.
// Run i of a mode is merged across the files: latency histograms added (percentiles from the sum),
// rates added; per-client CPU figures are left out (they belong to different machines).
#pragma once

#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "bench/histogram.h"
#include "bench/report.h"

namespace kecho::bench {

// p50/p90/p99/p99.9/max in microseconds from a nanosecond histogram.
void add_latency_metrics(Metrics& metrics, const LatencyHistogram& latency_ns);

// Merges bench --json results (name, document) of the same workload. Throws Error when they cannot
// be merged (other workload, no histograms, no mode in common).
Report merge_reports(const std::vector<std::pair<std::string, nlohmann::json>>& files);

// Reads a bench --json file; throws Error naming the file when it is missing or not JSON.
nlohmann::json read_json_file(const std::string& path);

}  // namespace kecho::bench
