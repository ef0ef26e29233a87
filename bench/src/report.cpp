// SPDX-License-Identifier: GPL-2.0-only
#include "bench/report.h"

#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "kecho/error.h"

namespace kecho::bench {
namespace {

std::string number(double value, int decimals) {
    if (std::isnan(value)) return "-";
    char text[64];
    if (decimals == 0 && std::fabs(value) >= 1000) {
        // 1234567 -> 1,234,567: easier to read in a table.
        std::snprintf(text, sizeof(text), "%.0f", value);
        std::string digits = text, out;
        int count = 0;
        for (auto it = digits.rbegin(); it != digits.rend(); ++it) {
            if (count && count % 3 == 0 && *it != '-') out.insert(out.begin(), ',');
            out.insert(out.begin(), *it);
            ++count;
        }
        return out;
    }
    std::snprintf(text, sizeof(text), "%.*f", decimals, value);
    return text;
}

// A CSV field: quoted when it holds a comma, a quote or a newline.
std::string csv_cell(const std::string& value) {
    if (value.find_first_of(",\"\n") == std::string::npos) return value;
    std::string out = "\"";
    for (char c : value) out += c == '"' ? std::string("\"\"") : std::string(1, c);
    return out + "\"";
}

std::string ends_with_ext(const std::string& path) {
    return std::filesystem::path(path).extension().string();
}

}  // namespace

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
          {"client_user_us_per_request", "(user)", 2}},
         false},
        {"stream",
         {{"recv_mb_per_s", "MB/s back", 1},
          {"send_mb_per_s", "MB/s sent", 1},
          {"p50_us", "p50 us", 1},
          {"p99_us", "p99 us", 1},
          {"errors", "errors", 0},
          {"cpu_busy_percent", "cpu %", 1},
          {"cpu_us_per_mb", "cpu us/MB", 0},
          {"client_cpu_us_per_mb", "client us/MB", 0}},
         false},
        {"burst",
         {{"mean_us", "mean us", 1},
          {"median_us", "median us", 1},
          {"p99_us", "p99 us", 1},
          {"max_us", "max us", 1},
          {"exchanges", "exchanges", 0},
          {"errors", "errors", 0},
          {"seconds", "seconds", 2}},
         true},
    };
    for (const auto& d : defs)
        if (d.name == name) return d;
    throw Error("no report layout for workload '" + name + "'");
}

Stat summarize(std::vector<double> values) {
    Stat s;
    if (values.empty()) return {NAN, NAN, NAN};
    std::sort(values.begin(), values.end());
    s.min = values.front();
    s.max = values.back();
    std::size_t n = values.size();
    s.median = n % 2 ? values[n / 2] : (values[n / 2 - 1] + values[n / 2]) / 2;
    return s;
}

std::map<std::string, Stat> ModeResults::summary() const {
    std::map<std::string, std::vector<double>> columns;
    for (const auto& run : runs)
        for (const auto& [key, value] : run) columns[key].push_back(value);
    std::map<std::string, Stat> out;
    for (auto& [key, values] : columns) out[key] = summarize(values);
    return out;
}

std::string ModeResults::noise(const std::string& primary, double cpus) const {
    auto s = summary();
    std::string why;
    if (runs.size() > 1 && s.count(primary) && s[primary].median > 0) {
        double spread = (s[primary].max - s[primary].min) / s[primary].median;
        if (spread > 0.10) why = "spread " + number(spread * 100, 0) + "%";
    }
    // Interference measured during the run, not the load average before it: the 1-minute load average
    // mostly shows this job's own previous runs (kecho's burst alone raises it past 100 on 2 CPUs).
    if (s.count("other_cpu_percent") && s["other_cpu_percent"].max > other_cpu_limit_percent)
        why += (why.empty() ? "" : ", ") + std::string("others used ") + number(s["other_cpu_percent"].max, 0) +
               "% of the CPUs";
    (void)cpus;
    return why;
}

std::optional<double> Report::ratio(const ModeResults& mode) const {
    const std::string& primary = workload.metrics.front().key;
    for (const auto& m : modes) {
        if (mode_name(m.target.mode) != baseline || m.runs.empty()) continue;
        double base = m.summary()[primary].median;
        double mine = mode.runs.empty() ? NAN : mode.summary()[primary].median;
        if (!(base > 0) || std::isnan(mine)) return std::nullopt;
        return mine / base;
    }
    return std::nullopt;
}

std::string format_table(const Report& report) {
    const auto& metrics = report.workload.metrics;
    std::vector<std::string> header = {"mode"};
    header.push_back(metrics.front().label + " median (min-max)");
    for (std::size_t i = 1; i < metrics.size(); ++i) header.push_back(metrics[i].label);
    header.push_back("vs " + report.baseline);
    header.push_back("noisy");
    const double cpus = report.run.value("online_cpus", 0.0);
    std::vector<std::vector<std::string>> rows;
    for (const auto& mode : report.modes) {
        auto s = mode.summary();
        std::vector<std::string> row = {mode_name(mode.target.mode)};
        const auto& p = metrics.front();
        row.push_back(number(s[p.key].median, p.decimals) + " (" + number(s[p.key].min, p.decimals) + "-" +
                      number(s[p.key].max, p.decimals) + ")");
        for (std::size_t i = 1; i < metrics.size(); ++i)
            row.push_back(s.count(metrics[i].key) ? number(s[metrics[i].key].median, metrics[i].decimals) : "-");
        auto r = report.ratio(mode);
        row.push_back(r ? number(*r, 2) + "x" : "-");
        std::string noise = mode.noise(p.key, cpus);
        row.push_back(noise.empty() ? "-" : "noisy: " + noise);
        rows.push_back(row);
    }
    std::vector<std::size_t> width(header.size());
    for (std::size_t c = 0; c < header.size(); ++c) {
        width[c] = header[c].size();
        for (const auto& row : rows) width[c] = std::max(width[c], row[c].size());
    }
    std::ostringstream out;
    auto line = [&](const std::vector<std::string>& cells) {
        for (std::size_t c = 0; c < cells.size(); ++c) {
            if (c == 0)
                out << cells[c] << std::string(width[c] - cells[c].size(), ' ');
            else
                out << "  " << std::string(width[c] - cells[c].size(), ' ') << cells[c];
        }
        out << "\n";
    };
    line(header);
    for (const auto& row : rows) line(row);
    for (const auto& [mode, why] : report.skipped) out << "skipped " << mode << ": " << why << "\n";
    return out.str();
}

nlohmann::json report_json(const Report& report) {
    nlohmann::json doc;
    doc["workload"] = report.workload.name;
    doc["run"] = report.run;
    doc["config"] = report.config;
    doc["baseline"] = report.baseline;
    doc["primary_metric"] = report.workload.metrics.front().key;
    doc["modes"] = nlohmann::json::array();
    for (const auto& mode : report.modes) {
        nlohmann::json m;
        m["mode"] = mode_name(mode.target.mode);
        m["address"] = mode.target.address.to_string();
        m["runs"] = mode.runs;
        nlohmann::json summary = nlohmann::json::object();
        for (const auto& [key, s] : mode.summary())
            summary[key] = {{"median", s.median}, {"min", s.min}, {"max", s.max}};
        m["summary"] = summary;
        auto r = report.ratio(mode);
        m["ratio_vs_baseline"] = r ? nlohmann::json(*r) : nlohmann::json(nullptr);
        m["errors"] = mode.errors;
        if (!mode.histograms.empty()) m["histograms"] = mode.histograms;
        std::string noise = mode.noise(report.workload.metrics.front().key, report.run.value("online_cpus", 0.0));
        m["noisy"] = noise.empty() ? nlohmann::json(nullptr) : nlohmann::json(noise);
        doc["modes"].push_back(m);
    }
    doc["skipped"] = nlohmann::json::array();
    for (const auto& [mode, why] : report.skipped) doc["skipped"].push_back({{"mode", mode}, {"reason", why}});
    return doc;
}

std::string report_csv(const Report& report) {
    std::ostringstream out;
    std::vector<std::string> config_keys;
    for (const auto& [key, value] : report.config.items()) config_keys.push_back(key);
    // Where it ran, on every row (the CSV must stand alone).
    const std::vector<std::string> run_keys = {"version", "git_commit", "kernel", "online_cpus", "started_utc"};
    auto run_cell = [&](const std::string& key) {
        if (!report.run.contains(key)) return std::string();
        const auto& v = report.run[key];
        return v.is_string() ? v.get<std::string>() : v.dump();
    };
    out << "workload,mode,run";
    for (const auto& k : run_keys) out << "," << k;
    out << ",client_workers,client_engine,client_cpus,layout";
    for (const auto& k : config_keys) out << "," << k;
    for (const auto& m : report.workload.metrics) out << "," << m.key;
    out << "\n";
    for (const auto& mode : report.modes) {
        for (std::size_t r = 0; r < mode.runs.size(); ++r) {
            out << report.workload.name << "," << mode_name(mode.target.mode) << "," << r + 1;
            for (const auto& k : run_keys) out << "," << csv_cell(run_cell(k));
            const nlohmann::json client = report.run.value("client", nlohmann::json::object());
            for (const char* k : {"workers", "engine", "cpus", "layout"}) {
                auto v = client.contains(k) ? client[k] : nlohmann::json(nullptr);
                out << "," << csv_cell(v.is_string() ? v.get<std::string>() : v.is_null() ? "" : v.dump());
            }
            for (const auto& k : config_keys) {
                const auto& v = report.config[k];
                out << "," << (v.is_string() ? v.get<std::string>() : v.dump());
            }
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

namespace {

// kecho's burst plot: one point per thread, its average time, one series per mode.
void burst_plot(const Report& report, const std::string& dir, std::ostringstream& script) {
    script << "set title 'burst: " << report.config.value("threads", 0) << " threads x "
           << report.config.value("rounds", 0) << " rounds'\nset xlabel 'thread id'\nset ylabel 'time (usec)'\n"
           << "set key outside right\nplot ";
    bool first = true;
    for (const auto& [mode, series] : report.burst_series) {
        std::string data = dir + "/" + mode + ".dat";
        std::ofstream out(data);
        for (std::size_t i = 0; i < series.size(); ++i) out << i << " " << series[i] << "\n";
        script << (first ? "" : ", ") << "'" << data << "' using 1:2 with points pt 7 ps 0.4 title '" << mode << "'";
        first = false;
    }
    script << "\n";
}

// Latency percentiles and the primary metric with its min-max, one group per mode.
void summary_plot(const Report& report, const std::string& dir, std::ostringstream& script) {
    const auto& w = report.workload;
    std::string data = dir + "/summary.dat";
    std::ofstream out(data);
    const auto& primary = w.metrics.front();
    bool pingpong = w.name == "pingpong";
    for (const auto& mode : report.modes) {
        auto s = mode.summary();
        auto get = [&](const std::string& k) { return s.count(k) ? s[k].median : 0.0; };
        out << mode_name(mode.target.mode) << " " << get("p50_us") << " " << (pingpong ? get("p90_us") : 0) << " "
            << get("p99_us") << " " << (pingpong ? get("p999_us") : 0) << " " << (pingpong ? get("max_us") : 0) << " "
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
    std::string ext = ends_with_ext(path);
    if (ext != ".png" && ext != ".svg") throw Error("cannot plot to " + path + ": the file must end in .png or .svg");
    if (report.modes.empty()) throw Error("nothing to plot: no mode produced results");
    char dir_template[] = "/tmp/kecho-bench-plot.XXXXXX";
    if (!::mkdtemp(dir_template)) throw_errno("cannot create a temporary directory for the plot", errno);
    const std::string dir = dir_template;
    const std::string terminal = ext == ".png" ? "pngcairo size 1400,560 font ',10'" : "svg size 1400,560 dynamic";
    std::ostringstream script;
    script << "set terminal " << terminal << "\nset output '" << path << "'\n";
    if (report.workload.name == "burst")
        burst_plot(report, dir, script);
    else
        summary_plot(report, dir, script);
    std::string script_path = dir + "/plot.gp";
    {
        std::ofstream out(script_path);
        out << script.str();
    }
    std::string command = "gnuplot '" + script_path + "' 2>" + dir + "/gnuplot.err";
    int rc = std::system(command.c_str());
    std::string err;
    {
        std::ifstream in(dir + "/gnuplot.err");
        std::getline(in, err);
    }
    std::filesystem::remove_all(dir);
    if (rc != 0) {
        if (WIFEXITED(rc) && WEXITSTATUS(rc) == 127)
            throw Error("cannot plot: gnuplot is not installed (apt-get install gnuplot-nox)");
        throw Error("gnuplot failed to draw " + path + (err.empty() ? "" : ": " + err));
    }
}

}  // namespace kecho::bench
