// SPDX-License-Identifier: GPL-2.0-only
// A report as people read it: numbers, the tables (the usual one, the CPU split, per-metric rows,
// counts per unit), its JSON, and its gnuplot figures.
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
#include "kecho/servers.h"

namespace kecho::bench {
namespace {

// The latency percentiles a summary plot may show, in its data file's columns 2 to 6.
constexpr const char* plot_percentiles[][2] = {
    {"p50_us", "p50"}, {"p90_us", "p90"}, {"p99_us", "p99"}, {"p999_us", "p99.9"}, {"max_us", "max"}};

bool has_metric(const WorkloadDef& layout, const std::string& key) {
    return std::any_of(layout.metrics.begin(), layout.metrics.end(), [&](const MetricDef& m) { return m.key == key; });
}

// "req" for "request", "MB" for "mb": how a CPU unit reads in a heading.
std::string unit_label(const std::string& unit) {
    if (unit == "request") return "req";
    if (unit == "mb") return "MB";
    return unit;
}

// The median of a metric across a target's runs, NaN when no run has it.
double median_of(const ModeResults& mode, const std::string& key) {
    auto s = mode.summary();
    return s.count(key) ? s[key].median : NAN;
}

}  // namespace

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

std::string format_estimate(const Stat& stat, int decimals) {
    if (!stat.has_interval()) return format_range(stat, decimals);
    return format_number(stat.median, decimals) + " [" + format_number(stat.low, decimals) + "-" +
           format_number(stat.high, decimals) + "]";
}

std::string format_ratio(const Ratio& ratio) {
    std::string out = format_number(ratio.value, 2) + "x";
    if (ratio.has_interval()) out += " [" + format_number(ratio.low, 2) + "-" + format_number(ratio.high, 2) + "]";
    return out;
}

std::string join(const std::vector<std::string>& items, const std::string& separator) {
    std::string out;
    for (const auto& item : items) out += (out.empty() ? "" : separator) + item;
    return out;
}

std::string format_columns(const std::vector<std::vector<std::string>>& rows, bool left) {
    std::vector<std::size_t> width;
    for (const auto& row : rows)
        for (std::size_t c = 0; c < row.size(); ++c) {
            if (width.size() <= c) width.push_back(0);
            width[c] = std::max(width[c], row[c].size());
        }
    std::ostringstream out;
    for (const auto& row : rows) {
        std::string line;
        for (std::size_t c = 0; c < row.size(); ++c) {
            const std::string pad(width[c] - row[c].size(), ' ');
            if (c > 0) line += "  ";
            line += c == 0 || left ? row[c] + pad : pad + row[c];
        }
        while (!line.empty() && line.back() == ' ') line.pop_back();
        out << line << "\n";
    }
    return out.str();
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

const ModeResults* Report::baseline_row() const {
    const ModeResults* best = nullptr;
    const std::string& key = primary().key;
    for (const auto& m : modes) {
        const ServerEntry* server = find_server(m.target.server_name());
        const bool user = baseline == best_user_baseline && server && server->role == ServerRole::user;
        if ((m.target.name != baseline && m.target.label() != baseline && !user) || m.runs.empty() || m.failed())
            continue;
        if (!best || better(median_of(m, key), median_of(*best, key), primary().lower_is_better)) best = &m;
    }
    return best;
}

std::optional<Ratio> Report::ratio(const ModeResults& mode) const {
    const ModeResults* base = baseline_row();
    if (!base || mode.runs.empty() || mode.failed()) return std::nullopt;
    const Ratio r = ratio_of(mode.summary()[primary().key], base->summary()[primary().key]);
    if (!(r.value > 0)) return std::nullopt;
    return r;
}

Verdict Report::verdict(const ModeResults& mode) const {
    const ModeResults* base = baseline_row();
    if (!base || mode.runs.empty() || mode.failed()) return Verdict::unranked;
    return compare(mode.summary()[primary().key], base->summary()[primary().key], primary().lower_is_better);
}

std::string Report::scale() const {
    for (std::string key : {"connections", "threads"})
        if (config.contains(key) && config[key].is_number())
            return "at " + config[key].dump() + " " + (config[key] == 1 ? key.substr(0, key.size() - 1) : key);
    return "";
}

namespace {

// The ratio and verdict cells of a row: "1.23x [1.10-1.35]" and "faster"; the baseline's own
// "1.00x" and "baseline"; "-" and "-" for a row that cannot have one.
std::pair<std::string, std::string> ratio_cells(const Report& report, const ModeResults& mode) {
    const auto r = report.ratio(mode);
    if (!r) return {"-", "-"};
    if (&mode == report.baseline_row()) return {"1.00x", "baseline"};
    return {format_ratio(*r), verdict_name(report.verdict(mode))};
}

}  // namespace

std::string format_table(const Report& report) {
    const auto& metrics = report.workload.metrics;
    std::vector<std::vector<std::string>> rows = {{"mode", metrics.front().label + " median [95% interval]", "runs"}};
    for (std::size_t i = 1; i < metrics.size(); ++i) rows[0].push_back(metrics[i].label);
    rows[0].insert(rows[0].end(), {"vs " + report.baseline, "verdict", "noisy"});
    for (const auto& mode : report.modes) {
        auto s = mode.summary();
        const bool failed = mode.failed();
        rows.push_back({mode.target.label(),
                        failed ? "FAILED" : format_estimate(s[metrics.front().key], metrics.front().decimals),
                        std::to_string(mode.runs.size())});
        for (std::size_t i = 1; i < metrics.size(); ++i)
            rows.back().push_back(!failed && s.count(metrics[i].key)
                                      ? format_number(s[metrics[i].key].median, metrics[i].decimals)
                                      : "-");
        auto [ratio, verdict] = ratio_cells(report, mode);
        std::string noise = failed ? "" : mode.noise(metrics.front().key);
        rows.back().insert(rows.back().end(), {ratio, verdict, noise.empty() ? "-" : "noisy: " + noise});
    }
    std::string out = format_columns(rows);
    for (const auto& [name, why] : report.skipped) out += "skipped " + name + ": " + why + "\n";
    for (const auto& mode : report.modes)
        if (mode.failed())
            out += "FAILED " + mode.target.label() + " " + report.scale() +
                   (mode.runs.empty() ? ""
                                      : " (" + std::to_string(mode.errors.size()) + " of " +
                                            std::to_string(mode.runs.size()) + " runs)") +
                   ": " + mode.errors.front() + "\n";
    const bool unranked = std::any_of(report.modes.begin(), report.modes.end(), [&](const ModeResults& m) {
        return !m.failed() && !m.runs.empty() && m.runs.size() < runs_for_interval;
    });
    if (unranked)
        out += "(min-max): fewer than " + std::to_string(runs_for_interval) +
               " runs give no 95% interval: such rows are not ranked (unranked)\n";
    return out;
}

std::string format_cpu_split(const Report& report) {
    const std::string& unit = report.workload.cpu_unit;
    if (unit.empty()) return "";
    const std::string per = " us/" + unit_label(unit), suffix = "_per_" + unit;
    std::vector<std::vector<std::string>> rows = {{"mode", "machine %", "server %", "machine" + per, "client" + per,
                                                   "server" + per, "kernel threads" + per, "other" + per,
                                                   "server vs " + report.baseline}};
    const ModeResults* base = nullptr;
    for (const auto& mode : report.modes)
        if (mode.target.name == report.baseline) base = &mode;
    bool measured = false;
    for (const auto& mode : report.modes) {
        measured = measured || !std::isnan(median_of(mode, "cpu_busy_percent"));
        const double server = median_of(mode, "server_cpu_us" + suffix);
        const double base_server = base ? median_of(*base, "server_cpu_us" + suffix) : NAN;
        rows.push_back({mode.target.name, format_number(median_of(mode, "cpu_busy_percent"), 1),
                        format_number(median_of(mode, "server_cpu_percent"), 1)});
        for (const char* key : {"cpu_us", "client_cpu_us", "server_cpu_us", "kernel_thread_us", "other_cpu_us"})
            rows.back().push_back(format_number(median_of(mode, key + suffix), 2));
        rows.back().push_back(base_server > 0 ? format_number(server / base_server, 2) + "x" : "-");
    }
    if (!measured) return "";
    return "CPU (median of the runs; server %: of one CPU, its process's time as --server-info pid= names it)\n" +
           format_columns(rows);
}

std::string format_metric_rows(const Report& report) {
    std::ostringstream out;
    char line[512];
    for (const auto& mode : report.modes) {
        const auto s = mode.summary();
        for (const auto& metric : report.workload.metrics) {
            auto it = s.find(metric.key);
            if (it == s.end() || std::isnan(it->second.median)) continue;
            std::snprintf(line, sizeof(line), "%-12s %-44s %12.1f  (%.1f-%.1f)\n", mode.target.name.c_str(),
                          metric.label.c_str(), it->second.median, it->second.min, it->second.max);
            out << line;
        }
    }
    return out.str();
}

std::string format_counts(const Report& report) {
    if (report.counts.empty()) return "";
    std::vector<std::string> columns;  // every "who event" of every target, in name order
    for (const auto& [name, counts] : report.counts)
        for (const auto& [key, value] : counts)
            if (std::find(columns.begin(), columns.end(), key) == columns.end()) columns.push_back(key);
    std::vector<std::vector<std::string>> rows = {{"mode", "work units"}};
    rows[0].insert(rows[0].end(), columns.begin(), columns.end());
    for (const auto& mode : report.modes) {
        auto it = report.counts.find(mode.target.name);
        if (it == report.counts.end()) continue;
        const double units = median_of(mode, "work_units");
        rows.push_back({mode.target.name, format_number(units)});
        for (const auto& key : columns) {
            auto c = it->second.find(key);
            rows.back().push_back(c == it->second.end() || !(units > 0) ? "-" : format_number(c->second / units, 2));
        }
    }
    return "per " + unit_label(report.workload.cpu_unit) + " (counts from perf stat over the run)\n" +
           format_columns(rows);
}

namespace {

// A row in a report's JSON: its runs, and (unless it failed: then no figure) each metric's median,
// min-max and 95% interval, its ratio to the baseline with the ratio's interval and verdict.
nlohmann::json mode_json(const Report& report, const ModeResults& mode) {
    nlohmann::json summary = nlohmann::json::object();
    if (!mode.failed())
        for (const auto& [key, s] : mode.summary())
            summary[key] = {{"median", s.median}, {"min", s.min},   {"max", s.max},
                            {"low", s.low},       {"high", s.high}, {"runs", s.runs}};
    const auto r = report.ratio(mode);
    const std::string noise = mode.failed() ? "" : mode.noise(report.primary().key);
    nlohmann::json m = {
        {"mode", mode.target.label()},
        {"target", mode.target.name},
        {"server", mode.target.server_name()},
        {"client_workers", mode.target.client_workers},
        {"address", mode.target.address.to_string()},
        {"runs", mode.runs},
        {"summary", summary},
        {"failed", mode.failed()},
        {"ratio_vs_baseline", r ? nlohmann::json(r->value) : nlohmann::json(nullptr)},
        {"ratio_interval", r && r->has_interval() ? nlohmann::json({r->low, r->high}) : nlohmann::json(nullptr)},
        {"verdict", verdict_name(report.verdict(mode))},
        {"errors", mode.errors},
        {"noisy", noise.empty() ? nlohmann::json(nullptr) : nlohmann::json(noise)}};
    if (!mode.histograms.empty()) m["histograms"] = mode.histograms;
    if (report.counts.count(mode.target.name)) m["counts"] = report.counts.at(mode.target.name);
    return m;
}

}  // namespace

nlohmann::json report_json(const Report& report) {
    nlohmann::json doc = {{"workload", report.workload.name},
                          {"title", report.title},
                          {"run", report.run},
                          {"config", report.config},
                          {"baseline", report.baseline},
                          {"primary_metric", report.primary().key},
                          {"lower_is_better", report.primary().lower_is_better},
                          {"scale", report.scale()},
                          {"modes", nlohmann::json::array()},
                          {"skipped", nlohmann::json::array()}};
    for (const auto& mode : report.modes) doc["modes"].push_back(mode_json(report, mode));
    for (const auto& [name, why] : report.skipped) doc["skipped"].push_back({{"mode", name}, {"reason", why}});
    return doc;
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

// Latency percentiles (those the layout has) and the primary metric with its min-max, one group per
// target.
void summary_plot(const Report& report, const Figure& figure, std::ostringstream& script) {
    const auto& w = report.workload;
    std::string data = figure.data_path("summary.dat");
    std::ofstream out(data);
    const auto& primary = w.metrics.front();
    for (const auto& mode : report.modes) {
        auto s = mode.summary();
        out << mode.target.name;
        for (const auto& p : plot_percentiles) out << " " << (s.count(p[0]) ? s[p[0]].median : 0.0);
        out << " " << s[primary.key].median << " " << s[primary.key].min << " " << s[primary.key].max << "\n";
    }
    out.close();
    std::string title = report.title.empty() ? w.name + ": " + report.config.dump() : report.title;
    std::replace(title.begin(), title.end(), '\'', ' ');
    std::replace(title.begin(), title.end(), '"', ' ');
    script << "set multiplot layout 1,2 title '" << title << "' noenhanced\n"
           << "set style data histograms\nset style fill solid 0.8 border -1\nset grid ytics\n"
           << "set style histogram clustered gap 1\nset logscale y\nset ylabel 'latency (us, log scale)'\n"
           << "set title 'latency percentiles (median of runs)'\nset key top left\n";
    std::string plot;
    for (std::size_t i = 0; i < std::size(plot_percentiles); ++i)
        if (has_metric(w, plot_percentiles[i][0]))
            plot += (plot.empty() ? "plot '" + data + "' using " : ", '' using ") + std::to_string(i + 2) +
                    (plot.empty() ? ":xtic(1)" : "") + " title '" + plot_percentiles[i][1] + "'";
    script << plot << "\nunset logscale y\nset yrange [0:*]\nset style histogram errorbars gap 2 lw 1\n"
           << "set title '" << primary.label << " (median, bars: min-max)'\nset ylabel '" << primary.label << "'\n"
           << "plot '" << data << "' using 7:8:9:xtic(1) title '" << primary.label << "'\n"
           << "unset multiplot\n";
}

}  // namespace

void plot_report(const Report& report, const std::string& path) {
    if (report.modes.empty()) throw Error("nothing to plot: no mode produced results");
    Figure figure(path, 1400, 560);
    std::ostringstream script;
    summary_plot(report, figure, script);
    figure.draw(script.str());
}

void plot_per_thread(const Report& report, const std::map<std::string, std::vector<double>>& series,
                     const std::string& path) {
    if (series.empty()) throw Error("nothing to plot: no mode produced results");
    Figure figure(path, 1400, 560);
    std::string plot;
    for (const auto& [name, times] : series) {
        std::ofstream out(figure.data_path(name + ".dat"));
        for (std::size_t i = 0; i < times.size(); ++i) out << i << " " << times[i] << "\n";
        Figure::add_series(plot, figure.data_path(name + ".dat"),
                           "using 1:2 with points pt 7 ps 0.4 title '" + name + "'");
    }
    std::ostringstream script;
    script << "set title 'burst: " << report.config.value("threads", 0) << " threads x "
           << report.config.value("rounds", 0) << " rounds'\nset xlabel 'thread id'\nset ylabel 'time (usec)'\n"
           << "set key outside right\n"
           << plot << "\n";
    figure.draw(script.str());
}

}  // namespace kecho::bench
