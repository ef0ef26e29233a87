// SPDX-License-Identifier: GPL-2.0-only
#include "bench/comparison.h"

#include <cmath>
#include <cstdio>
#include <filesystem>

#include <unistd.h>

namespace kecho::bench {
namespace {

double per_second(double value, double seconds) {
    return seconds > 0 ? value / seconds : 0;
}
double per_unit(double total, double count) {
    return count > 0 ? total / count : NAN;
}

std::string describe(const RunShape& shape, const LoadOptions& l, const BurstOptions& b) {
    char text[512];
    std::string runs = std::to_string(shape.repeat) + (shape.repeat == 1 ? " run" : " runs") +
                       (shape.modes > 1 ? " per mode, interleaved" : "");
    const char* client = l.engine == ClientEngine::blocking ? "blocking" : "epoll";
    if (shape.workload == "burst")
        std::snprintf(text, sizeof(text),
                      "burst: %u threads x %u rounds, message '%s' (%zu bytes); %s; median (min-max)", b.threads,
                      b.rounds, b.message.c_str(), b.message.size(), runs.c_str());
    else if (shape.workload == "pingpong")
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

}  // namespace

Report comparison_report(const RunShape& shape, const LoadOptions& l, const BurstOptions& b) {
    Report report;
    report.workload = workload_def(shape.workload);
    report.title = describe(shape, l, b);
    if (shape.workload == "burst") {
        report.config = {{"threads", b.threads},
                         {"rounds", b.rounds},
                         {"message_bytes", b.message.size()},
                         {"repeat", shape.repeat}};
        return report;
    }
    report.config = {{"connections", l.connections},
                     {"size", l.size},
                     {"duration_s", l.duration},
                     {"warmup_s", l.warmup},
                     {"repeat", shape.repeat}};
    if (shape.workload == "pingpong") {
        report.config["pipeline"] = l.in_flight;
        report.config["client"] = l.engine == ClientEngine::blocking ? "blocking" : "epoll";
    } else {
        report.config["window"] = l.size * l.in_flight;
    }
    return report;
}

Metrics load_metrics(const std::string& workload, const LoadResult& r) {
    Metrics m;
    auto us = [&](double percentile) { return static_cast<double>(r.latency_ns.percentile(percentile)) * 1e-3; };
    m["errors"] = static_cast<double>(r.errors);
    m["cpu_busy_percent"] = r.cpu_busy_percent;
    m["p50_us"] = us(50);
    m["p99_us"] = us(99);
    if (workload == "pingpong") {
        auto requests = static_cast<double>(r.messages);
        m["requests_per_s"] = per_second(requests, r.seconds);
        m["mb_per_s"] = per_second(static_cast<double>(r.bytes_received), r.seconds) / 1e6;
        m["p90_us"] = us(90);
        m["p999_us"] = us(99.9);
        m["max_us"] = static_cast<double>(r.latency_ns.max()) * 1e-3;
        m["cpu_us_per_request"] = per_unit(r.cpu_busy_seconds * 1e6, requests);
        m["client_cpu_us_per_request"] = per_unit(r.client_cpu_seconds * 1e6, requests);
        m["client_user_us_per_request"] = per_unit(r.client_user_cpu_seconds * 1e6, requests);
        m["server_cpu_us_per_request"] = per_unit(r.cpu.server_seconds * 1e6, requests);
        m["kernel_thread_us_per_request"] = per_unit(r.cpu.kernel_thread_seconds * 1e6, requests);
        m["other_cpu_us_per_request"] = per_unit(r.cpu.other_seconds * 1e6, requests);
        m["softirq_us_per_request"] = per_unit(r.cpu.softirq_seconds * 1e6, requests);
    } else {
        double mb_back = static_cast<double>(r.bytes_received) / 1e6;
        m["recv_mb_per_s"] = per_second(mb_back, r.seconds);
        m["send_mb_per_s"] = per_second(static_cast<double>(r.bytes_sent) / 1e6, r.seconds);
        m["cpu_us_per_mb"] = per_unit(r.cpu_busy_seconds * 1e6, mb_back);
        m["client_cpu_us_per_mb"] = per_unit(r.client_cpu_seconds * 1e6, mb_back);
        m["server_cpu_us_per_mb"] = per_unit(r.cpu.server_seconds * 1e6, mb_back);
        m["kernel_thread_us_per_mb"] = per_unit(r.cpu.kernel_thread_seconds * 1e6, mb_back);
    }
    // Interference: the share of the machine that processes other than the client and the servers
    // (and kernel threads) used while this run was measured.
    const double cpu_seconds = r.seconds * static_cast<double>(::sysconf(_SC_NPROCESSORS_ONLN));
    m["other_cpu_percent"] = cpu_seconds > 0 ? 100.0 * r.cpu.other_seconds / cpu_seconds : 0.0;
    m["cpu_tasks_seconds"] = r.cpu.tasks_seconds;  // every task's time: checks the split against the machine's
    m["cpu_busy_seconds"] = r.cpu_busy_seconds - r.cpu.steal_seconds;
    return m;
}

Metrics burst_metrics(const BurstResult& r) {
    return {{"mean_us", r.mean_us},
            {"median_us", r.median_us},
            {"p99_us", r.p99_us},
            {"max_us", r.max_us},
            {"exchanges", static_cast<double>(r.exchanges)},
            {"errors", static_cast<double>(r.errors)},
            {"seconds", r.seconds}};
}

std::string per_mode_path(const std::string& path, const std::string& mode, bool many) {
    if (!many) return path;
    std::filesystem::path p(path);
    return (p.parent_path() / (p.stem().string() + "-" + mode + p.extension().string())).string();
}

}  // namespace kecho::bench
