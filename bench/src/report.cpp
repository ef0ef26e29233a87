// SPDX-License-Identifier: GPL-2.0-only
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "bench/results.h"
#include "kecho/error.h"
#include "kecho/ports.h"

namespace kecho::bench {
namespace {

// A CSV field: quoted when it holds a comma, a quote or a newline.
std::string csv_cell(const std::string& value) {
    if (value.find_first_of(",\"\n") == std::string::npos) return value;
    std::string out = "\"";
    for (char c : value) out += c == '"' ? std::string("\"\"") : std::string(1, c);
    return out + "\"";
}

// A JSON object's field as CSV text: strings as they are, numbers as JSON, missing or null empty.
std::string csv_field(const nlohmann::json& object, const std::string& key) {
    if (!object.contains(key) || object[key].is_null()) return "";
    const auto& v = object[key];
    return csv_cell(v.is_string() ? v.get<std::string>() : v.dump());
}

Stat summarize(std::vector<double> values) {
    if (values.empty()) return {NAN, NAN, NAN};
    std::sort(values.begin(), values.end());
    const std::size_t n = values.size();
    return {n % 2 ? values[n / 2] : (values[n / 2 - 1] + values[n / 2]) / 2, values.front(), values.back()};
}

}  // namespace

const std::vector<ServerMode>& server_modes() {
    static const std::vector<ServerMode> modes = {
        {"bpf", ports::bpf, "sudo ./echo-loader attach"},
        {"kmod", ports::kmod,
         "sudo insmod kmod/kecho.ko; where the kernel cannot load modules: scripts/vm/compare-in-guest.sh"},
        {"user", ports::user, "./user-echo-server"},
        {"uring", ports::uring, "./user-echo-server --engine uring"},
        {"floor", ports::floor, "./user-echo-server --engine floor"},
        {"splice", ports::splice, "./user-echo-server --engine splice"},
    };
    return modes;
}

const ServerMode* find_mode(const std::string& name) {
    for (const auto& m : server_modes())
        if (name == m.name) return &m;
    return nullptr;
}

std::string Target::describe() const {
    return mode + " server at " + address.to_string();
}

std::optional<std::string> probe(const Target& target) {
    try {
        // 4 s: past the SYN's first two retransmissions (1 s, 3 s), so a lossy network is not
        // taken for a missing server; a refused connection still answers at once.
        UniqueFd fd = connect_to(target.address, 4000);
    } catch (const Error& e) {
        // connect_to says "cannot connect to <address>: <reason>"; keep the reason only.
        return "no " + target.describe() + ": " + last_reason(e.what()) + " (start it with " +
               find_mode(target.mode)->start + ")";
    }
    return std::nullopt;
}

std::string format_number(double value, int decimals) {
    if (std::isnan(value)) return "-";
    char text[64];
    std::snprintf(text, sizeof(text), "%.*f", decimals, value);
    if (decimals != 0 || std::fabs(value) < 1000) return text;
    // Thousands separators, copied digit by digit (GCC 12 at -O2 takes string::insert here for an
    // overlapping memcpy: -Werror=restrict).
    const std::string digits = text;
    const std::size_t first = digits[0] == '-' ? 1 : 0;
    std::string out = digits.substr(0, first);
    for (std::size_t i = first; i < digits.size(); ++i) {
        if (i > first && (digits.size() - i) % 3 == 0) out += ',';
        out += digits[i];
    }
    return out;
}

std::string format_range(const Stat& stat, int decimals) {
    return format_number(stat.median, decimals) + " (" + format_number(stat.min, decimals) + "-" +
           format_number(stat.max, decimals) + ")";
}

std::string join(const std::vector<std::string>& items, const std::string& separator) {
    std::string out;
    for (const auto& item : items) out += (out.empty() ? "" : separator) + item;
    return out;
}

const WorkloadDef& workload_def(const std::string& name) {
    static const std::vector<WorkloadDef> defs = {
        {"pingpong",
         {{"requests_per_s", "req/s", 0},
          {"mb_per_s", "MB/s", 1},
          {"p50_us", "p50 us", 1},
          {"p90_us", "p90 us", 1},
          {"p99_us", "p99 us", 1},
          {"p999_us", "p99.9 us", 1},
          {"max_us", "max us", 0},
          {"errors", "errors", 0},
          {"cpu_busy_percent", "cpu %", 1},
          {"cpu_us_per_request", "cpu us/req", 2},
          {"client_cpu_us_per_request", "client us/req", 2},
          {"client_user_us_per_request", "(user)", 2}}},
        {"stream",
         {{"recv_mb_per_s", "MB/s back", 1},
          {"send_mb_per_s", "MB/s sent", 1},
          {"p50_us", "p50 us", 1},
          {"p99_us", "p99 us", 1},
          {"errors", "errors", 0},
          {"cpu_busy_percent", "cpu %", 1},
          {"cpu_us_per_mb", "cpu us/MB", 0},
          {"client_cpu_us_per_mb", "client us/MB", 0}}},
        {"burst",
         {{"mean_us", "mean us", 1},
          {"median_us", "median us", 1},
          {"p99_us", "p99 us", 1},
          {"max_us", "max us", 1},
          {"exchanges", "exchanges", 0},
          {"errors", "errors", 0},
          {"seconds", "seconds", 2}}},
    };
    for (const auto& d : defs)
        if (d.name == name) return d;
    throw Error("no report layout for workload '" + name + "'");
}

std::map<std::string, Stat> ModeResults::summary() const {
    std::map<std::string, std::vector<double>> columns;
    for (const auto& run : runs)
        for (const auto& [key, value] : run) columns[key].push_back(value);
    std::map<std::string, Stat> out;
    for (auto& [key, values] : columns) out[key] = summarize(values);
    return out;
}

std::string ModeResults::noise(const std::string& primary) const {
    auto s = summary();
    std::string why;
    if (runs.size() > 1 && s.count(primary) && s[primary].median > 0) {
        double spread = (s[primary].max - s[primary].min) / s[primary].median;
        if (spread > 0.10) why = "spread " + format_number(spread * 100, 0) + "%";
    }
    // Interference measured during the run, not the load average before it: the 1-minute load average
    // mostly shows this job's own previous runs (kecho's burst alone raises it past 100 on 2 CPUs).
    if (s.count("other_cpu_percent") && s["other_cpu_percent"].max > other_cpu_limit_percent)
        why += (why.empty() ? "" : ", ") + std::string("others used ") + format_number(s["other_cpu_percent"].max, 0) +
               "% of the CPUs";
    return why;
}

std::optional<double> Report::ratio(const ModeResults& mode) const {
    const std::string& primary = workload.metrics.front().key;
    for (const auto& m : modes) {
        if (m.target.mode != baseline || m.runs.empty()) continue;
        double base = m.summary()[primary].median;
        double mine = mode.runs.empty() ? NAN : mode.summary()[primary].median;
        if (!(base > 0) || std::isnan(mine)) return std::nullopt;
        return mine / base;
    }
    return std::nullopt;
}

std::string format_table(const Report& report) {
    const auto& metrics = report.workload.metrics;
    std::vector<std::vector<std::string>> rows = {{"mode", metrics.front().label + " median (min-max)"}};
    for (std::size_t i = 1; i < metrics.size(); ++i) rows[0].push_back(metrics[i].label);
    rows[0].insert(rows[0].end(), {"vs " + report.baseline, "noisy"});
    for (const auto& mode : report.modes) {
        auto s = mode.summary();
        rows.push_back({mode.target.mode, format_range(s[metrics.front().key], metrics.front().decimals)});
        for (std::size_t i = 1; i < metrics.size(); ++i)
            rows.back().push_back(s.count(metrics[i].key) ? format_number(s[metrics[i].key].median, metrics[i].decimals)
                                                          : "-");
        auto r = report.ratio(mode);
        std::string noise = mode.noise(metrics.front().key);
        rows.back().insert(rows.back().end(),
                           {r ? format_number(*r, 2) + "x" : "-", noise.empty() ? "-" : "noisy: " + noise});
    }
    std::vector<std::size_t> width(rows[0].size());
    for (const auto& row : rows)
        for (std::size_t c = 0; c < row.size(); ++c) width[c] = std::max(width[c], row[c].size());
    std::ostringstream out;
    for (const auto& row : rows) {
        out << row[0] << std::string(width[0] - row[0].size(), ' ');
        for (std::size_t c = 1; c < row.size(); ++c)
            out << "  " << std::string(width[c] - row[c].size(), ' ') << row[c];
        out << "\n";
    }
    for (const auto& [mode, why] : report.skipped) out << "skipped " << mode << ": " << why << "\n";
    return out.str();
}

nlohmann::json report_json(const Report& report) {
    nlohmann::json doc = {{"workload", report.workload.name},
                          {"run", report.run},
                          {"config", report.config},
                          {"baseline", report.baseline},
                          {"primary_metric", report.workload.metrics.front().key},
                          {"modes", nlohmann::json::array()},
                          {"skipped", nlohmann::json::array()}};
    for (const auto& mode : report.modes) {
        nlohmann::json summary = nlohmann::json::object();
        for (const auto& [key, s] : mode.summary())
            summary[key] = {{"median", s.median}, {"min", s.min}, {"max", s.max}};
        auto r = report.ratio(mode);
        std::string noise = mode.noise(report.workload.metrics.front().key);
        nlohmann::json m = {{"mode", mode.target.mode},
                            {"address", mode.target.address.to_string()},
                            {"runs", mode.runs},
                            {"summary", summary},
                            {"ratio_vs_baseline", r ? nlohmann::json(*r) : nlohmann::json(nullptr)},
                            {"errors", mode.errors},
                            {"noisy", noise.empty() ? nlohmann::json(nullptr) : nlohmann::json(noise)}};
        if (!mode.histograms.empty()) m["histograms"] = mode.histograms;
        doc["modes"].push_back(m);
    }
    for (const auto& [mode, why] : report.skipped) doc["skipped"].push_back({{"mode", mode}, {"reason", why}});
    return doc;
}

std::string report_csv(const Report& report) {
    // Where it ran and the client, on every row (the CSV must stand alone).
    const std::vector<std::string> run_keys = {"version", "git_commit", "kernel", "online_cpus", "started_utc"};
    const std::vector<std::string> client_keys = {"workers", "engine", "cpus", "layout"};
    const nlohmann::json client = report.run.value("client", nlohmann::json::object());
    std::ostringstream out;
    out << "workload,mode,run";
    for (const auto& k : run_keys) out << "," << k;
    for (const auto& k : client_keys) out << "," << (k == "layout" ? k : "client_" + k);
    for (const auto& [key, value] : report.config.items()) out << "," << key;
    for (const auto& m : report.workload.metrics) out << "," << m.key;
    out << "\n";
    for (const auto& mode : report.modes) {
        for (std::size_t r = 0; r < mode.runs.size(); ++r) {
            out << report.workload.name << "," << mode.target.mode << "," << r + 1;
            for (const auto& k : run_keys) out << "," << csv_field(report.run, k);
            for (const auto& k : client_keys) out << "," << csv_field(client, k);
            for (const auto& [key, value] : report.config.items()) out << "," << csv_field(report.config, key);
            for (const auto& m : report.workload.metrics) {
                auto it = mode.runs[r].find(m.key);
                out << ",";
                if (it != mode.runs[r].end()) out << it->second;
            }
            out << "\n";
        }
    }
    return out.str();
}

void write_text(const std::string& path, const std::string& text) {
    std::ofstream out(path);
    if (!out) throw Error(errno_message("cannot write " + path, errno));
    out << text;
    if (!out) throw Error("cannot write " + path + ": write failed");
}

void Figure::add_series(std::string& plot, const std::string& data, const std::string& style) {
    plot += (plot.empty() ? "plot '" : ", '") + data + "' " + style;
}

void Figure::draw(const std::string& script) const {
    const std::string script_path = data_path("plot.gp"), err_path = data_path("gnuplot.err");
    const bool svg = std::filesystem::path(path_).extension() == ".svg";
    {
        std::ofstream out(script_path);
        out << "set terminal " << (svg ? "svg size " : "pngcairo size ") << width_ << "," << height_
            << (svg ? " dynamic" : " font ',10'") << "\nset output '" << path_ << "'\n"
            << script;
        if (!out) throw Error("cannot write the gnuplot script for " + path_);
    }
    const std::string command = "gnuplot '" + script_path + "' 2>'" + err_path + "'";
    const int rc = std::system(command.c_str());
    if (rc == 0) return;
    if (WIFEXITED(rc) && WEXITSTATUS(rc) == 127)
        throw Error("cannot draw " + path_ + ": gnuplot is not installed (apt-get install gnuplot-nox)");
    std::ifstream in(err_path);
    std::string line, text;
    while (std::getline(in, line))  // the message is the last non-empty line (the ones above quote the script)
        if (line.find_first_not_of(" \t^") != std::string::npos) text = line;
    throw Error("gnuplot failed to draw " + path_ + (text.empty() ? "" : ": " + text));
}

namespace {

// kecho's burst plot: one point per thread, its average time, one series per mode.
void burst_plot(const Report& report, const Figure& figure, std::ostringstream& script) {
    std::string plot;
    for (const auto& [mode, series] : report.burst_series) {
        std::ofstream out(figure.data_path(mode + ".dat"));
        for (std::size_t i = 0; i < series.size(); ++i) out << i << " " << series[i] << "\n";
        Figure::add_series(plot, figure.data_path(mode + ".dat"),
                           "using 1:2 with points pt 7 ps 0.4 title '" + mode + "'");
    }
    script << "set title 'burst: " << report.config.value("threads", 0) << " threads x "
           << report.config.value("rounds", 0) << " rounds'\nset xlabel 'thread id'\nset ylabel 'time (usec)'\n"
           << "set key outside right\n"
           << plot << "\n";
}

// Latency percentiles and the primary metric with its min-max, one group per mode.
void summary_plot(const Report& report, const Figure& figure, std::ostringstream& script) {
    const auto& w = report.workload;
    std::string data = figure.data_path("summary.dat");
    std::ofstream out(data);
    const auto& primary = w.metrics.front();
    bool pingpong = w.name == "pingpong";
    for (const auto& mode : report.modes) {
        auto s = mode.summary();
        auto get = [&](const std::string& k) { return s.count(k) ? s[k].median : 0.0; };
        out << mode.target.mode << " " << get("p50_us") << " " << (pingpong ? get("p90_us") : 0) << " " << get("p99_us")
            << " " << (pingpong ? get("p999_us") : 0) << " " << (pingpong ? get("max_us") : 0) << " "
            << s[primary.key].median << " " << s[primary.key].min << " " << s[primary.key].max << "\n";
    }
    out.close();
    std::string title = report.title.empty() ? w.name + ": " + report.config.dump() : report.title;
    std::replace(title.begin(), title.end(), '\'', ' ');
    std::replace(title.begin(), title.end(), '"', ' ');
    script << "set multiplot layout 1,2 title '" << title << "' noenhanced\n"
           << "set style data histograms\nset style fill solid 0.8 border -1\nset grid ytics\n"
           << "set style histogram clustered gap 1\nset logscale y\nset ylabel 'latency (us, log scale)'\n"
           << "set title 'latency percentiles (median of runs)'\nset key top left\n"
           << "plot '" << data << "' using 2:xtic(1) title 'p50'";
    if (pingpong) script << ", '' using 3 title 'p90'";
    script << ", '' using 4 title 'p99'";
    if (pingpong) script << ", '' using 5 title 'p99.9', '' using 6 title 'max'";
    script << "\nunset logscale y\nset yrange [0:*]\nset style histogram errorbars gap 2 lw 1\n"
           << "set title '" << primary.label << " (median, bars: min-max)'\nset ylabel '" << primary.label << "'\n"
           << "plot '" << data << "' using 7:8:9:xtic(1) title '" << primary.label << "'\n"
           << "unset multiplot\n";
}

}  // namespace

void plot_report(const Report& report, const std::string& path) {
    if (report.modes.empty()) throw Error("nothing to plot: no mode produced results");
    Figure figure(path, 1400, 560);
    std::ostringstream script;
    if (report.workload.name == "burst")
        burst_plot(report, figure, script);
    else
        summary_plot(report, figure, script);
    figure.draw(script.str());
}

}  // namespace kecho::bench
