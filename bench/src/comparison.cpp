// SPDX-License-Identifier: GPL-2.0-only
// The comparison workloads (pingpong, stream, burst), one descriptor each, and their one runner.
#include "bench/comparison.h"

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdarg>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <map>
#include <set>

#include "kecho/cli.h"
#include "kecho/cpu_set.h"
#include "kecho/error.h"

namespace kecho::bench {
namespace {

double per_second(double value, double seconds) {
    return seconds > 0 ? value / seconds : 0;
}

// A progress line on stderr, only when a person is watching it.
void show_progress(const std::string& text) {
    if (::isatty(2) == 1) std::fprintf(stderr, "\r\033[K%s", text.c_str());
}

// printf into a string (a title's length at most).
__attribute__((format(printf, 1, 2))) std::string printf_text(const char* format, ...) {
    char text[512];
    va_list args;
    va_start(args, format);
    std::vsnprintf(text, sizeof(text), format, args);
    va_end(args);
    return text;
}

// "3 runs per mode, interleaved", "up to 10 runs per mode until the 95% interval is within +/-5%, interleaved".
std::string runs_text(const ComparisonSettings& s, bool interleaved) {
    std::string text = std::to_string(s.repeat) + (s.repeat == 1 ? " run" : " runs");
    if (s.ci_percent > 0) text = "up to " + text;
    if (interleaved) text += " per mode";
    if (s.ci_percent > 0) text += " until the 95% interval is within +/-" + format_number(s.ci_percent, 1) + "%";
    return text + (interleaved ? ", interleaved" : "") + "; median [95% interval] or (min-max)";
}

// ---- pingpong and stream: run_load ----

nlohmann::json load_config(const ComparisonSettings& s) {
    const LoadOptions& l = s.load;
    return {{"connections", l.connections},
            {"size", l.size},
            {"duration_s", l.duration},
            {"warmup_s", l.warmup},
            {"repeat", s.repeat}};
}

// One load run: its latency histogram, CPU per `unit`; the workload adds its rates.
RunOutput run_load_once(const Target& target, ComparisonSettings& s, const RunInfo& run, const std::string& unit,
                        const std::function<void(double)>& progress, LoadResult& l) {
    s.load.server_pids = server_pids(run, target.name);
    run_load(target.address, s.load, l, progress);
    RunOutput out;
    add_latency_metrics(out.metrics, l.tally.latency_ns);
    out.metrics["errors"] = static_cast<double>(l.errors.count());
    const double units =
        unit == "request" ? static_cast<double>(l.tally.messages) : static_cast<double>(l.tally.bytes_received) / 1e6;
    out.metrics.merge(cpu_metrics(l.cpu, l.seconds, units, unit));
    out.histogram = l.tally.latency_ns.to_json();
    out.client_workers = l.workers;
    out.error = l.errors.describe();
    return out;
}

void prepare_pingpong(ComparisonSettings& s, bool, RunInfo& run) {
    // Few connections: a thread each costs nothing and saves the epoll_wait per request, so the
    // client is never the reason a server looks slow (measured against the floor server).
    const bool blocking = s.client == ClientChoice::blocking ||
                          (s.client == ClientChoice::automatic && s.load.connections <= 4 && s.load.in_flight == 1);
    s.load.engine = blocking && s.load.rate <= 0 ? ClientEngine::blocking : ClientEngine::epoll;
    run.client["engine"] = blocking ? "blocking" : "epoll";
    s.load.size = s.size;
}

std::string pingpong_title(const ComparisonSettings& s, bool interleaved) {
    const LoadOptions& l = s.load;
    std::string title =
        printf_text("pingpong: %u connections x %zu B, pipeline %u, %.1f s measured after %.1f s warmup, %s client; %s",
                    l.connections, l.size, l.in_flight, l.duration, l.warmup,
                    l.engine == ClientEngine::blocking ? "blocking" : "epoll", runs_text(s, interleaved).c_str());
    if (l.rate > 0)
        title += "; open loop: " + std::to_string(static_cast<long long>(l.rate)) +
                 " req/s offered, latency from each request's scheduled time";
    return title;
}

nlohmann::json pingpong_config(const ComparisonSettings& s) {
    nlohmann::json config = load_config(s);
    config["pipeline"] = s.load.in_flight;
    config["client"] = s.load.engine == ClientEngine::blocking ? "blocking" : "epoll";
    if (s.load.rate > 0) config["rate"] = s.load.rate;
    return config;
}

RunOutput run_pingpong(const Target& target, ComparisonSettings& s, const RunInfo& run,
                       const std::function<void(double)>& progress) {
    LoadResult l;
    RunOutput out = run_load_once(target, s, run, "request", progress, l);
    const double messages = static_cast<double>(l.tally.messages);
    out.metrics["requests_per_s"] = per_second(messages, l.seconds);
    out.metrics["mb_per_s"] = per_second(static_cast<double>(l.tally.bytes_received) / 1e6, l.seconds);
    if (s.load.rate > 0) {
        RateCheck check = check_rate(s.load.rate, l.tally.messages, l.seconds);
        out.metrics["target_rate"] = s.load.rate;
        out.metrics["rate_kept"] = check.kept ? 1 : 0;
        if (!check.kept) {
            show_progress("");
            std::cerr << "bench: " << target.describe() << ": " << check.describe() << "\n";
        }
    }
    return out;
}

void prepare_stream(ComparisonSettings& s, bool, RunInfo& run) {
    s.load.engine = ClientEngine::epoll;
    run.client["engine"] = "epoll";
    s.load.size = s.stream_size;
    s.load.in_flight = static_cast<std::uint32_t>(s.window / s.load.size);
}

std::string stream_title(const ComparisonSettings& s, bool interleaved) {
    const LoadOptions& l = s.load;
    return printf_text(
        "stream: %u connections, %zu B writes, window %zu per connection, %.1f s measured after %.1f s warmup; %s",
        l.connections, l.size, l.size * l.in_flight, l.duration, l.warmup, runs_text(s, interleaved).c_str());
}

nlohmann::json stream_config(const ComparisonSettings& s) {
    nlohmann::json config = load_config(s);
    config["window"] = s.load.size * s.load.in_flight;
    return config;
}

RunOutput run_stream(const Target& target, ComparisonSettings& s, const RunInfo& run,
                     const std::function<void(double)>& progress) {
    LoadResult l;
    RunOutput out = run_load_once(target, s, run, "mb", progress, l);
    out.metrics["recv_mb_per_s"] = per_second(static_cast<double>(l.tally.bytes_received) / 1e6, l.seconds);
    out.metrics["send_mb_per_s"] = per_second(static_cast<double>(l.tally.bytes_sent) / 1e6, l.seconds);
    return out;
}

// ---- burst: run_burst ----

void prepare_burst(ComparisonSettings&, bool, RunInfo& run) {
    run.client["engine"] = "threads";
}

std::string burst_title(const ComparisonSettings& s, bool interleaved) {
    const BurstOptions& b = s.burst;
    return printf_text("burst: %u threads x %u rounds, message '%s' (%zu bytes); %s", b.threads, b.rounds,
                       b.message.c_str(), b.message.size(), runs_text(s, interleaved).c_str());
}

nlohmann::json burst_config(const ComparisonSettings& s) {
    const BurstOptions& b = s.burst;
    return {{"threads", b.threads}, {"rounds", b.rounds}, {"message_bytes", b.message.size()}, {"repeat", s.repeat}};
}

RunOutput run_burst_once(const Target& target, ComparisonSettings& s, const RunInfo& run,
                         const std::function<void(double)>&) {
    BurstResult b;
    const CpuMeter cpu(server_pids(run, target.name));
    run_burst(target.address, s.burst, b);
    RunOutput out;
    out.metrics = {{"mean_us", b.echo.mean_us},
                   {"median_us", b.echo.median_us},
                   {"p99_us", b.echo.p99_us},
                   {"max_us", b.echo.max_us},
                   {"connect_mean_us", b.connect.mean_us},
                   {"connect_p99_us", b.connect.p99_us},
                   {"first_byte_mean_us", b.first_byte.mean_us},
                   {"first_byte_p99_us", b.first_byte.p99_us},
                   {"exchange_mean_us", b.exchange.mean_us},
                   {"exchange_p99_us", b.exchange.p99_us},
                   {"exchanges", static_cast<double>(b.exchanges)},
                   {"errors", static_cast<double>(b.errors.count())},
                   {"seconds", b.seconds}};
    out.metrics.merge(cpu_metrics(cpu.read(), b.seconds, static_cast<double>(b.exchanges), "exchange"));
    // A burst row's noise is its spread alone, as it always was (summary.md's noise rules): the
    // others' share of the machine is not recorded for it.
    out.metrics.erase("other_cpu_percent");
    out.per_thread_us = std::move(b.per_thread_us);
    out.client_workers = s.burst.threads;
    out.error = b.errors.describe();
    return out;
}

// ---- the descriptors' tables ----

// The CPU columns of a table: the machine's busy percent, then CPU us per unit for the machine and
// the client ("cpu us/req", "client us/req").
std::vector<MetricDef> cpu_columns(const std::string& unit, const std::string& label, int decimals) {
    return {{"cpu_busy_percent", "cpu %", 1},
            {"cpu_us_per_" + unit, "cpu us/" + label, decimals},
            {"client_cpu_us_per_" + unit, "client us/" + label, decimals}};
}

// Latency columns in microseconds, one decimal: "p50" -> {"p50_us", "p50 us"}, "p999" -> "p99.9 us".
std::vector<MetricDef> latency_columns(std::initializer_list<std::string> names) {
    std::vector<MetricDef> out;
    for (const auto& name : names) out.push_back({name + "_us", (name == "p999" ? "p99.9" : name) + " us", 1});
    return out;
}

std::vector<MetricDef> joined(std::initializer_list<std::vector<MetricDef>> parts) {
    std::vector<MetricDef> out;
    for (const auto& part : parts) out.insert(out.end(), part.begin(), part.end());
    return out;
}

// ---- the runner ----

// "bench.txt" for one target; "bench-user.txt" when several targets write their own file.
std::string per_target_path(const std::string& path, const std::string& name, bool many) {
    if (!many) return path;
    std::filesystem::path p(path);
    return (p.parent_path() / (p.stem().string() + "-" + name + p.extension().string())).string();
}

// kecho's data file: one "index microseconds" line per thread.
void write_per_thread_file(const std::string& path, const std::vector<double>& per_thread_us) {
    std::string text;
    for (std::size_t i = 0; i < per_thread_us.size(); ++i)
        text += std::to_string(i) + " " + std::to_string(static_cast<long long>(per_thread_us[i] + 0.5)) + "\n";
    write_text(path, text);
}

// The report of a comparison before its runs: title, config, and a row per target (per target and
// client worker count with several --workers); the targets that failed before it (--best-of), failed.
Report start_report(const ComparisonWorkload& w, const ComparisonSettings& s, const Targets& targets,
                    const RunInfo& run) {
    Report report;
    report.workload = w.layout;
    report.title = w.title(s, targets.reachable.size() > 1 || s.workers.size() > 1);
    report.config = w.config(s);
    report.baseline = s.baseline;
    for (const auto& [t, why] : targets.skipped) report.skipped.emplace_back(t.label(), why);
    for (Target t : targets.reachable) {
        t.server = server_of(run, t);
        if (s.workers.size() < 2) {
            report.modes.push_back({t, {}, {}, {}});
            continue;
        }
        for (unsigned workers : s.workers) {
            t.client_workers = workers;
            report.modes.push_back({t, {}, {}, {}});
        }
    }
    for (const auto& [t, why] : targets.failed) report.modes.push_back({t, {}, {why}, {}});
    return report;
}

// The rows that failed before the first run (--best-of's), said as a run's failure is; the exit code.
int report_failures(const Report& report) {
    int exit_code = cli::exit_ok;
    for (const auto& mode : report.modes)
        if (mode.failed()) {
            std::cerr << "bench: " << mode.target.describe() << ": " << mode.errors.front() << "\n";
            exit_code = cli::exit_failure;
        }
    return exit_code;
}

// Whether a row runs again: it has not failed (a wrong byte ends its runs), it is below the cap,
// and with --ci its interval is not yet within +/- ci_percent of its median.
bool wants_run(const ModeResults& mode, const ComparisonSettings& s, const std::string& primary) {
    if (mode.failed() || mode.runs.size() >= s.repeat) return false;
    if (s.ci_percent <= 0) return true;
    auto summary = mode.summary();
    return !summary.count(primary) || !summary[primary].within(s.ci_percent / 100);
}

// The client's workers: per row in each run ("client_workers"); in the run record when all rows had
// the same.
void record_client_workers(const Report& report, RunInfo& run) {
    std::set<double> counts;
    for (const auto& mode : report.modes)
        for (const auto& r : mode.runs)
            if (r.count("client_workers")) counts.insert(r.at("client_workers"));
    if (counts.size() == 1) run.client["workers"] = static_cast<unsigned>(*counts.begin());
}

// One run into mode (its metrics, the client's workers, the load average before it, its histogram);
// returns its error.
std::string run_into(const ComparisonWorkload& w, ComparisonSettings& s, ModeResults& mode, const std::string& label,
                     const RunInfo& run, std::vector<double>& series) {
    const double load_before = load_average()[0];
    const unsigned workers = s.load.workers;
    if (mode.target.client_workers) s.load.workers = mode.target.client_workers;
    RunOutput out = w.run(mode.target, s, run, [&](double f) {
        show_progress(label + " " + std::to_string(static_cast<int>(f * 100)) + "%");
    });
    s.load.workers = workers;
    mode.runs.push_back(std::move(out.metrics));
    mode.runs.back()["load_before"] = load_before;
    mode.runs.back()["client_workers"] = out.client_workers;
    if (!out.histogram.is_null()) mode.histograms.push_back(std::move(out.histogram));
    if (w.per_thread_series) series = std::move(out.per_thread_us);
    return out.error;
}

// run_into, with what it throws as the run's error, and kecho's per-thread file written.
std::string run_guarded(const ComparisonWorkload& w, ComparisonSettings& s, ModeResults& mode, const std::string& label,
                        const RunInfo& run, std::vector<double>& series, bool many) {
    show_progress(label);
    try {
        std::string error = run_into(w, s, mode, label, run, series);
        if (w.per_thread_series && !s.out_path.empty())
            write_per_thread_file(per_target_path(s.out_path, mode.target.label(), many), series);
        return error;
    } catch (const Error& e) {
        return e.what();
    }
}

void write_report(const ComparisonWorkload& w, const Report& report, const ComparisonSettings& s,
                  const std::map<std::string, std::vector<double>>& series) {
    std::cout << report.title << "\n" << format_table(report) << std::flush;
    if (!s.json_path.empty()) write_text(s.json_path, report_json(report).dump(2) + "\n");
    if (!s.csv_path.empty()) write_text(s.csv_path, report_csv(report));
    if (s.plot_path.empty()) return;
    if (w.per_thread_series)
        plot_per_thread(report, series, s.plot_path);
    else
        plot_report(report, s.plot_path);
}

}  // namespace

const std::vector<ComparisonWorkload>& comparison_workloads() {
    static const std::vector<ComparisonWorkload> workloads = {
        {"pingpong",
         {"pingpong",
          joined({{{"requests_per_s", "req/s", 0}, {"mb_per_s", "MB/s", 1}},
                  latency_columns({"p50", "p90", "p99", "p999"}),
                  {{"max_us", "max us", 0}, {"errors", "errors", 0}},
                  cpu_columns("request", "req", 2),
                  {{"client_user_us_per_request", "(user)", 2}}}),
          "request"},
         prepare_pingpong,
         pingpong_title,
         pingpong_config,
         run_pingpong,
         false},
        {"stream",
         {"stream",
          joined({{{"recv_mb_per_s", "MB/s back", 1}, {"send_mb_per_s", "MB/s sent", 1}},
                  latency_columns({"p50", "p99"}),
                  {{"errors", "errors", 0}},
                  cpu_columns("mb", "MB", 0)}),
          "mb"},
         prepare_stream,
         stream_title,
         stream_config,
         run_stream,
         false},
        {"burst",
         {"burst",
          joined({{{"mean_us", "mean us (send to echo)", 1, true}},
                  latency_columns({"median", "p99", "max"}),
                  {{"connect_mean_us", "connect us", 1},
                   {"first_byte_mean_us", "first byte us", 1},
                   {"exchange_mean_us", "connect+echo us", 1},
                   {"exchanges", "exchanges", 0},
                   {"errors", "errors", 0},
                   {"seconds", "seconds", 2}}}),
          "exchange"},
         prepare_burst,
         burst_title,
         burst_config,
         run_burst_once,
         true},
    };
    return workloads;
}

const ComparisonWorkload* find_comparison(std::string_view name) {
    for (const auto& w : comparison_workloads())
        if (w.name == name) return &w;
    return nullptr;
}

RunInfo begin_run(const RecordOptions& record, int argc, char** argv) {
    const std::vector<int> cpus = record.cpus.empty() ? std::vector<int>{} : parse_cpu_list(record.cpus);
    if (!cpus.empty()) pin_current_thread(cpus);  // every thread the bench starts inherits it
    RunInfo run = RunInfo::begin(argc, argv);
    for (const auto& info : record.server_info) run.servers.push_back(parse_key_values(info));
    run.client["cpus"] = cpus.empty() ? "any" : format_cpu_list(cpus);
    if (!record.layout.empty()) run.client["layout"] = record.layout;
    return run;
}

std::string server_of(const RunInfo& run, const Target& target) {
    if (!target.server.empty()) return target.server;
    for (const auto& info : run.servers)
        if (info.value("mode", "") == target.name && info.contains("of")) return info["of"].get<std::string>();
    return "";
}

std::vector<int> server_pids(const RunInfo& run, const std::string& name) {
    std::vector<int> pids;
    for (const auto& s : run.servers)
        if (s.value("mode", "") == name && s.contains("pid") && s["pid"].is_number_integer())
            pids.push_back(s["pid"].get<int>());
    return pids;
}

int run_comparison(const ComparisonWorkload& w, ComparisonSettings& s, const Targets& targets, const RunInfo& started) {
    RunInfo run = started;
    if (s.repeat == 0) s.repeat = s.ci_percent > 0 ? 10 : targets.many() ? 3 : 1;
    if (s.workers.size() == 1) s.load.workers = s.workers.front();
    if (!s.best_of.empty()) run.client["best_of"] = s.best_of;
    w.prepare(s, targets.many(), run);
    Report report = start_report(w, s, targets, run);
    std::map<std::string, std::vector<double>> series;  // per row, of its last run
    int exit_code = report_failures(report);
    for (unsigned r = 0; r < s.repeat; ++r) {
        std::vector<ModeResults*> due;
        for (auto& mode : report.modes)
            if (wants_run(mode, s, report.primary().key)) due.push_back(&mode);
        if (due.empty()) break;
        for (std::size_t i = 0; i < due.size(); ++i) {
            ModeResults& mode = *due[i];
            const std::string name = mode.target.label();
            const std::string label = "[round " + std::to_string(r + 1) + "/" + std::to_string(s.repeat) + ", " +
                                      std::to_string(i + 1) + "/" + std::to_string(due.size()) + "] " + name + " " +
                                      std::string(w.name);
            if (std::string error = run_guarded(w, s, mode, label, run, series[name], targets.many()); !error.empty()) {
                show_progress("");
                std::cerr << "bench: " << mode.target.describe() << ", run " << r + 1 << ": " << error << "\n";
                mode.errors.push_back(error);
                exit_code = cli::exit_failure;
            }
        }
    }
    show_progress("");
    record_client_workers(report, run);
    run.finish();
    report.run = run.to_json();
    write_report(w, report, s, series);
    return exit_code;
}

}  // namespace kecho::bench
