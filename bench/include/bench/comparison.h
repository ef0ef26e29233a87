// SPDX-License-Identifier: GPL-2.0-only
// pingpong, stream and burst as a comparison: the report's title and config, and the metrics of
// one run, in the layout report.h shows.
#pragma once

#include <string>

#include "bench/burst.h"
#include "bench/load.h"
#include "bench/report.h"

namespace kecho::bench {

// What a comparison runs.
struct RunShape {
    std::string workload;  // pingpong, stream or burst
    std::size_t modes = 1;
    unsigned repeat = 1;
};

// An empty report (no runs yet) with the title and config of this run.
Report comparison_report(const RunShape& shape, const LoadOptions& load, const BurstOptions& burst);

Metrics load_metrics(const std::string& workload, const LoadResult& result);
Metrics burst_metrics(const BurstResult& result);

// "bench.txt" for one mode; "bench-user.txt" when several modes write their own file.
std::string per_mode_path(const std::string& path, const std::string& mode, bool many);

}  // namespace kecho::bench
