// SPDX-License-Identifier: GPL-2.0-only
// A comparison's report: from pingpong, stream and burst runs, or merged from several clients' files.
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <set>

#include "bench/results.h"
#include "kecho/error.h"

namespace kecho::bench {
namespace {

double per_second(double value, double seconds) {
    return seconds > 0 ? value / seconds : 0;
}

// p50/p90/p99/p99.9/max in microseconds from a nanosecond histogram.
void add_latency_metrics(Metrics& metrics, const LatencyHistogram& latency_ns) {
    for (auto [key, p] : {std::pair{"p50_us", 50.0}, {"p90_us", 90.0}, {"p99_us", 99.0}, {"p999_us", 99.9}})
        metrics[key] = static_cast<double>(latency_ns.percentile(p)) * 1e-3;
    metrics["max_us"] = static_cast<double>(latency_ns.max()) * 1e-3;
}

std::string describe(const std::string& workload, unsigned repeat, bool interleaved, const LoadOptions& l,
                     const BurstOptions& b) {
    char text[512];
    std::string runs =
        std::to_string(repeat) + (repeat == 1 ? " run" : " runs") + (interleaved ? " per mode, interleaved" : "");
    const char* client = l.engine == ClientEngine::blocking ? "blocking" : "epoll";
    if (workload == "burst")
        std::snprintf(text, sizeof(text),
                      "burst: %u threads x %u rounds, message '%s' (%zu bytes); %s; median (min-max)", b.threads,
                      b.rounds, b.message.c_str(), b.message.size(), runs.c_str());
    else if (workload == "pingpong")
        std::snprintf(text, sizeof(text),
                      "pingpong: %u connections x %zu B, pipeline %u, %.1f s measured after %.1f s warmup, %s client; "
                      "%s; median (min-max)",
                      l.connections, l.size, l.in_flight, l.duration, l.warmup, client, runs.c_str());
    else
        std::snprintf(text, sizeof(text),
                      "stream: %u connections, %zu B writes, window %zu per connection, %.1f s measured after %.1f s "
                      "warmup; %s; median (min-max)",
                      l.connections, l.size, l.size * l.in_flight, l.duration, l.warmup, runs.c_str());
    return text;
}

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
    out.target.mode = mode;
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

Report comparison_report(const std::string& workload, unsigned repeat, bool interleaved, const LoadOptions& l,
                         const BurstOptions& b) {
    Report report;
    report.workload = workload_def(workload);
    report.title = describe(workload, repeat, interleaved, l, b);
    if (workload == "burst") {
        report.config = {
            {"threads", b.threads}, {"rounds", b.rounds}, {"message_bytes", b.message.size()}, {"repeat", repeat}};
        return report;
    }
    report.config = {{"connections", l.connections},
                     {"size", l.size},
                     {"duration_s", l.duration},
                     {"warmup_s", l.warmup},
                     {"repeat", repeat}};
    if (workload == "pingpong") {
        report.config["pipeline"] = l.in_flight;
        report.config["client"] = l.engine == ClientEngine::blocking ? "blocking" : "epoll";
    } else {
        report.config["window"] = l.size * l.in_flight;
    }
    return report;
}

Metrics load_metrics(const std::string& workload, const LoadResult& r) {
    Metrics m;
    add_latency_metrics(m, r.tally.latency_ns);
    m["errors"] = static_cast<double>(r.errors.count());
    m["cpu_busy_percent"] = r.cpu.busy_percent;
    // CPU per request (pingpong) or per MB echoed (stream): the machine's, then split by who used it.
    const bool pingpong = workload == "pingpong";
    const double mb_back = static_cast<double>(r.tally.bytes_received) / 1e6;
    const double units = pingpong ? static_cast<double>(r.tally.messages) : mb_back;
    const std::string per = pingpong ? "_per_request" : "_per_mb";
    auto per_unit = [&](double seconds) { return units > 0 ? seconds * 1e6 / units : NAN; };
    m["cpu_us" + per] = per_unit(r.cpu.busy_seconds);
    m["client_cpu_us" + per] = per_unit(r.cpu.client_seconds);
    m["server_cpu_us" + per] = per_unit(r.cpu.server_seconds);
    m["kernel_thread_us" + per] = per_unit(r.cpu.kernel_thread_seconds);
    if (pingpong) {
        m["requests_per_s"] = per_second(units, r.seconds);
        m["mb_per_s"] = per_second(mb_back, r.seconds);
        m["client_user_us_per_request"] = per_unit(r.cpu.client_user_seconds);
        m["other_cpu_us_per_request"] = per_unit(r.cpu.other_seconds);
        m["softirq_us_per_request"] = per_unit(r.cpu.softirq_seconds);
    } else {
        m["recv_mb_per_s"] = per_second(mb_back, r.seconds);
        m["send_mb_per_s"] = per_second(static_cast<double>(r.tally.bytes_sent) / 1e6, r.seconds);
    }
    // Interference: the share of the machine that processes other than the client and the servers
    // (and kernel threads) used while this run was measured.
    const double cpu_seconds = r.seconds * static_cast<double>(::sysconf(_SC_NPROCESSORS_ONLN));
    m["other_cpu_percent"] = cpu_seconds > 0 ? 100.0 * r.cpu.other_seconds / cpu_seconds : 0.0;
    m["cpu_tasks_seconds"] = r.cpu.tasks_seconds;  // every task's time: checks the split against the machine's
    m["cpu_busy_seconds"] = r.cpu.busy_seconds - r.cpu.steal_seconds;
    return m;
}

Metrics burst_metrics(const BurstResult& r) {
    return {{"mean_us", r.mean_us},
            {"median_us", r.median_us},
            {"p99_us", r.p99_us},
            {"max_us", r.max_us},
            {"exchanges", static_cast<double>(r.exchanges)},
            {"errors", static_cast<double>(r.errors.count())},
            {"seconds", r.seconds}};
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
