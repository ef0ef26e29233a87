// SPDX-License-Identifier: GPL-2.0-only
// bench summarize: summary.md (summary_sections.cpp), all.csv and the figures of a results directory,
// as its manifest.json declares it (summary_files.cpp reads it).
#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "bench/results.h"
#include "kecho/error.h"
#include "summary_files.h"

namespace kecho::bench {
namespace {

namespace fs = std::filesystem;
using namespace summary;

// Per connection count, each server's row of the closed-loop files (each server at its best there)
// and the busy-poll reference's (measured alone); failed servers left out.
std::map<int, std::map<std::string, Entry>> best_pingpong(const Results& r) {
    const Failures failures = failed_servers(r);
    std::map<int, std::map<std::string, Entry>> best;
    for (const char* role : {"closed-loop", "reference"})
        for (const auto& e : entries_of(r.files, role, "pingpong"))
            if (!failures.count(server_of(*e.mode)) && !e.mode->value("runs", json::array()).empty())
                best[connections_of(*e.file)][server_of(*e.mode)] = e;
    return best;
}

// One data file per server for the figure: connections, req/s, p99, CPU us/req (at its best).
std::string sweep_plot_lines(const Figure& figure, const Results& r, int column, bool with_title) {
    std::map<std::string, std::ofstream> data;
    for (const auto& [conns, modes] : best_pingpong(r))
        for (const auto& [mode, e] : modes) {
            auto& out = data[mode];
            if (!out.is_open()) out.open(figure.data_path("sweep-" + mode + ".dat"));
            out << conns << " " << median_of(*e.mode, "requests_per_s") << " " << median_of(*e.mode, "p99_us") << " "
                << median_of(*e.mode, "cpu_us_per_request") << "\n";
        }
    std::string plot;
    for (auto& [mode, out] : data) {
        out.close();
        const bool floor = is_reference(mode);
        Figure::add_series(
            plot, figure.data_path("sweep-" + mode + ".dat"),
            "using 1:" + std::to_string(column) + " with linespoints lw 2" + (floor ? " dt 2" : "") +
                (with_title ? " title '" + mode + (floor ? " (busy-poll reference)" : "") + "'" : " notitle"));
    }
    return plot.empty() ? "plot 0 notitle" : plot;
}

std::string stream_bars(const Figure& figure, const Results& r) {
    const Failures failures = failed_servers(r);
    auto entries = entries_of(r.files, "stream");
    std::erase_if(entries, [&](const Entry& e) { return failures.count(server_of(*e.mode)) > 0; });
    if (entries.empty()) return "plot 0 notitle\n";
    std::ofstream out(figure.data_path("stream.dat"));
    for (const auto& e : entries) {
        const Stat s = stat_of(*e.mode, "recv_mb_per_s");
        out << server_of(*e.mode) << " " << s.median << " " << s.min << " " << s.max << "\n";
    }
    return "set style data histograms\nset style histogram errorbars gap 2 lw 1\nset style fill solid 0.7 border -1\n"
           "set yrange [0:*]\nplot '" +
           figure.data_path("stream.dat") + "' using 2:3:4:xtic(1) notitle\n";
}

// "(1, 8, 64, 1000)": gnuplot's x tics at the connection counts measured.
std::string connection_tics(const Results& r) {
    std::vector<std::string> counts;
    for (const auto& [conns, modes] : best_pingpong(r)) counts.push_back(std::to_string(conns));
    return "(" + join(counts) + ")";
}

void plot_sweep(const Results& r) {
    const Figure figure(r.dir + "/sweep.png", 1400, 900);
    const json run = r.files.front().doc.value("run", json::object());
    std::string title = "kecho-bpf on " + run.value("kernel", "?") + ", " +
                        std::to_string(run.value("online_cpus", 0)) + " CPUs (" + run.value("cpu_model", "?") + ")";
    std::replace(title.begin(), title.end(), '\'', ' ');
    std::ostringstream gp;
    gp << "set multiplot layout 2,2 title '" << title << "' noenhanced\nset grid\nset key top left noenhanced\n"
       << "set logscale x\nset xlabel 'connections'\nset xtics " << connection_tics(r) << "\n"
       << "set title 'req/s (each server at its best configuration)'\nset yrange [0:*]\n"
       << sweep_plot_lines(figure, r, 2, true) << "\n"
       << "set title 'p99 latency (us, log)'\nset logscale y\nset yrange [*:*]\n"
       << sweep_plot_lines(figure, r, 3, false) << "\nunset logscale y\n"
       << "set title 'CPU us per request (whole machine)'\nset yrange [0:*]\n"
       << sweep_plot_lines(figure, r, 4, false) << "\n"
       << "unset logscale x\nunset xlabel\nset xtics auto\nset title 'stream: MB/s back (median, bars: min-max)'\n"
       << stream_bars(figure, r);
    if (!manifest_entries(r.manifest, "guest-table").empty())
        gp << "set label 1 'kmod: measured only in a QEMU guest, emulated (TCG): compare ratios only (summary.md)' "
              "at screen 0.01,0.01\n";
    gp << "unset multiplot\n";
    figure.draw(gp.str());
}

void plot_latency_vs_load(const Results& r) {
    auto points = load_points(r.files);
    if (points.empty()) return;
    const Figure figure(r.dir + "/latency-vs-load.png", 1400, 560);
    std::string p50, p99;
    for (const auto& [mode, list] : points) {
        const std::string data = figure.data_path("load-" + mode + ".dat");
        std::ofstream out(data);
        for (const auto& e : list)
            out << rate_of(*e.file) << " " << median_of(*e.mode, "p50_us") << " " << median_of(*e.mode, "p99_us")
                << "\n";
        Figure::add_series(p50, data, "using 1:2 with linespoints lw 2 title '" + mode + "'");
        Figure::add_series(p99, data, "using 1:3 with linespoints lw 2 title '" + mode + "'");
    }
    std::ostringstream gp;
    gp << "set multiplot layout 1,2 title 'latency against offered load: open loop, "
       << connections_of(*points.begin()->second.front().file)
       << " connections, latency from the scheduled send time' noenhanced\nset grid\nset key top left noenhanced\n"
          "set logscale y\n"
       << "set xlabel 'offered load (req/s)'\nset ylabel 'us (log)'\nset title 'p50'\n"
       << p50 << "\nset title 'p99'\n"
       << p99 << "\nunset multiplot\n";
    figure.draw(gp.str());
}

// kecho's bench.gp, one series per mode: each thread's time against its rank (fastest first).
void plot_burst_scatter(const Results& r) {
    const Figure figure(r.dir + "/burst-scatter.png", 1000, 600);
    std::string plot;
    for (const auto& e : manifest_entries(r.manifest, "burst-series")) {
        const std::string mode = e.value("mode", "?"), name = "burst-" + mode;
        std::ifstream in(fs::path(r.dir) / e.at("file").get<std::string>());
        std::vector<double> times;
        double index = 0, us = 0;
        while (in >> index >> us) times.push_back(us);
        if (times.empty()) continue;
        std::sort(times.begin(), times.end());
        std::ofstream out(figure.data_path(name + ".dat"));
        for (std::size_t i = 0; i < times.size(); ++i) out << i << " " << times[i] << "\n";
        Figure::add_series(plot, figure.data_path(name + ".dat"),
                           "using 1:2 with points pt 7 ps 0.4 title '" + mode + "'");
    }
    if (plot.empty()) return;
    figure.draw(
        "set title 'burst (kecho bench): time per thread against completion rank' noenhanced\nset grid\n"
        "set xlabel 'rank (fastest thread first)'\nset ylabel 'time (usec)'\nset key top left noenhanced\n" +
        plot + "\n");
}

// The latency CDF of each mode (its runs' histograms merged) in one file's or one group's modes.
void plot_cdf(const std::string& path, const std::string& title, const std::vector<Entry>& entries) {
    const Figure figure(path, 1000, 600);
    std::string plot;
    for (const auto& e : entries) {
        const json& m = *e.mode;
        if (!m.contains("histograms") || m["histograms"].empty()) continue;
        LatencyHistogram all;
        for (const auto& h : m["histograms"]) all.merge(LatencyHistogram::from_json(h));
        if (!all.count()) continue;
        const std::string mode = server_of(m), data = figure.data_path("cdf-" + mode + ".dat");
        std::ofstream out(data);
        for (const auto& [ns, fraction] : all.cdf()) out << static_cast<double>(ns) / 1e3 << " " << fraction << "\n";
        Figure::add_series(
            plot, data,
            "using 1:2 with steps lw 2" + std::string(is_reference(mode) ? " dt 2" : "") + " title '" + mode + "'");
    }
    if (plot.empty()) return;
    figure.draw("set title '" + title +
                "' noenhanced\nset grid\nset logscale x\nset xlabel 'latency (us, log)'\n"
                "set ylabel 'fraction of requests <= x'\nset yrange [0:1]\nset key bottom right noenhanced\n" +
                plot + "\n");
}

// Draws the CDF figures; returns the paths drawn.
std::vector<std::string> plot_cdfs(const Results& r) {
    const std::string& dir = r.dir;
    std::vector<std::string> written;
    auto draw = [&](const std::string& path, const std::string& title, const std::vector<Entry>& entries) {
        plot_cdf(path, title, entries);
        if (fs::exists(path)) written.push_back(path);
    };
    for (const auto& [conns, modes] : best_pingpong(r)) {
        std::vector<Entry> entries;
        for (const auto& [mode, e] : modes) entries.push_back(e);
        const std::string c = std::to_string(conns);
        draw(dir + "/cdf-pingpong-c" + c + ".png",
             "pingpong latency CDF, " + c + " connections (each server at its best configuration)", entries);
    }
    const auto streams = entries_of(r.files, "stream");
    if (!streams.empty())
        draw(dir + "/cdf-stream.png",
             "stream: latency CDF of the echo of each " +
                 size_text(streams.front().file->doc.value("config", json::object()).value("size", 0)) + " write",
             streams);
    return written;
}

}  // namespace

std::vector<std::string> summarize_directory(const std::string& dir) {
    const Results r = load_results(dir);
    if (r.files.empty()) throw Error(dir + "/manifest.json declares no bench result: run scripts/compare.sh first");
    std::vector<std::string> written = {dir + "/summary.md", dir + "/all.csv", dir + "/sweep.png"};
    write_text(written[0], summary_markdown(r));
    write_text(written[1], results_csv(r.files));
    plot_sweep(r);
    plot_latency_vs_load(r);
    plot_burst_scatter(r);
    for (const char* figure : {"/latency-vs-load.png", "/burst-scatter.png"})
        if (fs::exists(dir + figure)) written.push_back(dir + figure);
    for (auto& p : plot_cdfs(r)) written.push_back(p);
    return written;
}

}  // namespace kecho::bench
