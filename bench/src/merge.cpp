// SPDX-License-Identifier: GPL-2.0-only
#include "bench/merge.h"

#include <algorithm>
#include <fstream>
#include <set>

#include "kecho/error.h"
#include "kecho/net.h"

namespace kecho::bench {
namespace {

bool is_rate(const std::string& key) {
    return key == "errors" || (key.size() > 6 && key.compare(key.size() - 6, 6, "_per_s") == 0);
}

// The modes every file has, in the first file's order.
std::vector<std::string> common_modes(const std::vector<std::pair<std::string, nlohmann::json>>& files) {
    std::vector<std::string> modes;
    for (const auto& m : files.front().second.at("modes")) modes.push_back(m.at("mode").get<std::string>());
    for (const auto& [name, doc] : files) {
        std::set<std::string> here;
        for (const auto& m : doc.at("modes")) here.insert(m.at("mode").get<std::string>());
        std::erase_if(modes, [&](const std::string& mode) { return !here.count(mode); });
    }
    return modes;
}

const nlohmann::json& mode_entry(const nlohmann::json& doc, const std::string& mode) {
    for (const auto& m : doc.at("modes"))
        if (m.at("mode") == mode) return m;
    throw Error("no mode " + mode);
}

ModeResults merge_mode(const std::vector<std::pair<std::string, nlohmann::json>>& files, const std::string& mode) {
    std::size_t runs = SIZE_MAX;
    for (const auto& [name, doc] : files) {
        const auto& m = mode_entry(doc, mode);
        if (!m.contains("histograms") || m["histograms"].size() != m.at("runs").size())
            throw Error(name + ": mode " + mode + " has no latency histograms (written by an older bench?)");
        runs = std::min(runs, m.at("runs").size());
    }
    ModeResults out;
    out.target.mode = *parse_mode(mode);
    out.target.address = parse_address("0.0.0.0", 0);
    for (std::size_t r = 0; r < runs; ++r) {
        LatencyHistogram sum;
        Metrics metrics;
        for (const auto& [name, doc] : files) {
            const auto& m = mode_entry(doc, mode);
            sum.merge(LatencyHistogram::from_json(m["histograms"][r]));
            for (const auto& [key, value] : m["runs"][r].items())
                if (is_rate(key) && value.is_number()) metrics[key] += value.get<double>();
        }
        add_latency_metrics(metrics, sum);
        out.runs.push_back(metrics);
        out.histograms.push_back(sum.to_json());
    }
    return out;
}

}  // namespace

void add_latency_metrics(Metrics& metrics, const LatencyHistogram& latency_ns) {
    const double us = 1e-3;
    metrics["p50_us"] = static_cast<double>(latency_ns.percentile(50)) * us;
    metrics["p90_us"] = static_cast<double>(latency_ns.percentile(90)) * us;
    metrics["p99_us"] = static_cast<double>(latency_ns.percentile(99)) * us;
    metrics["p999_us"] = static_cast<double>(latency_ns.percentile(99.9)) * us;
    metrics["max_us"] = static_cast<double>(latency_ns.max()) * us;
}

Report merge_reports(const std::vector<std::pair<std::string, nlohmann::json>>& files) {
    if (files.size() < 2) throw Error("merge needs at least two result files");
    Report report;
    try {
        const std::string workload = files.front().second.at("workload").get<std::string>();
        for (const auto& [name, doc] : files)
            if (doc.at("workload") != workload)
                throw Error("cannot merge " + name + " (" + doc.at("workload").get<std::string>() + ") with " +
                            files.front().first + " (" + workload + ")");
        if (workload != "pingpong" && workload != "stream")
            throw Error("merge combines pingpong and stream results, not " + workload);
        report.workload = workload_def(workload);
        report.baseline = files.front().second.value("baseline", "user");
        report.config = files.front().second.value("config", nlohmann::json::object());
        report.run = {{"merged_from", nlohmann::json::array()}};
        for (const auto& [name, doc] : files)
            report.run["merged_from"].push_back({{"file", name}, {"run", doc.value("run", nlohmann::json())}});
        auto modes = common_modes(files);
        if (modes.empty()) throw Error("the files have no mode in common");
        for (const auto& mode : modes) report.modes.push_back(merge_mode(files, mode));
    } catch (const nlohmann::json::exception& e) {
        throw Error(std::string("malformed result file: ") + e.what());
    }
    report.title = report.workload.name + ": " + std::to_string(files.size()) +
                   " clients merged (rates added, percentiles from the merged histograms)";
    return report;
}

nlohmann::json read_json_file(const std::string& path) {
    std::ifstream in(path);
    if (!in) throw Error(errno_message("cannot read " + path, errno));
    try {
        return nlohmann::json::parse(in);
    } catch (const nlohmann::json::exception& e) {
        throw Error(path + " is not JSON: " + e.what());
    }
}

}  // namespace kecho::bench
