// SPDX-License-Identifier: GPL-2.0-only
// bench's verbs besides the comparisons: verify and the stress workloads, report, merge, summarize,
// servers.
#include <cmath>
#include <iostream>

#include "bench/commands.h"
#include "kecho/cli.h"
#include "kecho/error.h"
#include "kecho/servers.h"

namespace kecho::bench {
namespace {

// A stress workload's CPU over a target's cases, per unit of its work (the case's own count).
void add_case_cpu(const std::string& workload, std::vector<CaseResult>& results, const CpuUsage& cpu, double seconds) {
    const WorkloadDef* layout = find_workload_def(workload);
    if (!layout || layout->units_metric.empty() || results.size() != 1) return;
    nlohmann::json& metrics = results.front().metrics;
    const double units = metrics.value(layout->units_metric, 0.0);
    for (const auto& [key, value] : cpu_metrics(cpu, seconds, units, layout->cpu_unit)) metrics[key] = value;
}

// The perf stat counts of --perf-stat WHO=FILE, for the report's one target.
void add_counts(Report& report, const std::vector<std::string>& perf_stat) {
    if (perf_stat.empty()) return;
    if (report.modes.size() != 1)
        throw Error("--perf-stat counts one target's run: the files hold " + std::to_string(report.modes.size()));
    auto& counts = report.counts[report.modes.front().target.name];
    for (const auto& spec : perf_stat) {
        const auto eq = spec.find('=');
        for (const auto& [event, count] : read_perf_stat(spec.substr(eq + 1)))
            counts[spec.substr(0, eq) + " " + event] = count;
    }
}

// The highest median of a metric among the report's targets, references and failed rows left out.
double best_median(const Report& report, const std::string& metric) {
    double best = 0;
    for (const auto& mode : report.modes) {
        const ServerEntry* server = find_server(mode.target.server_name());
        if ((server && server->role == ServerRole::reference) || mode.failed()) continue;
        auto s = mode.summary();
        if (s.count(metric) && s[metric].median > best) best = s[metric].median;
    }
    return best;
}

}  // namespace

int run_cases_workload(const std::string& workload, const CaseRunOptions& o, const Targets& targets,
                       const RunInfo& started) {
    RunInfo run = started;
    const bool many = targets.many();
    const auto names = workload_cases(workload, o.options.quick, o.cases);
    nlohmann::json cases = nlohmann::json::array(), skip = nlohmann::json::array();
    int passed = 0, failed = 0;
    for (const auto& [target, why] : targets.skipped) {
        std::cout << "skipped " << target.name << ": " << why << "\n";
        skip.push_back({{"mode", target.name}, {"reason", why}});
    }
    for (const Target& target : targets.reachable) {
        if (many) std::cout << "== " << target.describe() << std::endl;
        const CpuMeter cpu(server_pids(run, target.name));
        const auto start = Clock::now();
        auto results = run_cases(target.address, names, o.options, [](const CaseResult& r) {
            std::cout << (r.passed ? "PASS " : "FAIL ") << r.name << " " << r.detail << std::endl;
        });
        add_case_cpu(workload, results, cpu.read(), seconds_since(start));
        const std::string server = server_of(run, target);
        for (const auto& r : results) {
            cases.push_back(r);
            if (many) cases.back()["mode"] = target.name;
            if (!server.empty()) cases.back()["server"] = server;
            (r.passed ? passed : failed)++;
        }
    }
    std::cout << workload << ": " << passed << " passed, " << failed << " failed" << std::endl;
    if (!o.json_path.empty()) {
        run.finish();
        nlohmann::json doc = {
            {"workload", workload}, {"cases", cases}, {"passed", passed}, {"failed", failed}, {"run", run.to_json()}};
        if (many) doc["skipped"] = skip;
        if (!many) doc["mode"] = targets.reachable.front().name;
        write_text(o.json_path, doc.dump(2) + "\n");
    }
    return failed == 0 ? cli::exit_ok : cli::exit_failure;
}

int run_report(const ReportOptions& o) {
    Report report = combine_reports(o.inputs, o.baseline);
    if (!o.best.empty()) {
        std::cout << static_cast<long long>(std::floor(best_median(report, o.best))) << std::endl;
        return cli::exit_ok;
    }
    if (o.ratios) {
        for (const auto& mode : report.modes)
            if (auto r = report.ratio(mode))
                std::cout << mode.target.label() << " " << format_number(r->value, 2) << "x\n";
        return cli::exit_ok;
    }
    add_counts(report, o.perf_stat);
    std::cout << report.title << "\n";
    if (report.workload.per_metric) {
        std::cout << format_metric_rows(report);
    } else {
        std::cout << format_table(report);
        for (const std::string& table : {format_cpu_split(report), format_counts(report)})
            if (!table.empty()) std::cout << "\n" << table;
    }
    std::cout << std::flush;
    if (!o.json_path.empty()) write_text(o.json_path, report_json(report).dump(2) + "\n");
    if (!o.csv_path.empty()) write_text(o.csv_path, report_csv(report));
    return cli::exit_ok;
}

int run_merge(const std::vector<std::string>& paths, const std::string& json_path) {
    std::vector<std::pair<std::string, nlohmann::json>> files;
    for (const auto& path : paths) files.emplace_back(path, read_json_file(path));
    Report report = merge_reports(files);
    std::cout << report.title << "\n" << format_table(report) << std::flush;
    if (!json_path.empty()) write_text(json_path, report_json(report).dump(2) + "\n");
    return cli::exit_ok;
}

int run_summarize(const std::string& dir) {
    for (const auto& path : summarize_directory(dir)) std::cout << "wrote " << path << "\n";
    return cli::exit_ok;
}

int run_servers(bool heading) {
    std::cout << servers_table(heading) << std::flush;
    return cli::exit_ok;
}

}  // namespace kecho::bench
