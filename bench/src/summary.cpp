// SPDX-License-Identifier: GPL-2.0-only
#include "bench/summary.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include "bench/gnuplot.h"
#include "bench/histogram.h"
#include "bench/merge.h"
#include "kecho/error.h"

namespace kecho::bench {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

// A number of a JSON object, NaN when missing or not a number (NaN is saved as null).
double number_at(const json& object, const std::string& key) {
    return object.is_object() && object.contains(key) && object[key].is_number() ? object[key].get<double>() : NAN;
}

double median_of(const json& mode, const std::string& key) {
    const auto& s = mode.value("summary", json::object());
    return s.contains(key) ? number_at(s[key], "median") : NAN;
}

std::string fmt(double value, int decimals = 0) {
    if (std::isnan(value)) return "-";
    char text[64];
    std::snprintf(text, sizeof(text), "%.*f", decimals, value);
    std::string s = text;
    if (decimals == 0 && std::fabs(value) >= 1000) {  // thousands separators
        for (int i = static_cast<int>(s.size()) - 3; i > (value < 0 ? 1 : 0); i -= 3)
            s.insert(static_cast<std::size_t>(i), ",");
    }
    return s;
}

int connections_of(const ResultFile& f) {
    return f.doc.value("config", json::object()).value("connections", 0);
}
double rate_of(const ResultFile& f) {
    return f.doc.value("config", json::object()).value("rate", 0.0);
}
bool closed_pingpong(const ResultFile& f) {
    return f.doc.value("workload", "") == "pingpong" && rate_of(f) == 0;
}
std::string client_of(const ResultFile& f) {
    const json client = f.doc.value("run", json::object()).value("client", json::object());
    std::string out = client.value("engine", "?");
    if (client.contains("workers")) out += " x" + client["workers"].dump();
    if (client.value("cpus", "any") != "any") out += " on CPUs " + client.value("cpus", "");
    return out;
}
std::string noisy_of(const json& mode) {
    return mode.contains("noisy") && mode["noisy"].is_string() ? mode["noisy"].get<std::string>() : "";
}

// A mode's row in one file.
struct Entry {
    const ResultFile* file = nullptr;
    const json* mode = nullptr;
};

// Per connection count and mode, the closed-loop pingpong run with the highest median req/s: the
// mode at its best client configuration.
std::map<int, std::map<std::string, Entry>> best_pingpong(const std::vector<ResultFile>& files) {
    std::map<int, std::map<std::string, Entry>> best;
    for (const auto& f : files) {
        if (!closed_pingpong(f)) continue;
        for (const auto& m : f.doc["modes"]) {
            Entry& e = best[connections_of(f)][m.value("mode", "?")];
            if (!e.mode || median_of(m, "requests_per_s") > median_of(*e.mode, "requests_per_s")) e = {&f, &m};
        }
    }
    return best;
}

std::string read_text(const fs::path& path) {
    std::ifstream in(path);
    std::stringstream text;
    text << in.rdbuf();
    return text.str();
}

void write_text(const fs::path& path, const std::string& text) {
    std::ofstream out(path);
    out << text;
    if (!out) throw Error("cannot write " + path.string());
}

}  // namespace

std::vector<ResultFile> load_result_files(const std::string& dir) {
    std::vector<ResultFile> files;
    if (!fs::is_directory(dir)) throw Error("no results directory " + dir);
    for (const auto& e : fs::directory_iterator(dir)) {
        if (e.path().extension() != ".json") continue;
        json doc;
        try {
            doc = read_json_file(e.path().string());
        } catch (const Error&) {
            continue;  // not ours
        }
        if (doc.is_object() && doc.contains("workload") && doc.contains("modes"))
            files.push_back({e.path().stem().string(), std::move(doc)});
    }
    std::sort(files.begin(), files.end(), [](const auto& a, const auto& b) { return a.name < b.name; });
    return files;
}

std::string results_csv(const std::vector<ResultFile>& files) {
    const std::vector<std::string> metrics = {"requests_per_s",
                                              "mb_per_s",
                                              "recv_mb_per_s",
                                              "p50_us",
                                              "p90_us",
                                              "p99_us",
                                              "p999_us",
                                              "max_us",
                                              "cpu_us_per_request",
                                              "client_cpu_us_per_request",
                                              "server_cpu_us_per_request",
                                              "kernel_thread_us_per_request",
                                              "other_cpu_us_per_request",
                                              "cpu_us_per_mb",
                                              "mean_us",
                                              "errors",
                                              "load_before"};
    std::ostringstream out;
    out << "file,workload,mode,connections,rate,client,layout,run";
    for (const auto& m : metrics) out << "," << m;
    out << ",noisy,kernel,online_cpus,git_commit,started_utc\n";
    for (const auto& f : files) {
        const json run = f.doc.value("run", json::object());
        const std::string layout = run.value("client", json::object()).value("layout", "");
        for (const auto& mode : f.doc["modes"]) {
            const auto& runs = mode.value("runs", json::array());
            for (std::size_t r = 0; r < runs.size(); ++r) {
                out << f.name << "," << f.doc.value("workload", "") << "," << mode.value("mode", "") << ","
                    << connections_of(f) << "," << rate_of(f) << ",\"" << client_of(f) << "\"," << layout << ","
                    << r + 1;
                for (const auto& m : metrics) {
                    out << ",";
                    if (runs[r].contains(m) && runs[r][m].is_number()) out << runs[r][m].get<double>();
                }
                out << ",\"" << noisy_of(mode) << "\"," << run.value("kernel", "") << "," << run.value("online_cpus", 0)
                    << "," << run.value("git_commit", "") << "," << run.value("started_utc", "") << "\n";
            }
        }
    }
    return out.str();
}

namespace {

std::string machine_section(const std::vector<ResultFile>& files) {
    const json first = files.front().doc.value("run", json::object());
    std::string started = "?", finished = "?";
    double load_at_start = -1;  // before the job's first run: later runs see the job's own load
    std::set<std::string> layouts, commits;
    for (const auto& f : files) {
        const json run = f.doc.value("run", json::object());
        if (run.empty()) continue;
        if (started == "?" || run.value("started_utc", "?") < started) {
            started = run.value("started_utc", "?");
            if (run.contains("load_before") && run["load_before"][0].is_number())
                load_at_start = run["load_before"][0].get<double>();
        }
        if (finished == "?" || run.value("finished_utc", "?") > finished) finished = run.value("finished_utc", "?");
        layouts.insert(run.value("client", json::object()).value("layout", "not said"));
        commits.insert(run.value("git_commit", "?"));
    }
    auto join = [](const std::set<std::string>& items) {
        std::string out;
        for (const auto& i : items) out += (out.empty() ? "" : ", ") + i;
        return out;
    };
    std::ostringstream out;
    out << "## Machine and run\n\n| | |\n|---|---|\n"
        << "| kernel | " << first.value("kernel", "?") << " |\n"
        << "| CPU | " << first.value("cpu_model", "?") << " |\n"
        << "| online CPUs | " << first.value("online_cpus", 0) << " |\n"
        << "| memory | " << fmt(first.value("memory_bytes", 0.0) / (1u << 30), 1) << " GiB |\n"
        << "| kecho-bpf | " << first.value("version", "?") << ", commit " << join(commits) << " |\n"
        << "| measured (UTC) | " << started << " to " << finished << " |\n"
        << "| 1-min load average before the first run | " << fmt(load_at_start, 2)
        << (load_at_start > first.value("online_cpus", 0) / 2.0 ? " (above half the CPUs: the whole job is noisy)"
                                                                : " (quiet: at most half the CPUs)")
        << " |\n"
        << "| layout | " << join(layouts) << " |\n";
    for (const auto& s : first.value("servers", json::array())) out << "| server | " << s.dump() << " |\n";
    out << "\n";
    return out.str();
}

// Best user-space server (user, uring) of a connection count: what "vs user" divides by.
double best_user(const std::map<std::string, Entry>& modes) {
    double best = NAN;
    for (const char* name : {"user", "uring", "splice"}) {
        auto it = modes.find(name);
        if (it == modes.end()) continue;
        double v = median_of(*it->second.mode, "requests_per_s");
        if (std::isnan(best) || v > best) best = v;
    }
    return best;
}

std::string winners_section(const std::vector<ResultFile>& files) {
    auto best = best_pingpong(files);
    std::ostringstream out;
    out << "## Ping-pong, each mode at its best client configuration\n\n"
        << "64-byte request/response, closed loop. `vs user` divides by the better of the user-space servers "
           "(epoll `user`, `uring`) at the same connections. CPU us per request: the whole machine, then split "
           "into the bench client, the server process(es), kernel threads (kworkers, ksoftirqd: kernel work "
           "outside both) and everything else on the machine. `floor` is the busy-poll reference (it burns a core).\n\n"
        << "| connections | mode | req/s median (min-max) | vs user | p50 us | p99 us | CPU us/req | client | server | "
           "kernel threads | other | client configuration | noisy |\n"
        << "|---|---|---|---|---|---|---|---|---|---|---|---|---|\n";
    for (const auto& [conns, modes] : best) {
        const double base = best_user(modes);
        for (const auto& [name, e] : modes) {
            const json& m = *e.mode;
            const json& s = m["summary"]["requests_per_s"];
            out << "| " << conns << " | " << name << " | " << fmt(number_at(s, "median")) << " ("
                << fmt(number_at(s, "min")) << "-" << fmt(number_at(s, "max")) << ") | "
                << fmt(number_at(s, "median") / base, 2) << "x | " << fmt(median_of(m, "p50_us"), 1) << " | "
                << fmt(median_of(m, "p99_us"), 1) << " | " << fmt(median_of(m, "cpu_us_per_request"), 2) << " | "
                << fmt(median_of(m, "client_cpu_us_per_request"), 2) << " | "
                << fmt(median_of(m, "server_cpu_us_per_request"), 2) << " | "
                << fmt(median_of(m, "kernel_thread_us_per_request"), 2) << " | "
                << fmt(median_of(m, "other_cpu_us_per_request"), 2) << " | " << client_of(*e.file) << " | "
                << (noisy_of(m).empty() ? "" : "noisy: " + noisy_of(m)) << " |\n";
        }
    }
    return out.str() + "\n";
}

// The client sweep: every connection count measured with more than one client configuration.
std::string sweep_section(const std::vector<ResultFile>& files) {
    std::map<int, std::map<std::string, std::map<std::string, double>>> table;  // conns -> mode -> client -> req/s
    std::map<int, std::set<std::string>> clients;
    for (const auto& f : files) {
        if (!closed_pingpong(f)) continue;
        for (const auto& m : f.doc["modes"]) {
            table[connections_of(f)][m.value("mode", "?")][client_of(f)] = median_of(m, "requests_per_s");
            clients[connections_of(f)].insert(client_of(f));
        }
    }
    std::ostringstream out;
    for (const auto& [conns, modes] : table) {
        if (clients[conns].size() < 2) continue;
        out << "## Client sweep at " << conns << " connections (req/s, median)\n\n"
            << "On loopback the in-kernel echo runs on the client's CPUs, so the client's configuration alone "
               "can flip the ranking: each mode is reported above at its best.\n\n| mode |";
        for (const auto& c : clients[conns]) out << " " << c << " |";
        out << "\n|---|";
        for (std::size_t i = 0; i < clients[conns].size(); ++i) out << "---|";
        out << "\n";
        for (const auto& [mode, by_client] : modes) {
            out << "| " << mode << " |";
            for (const auto& c : clients[conns])
                out << " " << (by_client.count(c) ? fmt(by_client.at(c)) : "-") << " |";
            out << "\n";
        }
        out << "\n";
    }
    return out.str();
}

std::string stream_section(const std::vector<ResultFile>& files) {
    std::ostringstream out;
    for (const auto& f : files) {
        if (f.doc.value("workload", "") != "stream") continue;
        if (out.tellp() == 0)
            out << "## Stream (64 KiB writes, 4 connections)\n\n| file | mode | MB/s back median (min-max) | CPU us/MB "
                   "| "
                   "client us/MB | server us/MB | noisy |\n|---|---|---|---|---|---|---|\n";
        for (const auto& m : f.doc["modes"]) {
            const json s = m["summary"].value("recv_mb_per_s", json::object());
            out << "| " << f.name << " | " << m.value("mode", "?") << " | " << fmt(number_at(s, "median"), 1) << " ("
                << fmt(number_at(s, "min"), 1) << "-" << fmt(number_at(s, "max"), 1) << ") | "
                << fmt(median_of(m, "cpu_us_per_mb")) << " | " << fmt(median_of(m, "client_cpu_us_per_mb")) << " | "
                << fmt(median_of(m, "server_cpu_us_per_mb")) << " | " << noisy_of(m) << " |\n";
        }
    }
    return out.tellp() == 0 ? "" : out.str() + "\n";
}

// Open-loop runs ("load-<percent>" files): latency against offered load.
struct LoadPoint {
    double percent = 0, target = 0, achieved = 0, p50 = NAN, p90 = NAN, p99 = NAN;
    bool kept = true;
    std::string noisy;
};

std::map<std::string, std::vector<LoadPoint>> load_points(const std::vector<ResultFile>& files) {
    std::map<std::string, std::vector<LoadPoint>> points;
    for (const auto& f : files) {
        if (rate_of(f) <= 0) continue;
        double percent = f.name.rfind("load-", 0) == 0 ? std::atof(f.name.c_str() + 5) : NAN;
        for (const auto& m : f.doc["modes"]) {
            LoadPoint p{percent,
                        rate_of(f),
                        median_of(m, "requests_per_s"),
                        median_of(m, "p50_us"),
                        median_of(m, "p90_us"),
                        median_of(m, "p99_us"),
                        median_of(m, "rate_kept") >= 0.5,
                        noisy_of(m)};
            points[m.value("mode", "?")].push_back(p);
        }
    }
    for (auto& [mode, list] : points)
        std::sort(list.begin(), list.end(), [](const auto& a, const auto& b) { return a.target < b.target; });
    return points;
}

std::string load_section(const std::vector<ResultFile>& files) {
    auto points = load_points(files);
    if (points.empty()) return "";
    std::ostringstream out;
    out << "## Latency against load (open loop, 64 connections)\n\n"
        << "Requests leave on a fixed timetable (`bench --rate`), latency counts from each request's scheduled "
           "time, so queueing shows (no coordinated omission). Offered load: percent of the fastest mode's "
           "closed-loop maximum at 64 connections. A rate a mode could not keep is marked.\n\n"
        << "| mode | load % | offered req/s | achieved | p50 us | p90 us | p99 us | noisy |\n"
        << "|---|---|---|---|---|---|---|---|\n";
    for (const auto& [mode, list] : points)
        for (const auto& p : list)
            out << "| " << mode << " | " << fmt(p.percent) << " | " << fmt(p.target) << " | " << fmt(p.achieved)
                << (p.kept ? "" : " (rate NOT kept)") << " | " << fmt(p.p50, 1) << " | " << fmt(p.p90, 1) << " | "
                << fmt(p.p99, 1) << " | " << p.noisy << " |\n";
    return out.str() + "\n";
}

std::string burst_section(const std::vector<ResultFile>& files) {
    std::ostringstream out;
    for (const auto& f : files) {
        if (f.doc.value("workload", "") != "burst") continue;
        const json cfg = f.doc.value("config", json::object());
        out << "## Burst (kecho's bench: " << cfg.value("threads", 0) << " threads x " << cfg.value("rounds", 0)
            << " rounds, one message each; time per thread, lower is better)\n\n"
            << "| mode | mean us median (min-max) | median us | p99 us | max us | noisy |\n|---|---|---|---|---|---|\n";
        for (const auto& m : f.doc["modes"]) {
            const json s = m["summary"].value("mean_us", json::object());
            out << "| " << m.value("mode", "?") << " | " << fmt(number_at(s, "median")) << " ("
                << fmt(number_at(s, "min")) << "-" << fmt(number_at(s, "max")) << ") | "
                << fmt(median_of(m, "median_us")) << " | " << fmt(median_of(m, "p99_us")) << " | "
                << fmt(median_of(m, "max_us")) << " | " << noisy_of(m) << " |\n";
        }
        out << "\nPer-thread files (kecho's `index microseconds`): `burst-<mode>.txt`; plot: `burst-scatter.png`.\n\n";
    }
    return out.str();
}

std::string noisy_section(const std::vector<ResultFile>& files) {
    std::ostringstream out;
    for (const auto& f : files)
        for (const auto& m : f.doc["modes"])
            if (!noisy_of(m).empty())
                out << "- " << f.name << " / " << m.value("mode", "?") << ": " << noisy_of(m) << "\n";
    return "## Noisy rows\n\nA row is noisy when its runs spread more than 10 % ((max-min)/median) or, while it "
           "ran, processes other than the client, the servers and kernel threads used more than 5 % of the CPUs. "
           "(The load average before each run is in the JSON, but it mostly shows this job's own previous runs.)\n\n" +
           (out.tellp() == 0 ? std::string("None.\n") : out.str()) + "\n";
}

// The guest's figures, the kernel matrix and every table as bench printed it.
std::string verbatim_sections(const std::string& dir) {
    std::ostringstream out;
    const fs::path guest = fs::path(dir) / "kmod-vm.txt";
    if (fs::exists(guest))
        out << "## kmod, bpf and user inside a QEMU guest\n\n**emulated (TCG): compare ratios only** (absolute "
               "numbers are not comparable with the host's).\n\n```\n"
            << read_text(guest) << "```\n\n";
    std::vector<fs::path> matrices, tables;
    for (const auto& e : fs::directory_iterator(dir)) {
        const std::string name = e.path().filename().string();
        if (name.rfind("kernel-matrix", 0) == 0 && e.path().extension() == ".md") matrices.push_back(e.path());
        if (e.path().extension() == ".txt" && name != "kmod-vm.txt" && name.rfind("burst-", 0) != 0)
            tables.push_back(e.path());
    }
    std::sort(matrices.begin(), matrices.end());
    std::sort(tables.begin(), tables.end());
    for (const auto& m : matrices) out << "## " << m.filename().string() << "\n\n" << read_text(m) << "\n";
    if (!tables.empty()) out << "## Every table as printed\n\n";
    for (const auto& t : tables) out << "### " << t.stem().string() << "\n\n```\n" << read_text(t) << "```\n\n";
    return out.str();
}

}  // namespace

std::string summary_markdown(const std::string& dir, const std::vector<ResultFile>& files) {
    if (files.empty()) throw Error("no bench results (*.json) in " + dir);
    std::ostringstream out;
    out << "# kecho-bpf: comparison summary\n\nWritten by `bench summarize` from the results in this directory. "
           "Figures: `sweep.png` (req/s, p99 and CPU per request against connections; floor dashed; stream as bars), "
           "`latency-vs-load.png`, `burst-scatter.png`, `cdf-*.png`; every run: `all.csv`.\n\n"
        << machine_section(files) << winners_section(files) << sweep_section(files) << stream_section(files)
        << load_section(files) << burst_section(files) << noisy_section(files) << verbatim_sections(dir);
    return out.str();
}

namespace {

// One data file per mode for the sweep: connections, req/s, p99, CPU us/req (best client configuration).
std::string sweep_plot_lines(const ScratchDir& scratch, const std::vector<ResultFile>& files, int column,
                             bool with_title) {
    std::map<std::string, std::ofstream> data;
    for (const auto& [conns, modes] : best_pingpong(files))
        for (const auto& [mode, e] : modes) {
            auto& out = data[mode];
            if (!out.is_open()) out.open(scratch.file("sweep-" + mode + ".dat"));
            out << conns << " " << median_of(*e.mode, "requests_per_s") << " " << median_of(*e.mode, "p99_us") << " "
                << median_of(*e.mode, "cpu_us_per_request") << "\n";
        }
    std::string plot;
    for (auto& [mode, out] : data) {
        out.close();
        plot += (plot.empty() ? "plot " : ", ") + std::string("'") + scratch.file("sweep-" + mode + ".dat") +
                "' using 1:" + std::to_string(column) + " with linespoints lw 2" + (mode == "floor" ? " dt 2" : "") +
                (with_title ? " title '" + mode + (mode == "floor" ? " (busy-poll reference)" : "") + "'" : " notitle");
    }
    return plot.empty() ? "plot 0 notitle" : plot;
}

std::string stream_bars(const ScratchDir& scratch, const std::vector<ResultFile>& files) {
    std::ofstream out(scratch.file("stream.dat"));
    int rows = 0;
    for (const auto& f : files)
        if (f.doc.value("workload", "") == "stream")
            for (const auto& m : f.doc["modes"]) {
                const json s = m["summary"].value("recv_mb_per_s", json::object());
                out << m.value("mode", "?") << " " << number_at(s, "median") << " " << number_at(s, "min") << " "
                    << number_at(s, "max") << "\n";
                ++rows;
            }
    if (!rows) return "plot 0 notitle\n";
    return "set style data histograms\nset style histogram errorbars gap 2 lw 1\nset style fill solid 0.7 border -1\n"
           "set yrange [0:*]\nplot '" +
           scratch.file("stream.dat") + "' using 2:3:4:xtic(1) notitle\n";
}

void plot_sweep(const std::string& dir, const std::vector<ResultFile>& files) {
    ScratchDir scratch;
    const std::string path = dir + "/sweep.png";
    const json run = files.front().doc.value("run", json::object());
    std::string title = "kecho-bpf on " + run.value("kernel", "?") + ", " +
                        std::to_string(run.value("online_cpus", 0)) + " CPUs (" + run.value("cpu_model", "?") + ")";
    std::replace(title.begin(), title.end(), '\'', ' ');
    std::ostringstream gp;
    gp << "set terminal " << gnuplot_terminal(path, 1400, 900) << "\nset output '" << path << "'\n"
       << "set multiplot layout 2,2 title '" << title << "' noenhanced\nset grid\nset key top left noenhanced\n"
       << "set logscale x\nset xlabel 'connections'\nset xtics (1, 8, 64, 1000)\n"
       << "set title 'req/s (each mode at its best client configuration)'\nset yrange [0:*]\n"
       << sweep_plot_lines(scratch, files, 2, true) << "\n"
       << "set title 'p99 latency (us, log)'\nset logscale y\nset yrange [*:*]\n"
       << sweep_plot_lines(scratch, files, 3, false) << "\nunset logscale y\n"
       << "set title 'CPU us per request (whole machine)'\nset yrange [0:*]\n"
       << sweep_plot_lines(scratch, files, 4, false) << "\n"
       << "unset logscale x\nunset xlabel\nset xtics auto\nset title 'stream: MB/s back (median, bars: min-max)'\n"
       << stream_bars(scratch, files);
    if (fs::exists(fs::path(dir) / "kmod-vm.txt"))
        gp << "set label 1 'kmod: measured only in a QEMU guest, emulated (TCG): compare ratios only (summary.md)' "
              "at screen 0.01,0.01\n";
    gp << "unset multiplot\n";
    run_gnuplot(scratch, gp.str(), path);
}

void plot_latency_vs_load(const std::string& dir, const std::vector<ResultFile>& files) {
    auto points = load_points(files);
    if (points.empty()) return;
    ScratchDir scratch;
    const std::string path = dir + "/latency-vs-load.png";
    std::string p50, p99;
    for (const auto& [mode, list] : points) {
        std::ofstream out(scratch.file("load-" + mode + ".dat"));
        for (const auto& p : list) out << p.target << " " << p.p50 << " " << p.p99 << "\n";
        const std::string src = "'" + scratch.file("load-" + mode + ".dat") + "'";
        p50 += (p50.empty() ? "plot " : ", ") + src + " using 1:2 with linespoints lw 2 title '" + mode + "'";
        p99 += (p99.empty() ? "plot " : ", ") + src + " using 1:3 with linespoints lw 2 title '" + mode + "'";
    }
    std::ostringstream gp;
    gp << "set terminal " << gnuplot_terminal(path, 1400, 560) << "\nset output '" << path << "'\n"
       << "set multiplot layout 1,2 title 'latency against offered load: open loop, 64 connections, latency from "
          "the scheduled send time' noenhanced\nset grid\nset key top left noenhanced\nset logscale y\n"
       << "set xlabel 'offered load (req/s)'\nset ylabel 'us (log)'\nset title 'p50'\n"
       << p50 << "\n"
       << "set title 'p99'\n"
       << p99 << "\nunset multiplot\n";
    run_gnuplot(scratch, gp.str(), path);
}

// kecho's bench.gp, one series per mode: each thread's time against its rank (fastest first).
void plot_burst_scatter(const std::string& dir) {
    ScratchDir scratch;
    std::string plot;
    for (const auto& e : fs::directory_iterator(dir)) {
        const std::string name = e.path().stem().string();
        if (name.rfind("burst-", 0) != 0 || e.path().extension() != ".txt") continue;
        std::ifstream in(e.path());
        std::vector<double> times;
        double index = 0, us = 0;
        while (in >> index >> us) times.push_back(us);
        if (times.empty()) continue;
        std::sort(times.begin(), times.end());
        std::ofstream out(scratch.file(name + ".dat"));
        for (std::size_t i = 0; i < times.size(); ++i) out << i << " " << times[i] << "\n";
        plot += (plot.empty() ? "plot " : ", ") + std::string("'") + scratch.file(name + ".dat") +
                "' using 1:2 with points pt 7 ps 0.4 title '" + name.substr(6) + "'";
    }
    if (plot.empty()) return;
    const std::string path = dir + "/burst-scatter.png";
    std::ostringstream gp;
    gp << "set terminal " << gnuplot_terminal(path, 1000, 600) << "\nset output '" << path << "'\n"
       << "set title 'burst (kecho bench): time per thread against completion rank' noenhanced\nset grid\n"
       << "set xlabel 'rank (fastest thread first)'\nset ylabel 'time (usec)'\nset key top left noenhanced\n"
       << plot << "\n";
    run_gnuplot(scratch, gp.str(), path);
}

// The latency CDF of each mode (its runs' histograms merged) in one file's or one group's modes.
void plot_cdf(const std::string& path, const std::string& title, const std::vector<Entry>& entries) {
    ScratchDir scratch;
    std::string plot;
    for (const auto& e : entries) {
        const json& m = *e.mode;
        if (!m.contains("histograms") || m["histograms"].empty()) continue;
        LatencyHistogram all;
        for (const auto& h : m["histograms"]) all.merge(LatencyHistogram::from_json(h));
        if (!all.count()) continue;
        const std::string mode = m.value("mode", "?"), data = scratch.file("cdf-" + mode + ".dat");
        std::ofstream out(data);
        for (const auto& [ns, fraction] : all.cdf()) out << static_cast<double>(ns) / 1e3 << " " << fraction << "\n";
        plot += (plot.empty() ? "plot " : ", ") + std::string("'") + data + "' using 1:2 with steps lw 2" +
                (mode == "floor" ? " dt 2" : "") + " title '" + mode + "'";
    }
    if (plot.empty()) return;
    std::ostringstream gp;
    gp << "set terminal " << gnuplot_terminal(path, 1000, 600) << "\nset output '" << path << "'\n"
       << "set title '" << title << "' noenhanced\nset grid\nset logscale x\nset xlabel 'latency (us, log)'\n"
       << "set ylabel 'fraction of requests <= x'\nset yrange [0:1]\nset key bottom right noenhanced\n"
       << plot << "\n";
    run_gnuplot(scratch, gp.str(), path);
}

std::vector<std::string> plot_cdfs(const std::string& dir, const std::vector<ResultFile>& files) {
    std::vector<std::string> written;
    for (const auto& [conns, modes] : best_pingpong(files)) {
        std::vector<Entry> entries;
        for (const auto& [mode, e] : modes) entries.push_back(e);
        const std::string path = dir + "/cdf-pingpong-c" + std::to_string(conns) + ".png";
        plot_cdf(path, "pingpong latency CDF, " + std::to_string(conns) + " connections (best client configuration)",
                 entries);
        if (fs::exists(path)) written.push_back(path);
    }
    std::vector<Entry> stream;
    for (const auto& f : files)
        if (f.doc.value("workload", "") == "stream")
            for (const auto& m : f.doc["modes"]) stream.push_back({&f, &m});
    const std::string path = dir + "/cdf-stream.png";
    plot_cdf(path, "stream: latency CDF of the echo of each 64 KiB write", stream);
    if (fs::exists(path)) written.push_back(path);
    return written;
}

}  // namespace

std::vector<std::string> summarize_directory(const std::string& dir) {
    auto files = load_result_files(dir);
    if (files.empty()) throw Error("no bench results (*.json) in " + dir + ": run scripts/compare.sh first");
    std::vector<std::string> written = {dir + "/summary.md", dir + "/all.csv"};
    write_text(written[0], summary_markdown(dir, files));
    write_text(written[1], results_csv(files));
    plot_sweep(dir, files);
    written.push_back(dir + "/sweep.png");
    for (const char* figure : {"latency-vs-load.png", "burst-scatter.png"}) {
        if (std::string(figure) == "latency-vs-load.png")
            plot_latency_vs_load(dir, files);
        else
            plot_burst_scatter(dir);
        if (fs::exists(fs::path(dir) / figure)) written.push_back(dir + "/" + figure);
    }
    for (auto& p : plot_cdfs(dir, files)) written.push_back(p);
    return written;
}

}  // namespace kecho::bench
