// SPDX-License-Identifier: GPL-2.0-only
// bench summarize: summary.md, all.csv and the figures of a results directory, as its manifest.json
// declares it (see results.h). The manifest names each file's role and the parameters a result does
// not carry itself; summarize reads no file it does not list and knows no file name.
#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include "bench/csv.h"
#include "bench/results.h"
#include "kecho/error.h"
#include "kecho/servers.h"

namespace kecho::bench {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

// One bench --json file of the directory, with its manifest entry.
struct ResultFile {
    std::string name;  // file name without .json: "pingpong-c64-w4"
    json doc;
    json entry;  // {"file": ..., "role": "closed-loop" | "open-loop" | "stream" | "burst", parameters}
};

// The manifest's files of one role, in its order.
std::vector<json> manifest_entries(const json& manifest, const std::string& role) {
    std::vector<json> out;
    for (const auto& e : manifest.at("files"))
        if (e.value("role", "") == role) out.push_back(e);
    return out;
}

bool has_role(const ResultFile& f, const std::string& role) {
    return f.entry.value("role", "") == role;
}

// A mode's row in one file.
struct Entry {
    const ResultFile* file = nullptr;
    const json* mode = nullptr;
};

// A number of a JSON object, NaN when missing or not a number (NaN is saved as null).
double number_at(const json& object, const std::string& key) {
    return object.is_object() && object.contains(key) && object[key].is_number() ? object[key].get<double>() : NAN;
}

Stat stat_of(const json& mode, const std::string& key) {
    const json s = mode.value("summary", json::object()).value(key, json::object());
    return {number_at(s, "median"), number_at(s, "min"), number_at(s, "max")};
}

double median_of(const json& mode, const std::string& key) {
    return stat_of(mode, key).median;
}

int connections_of(const ResultFile& f) {
    return f.doc.value("config", json::object()).value("connections", 0);
}
double rate_of(const ResultFile& f) {
    return f.doc.value("config", json::object()).value("rate", 0.0);
}
bool closed_loop(const ResultFile& f) {
    return has_role(f, "closed-loop");
}
std::string client_of(const ResultFile& f) {
    const json client = f.doc.value("run", json::object()).value("client", json::object());
    std::string out = client.value("engine", "?");
    if (client.contains("workers")) out += " x" + client["workers"].dump();
    if (client.value("cpus", "any") != "any") out += " on CPUs " + client.value("cpus", "");
    return out;
}
// 65536 -> "64 KiB", 1048576 -> "1 MiB", 100 -> "100 B".
std::string size_text(std::uint64_t bytes) {
    if (bytes >= (1u << 20) && bytes % (1u << 20) == 0) return std::to_string(bytes >> 20) + " MiB";
    if (bytes >= 1024 && bytes % 1024 == 0) return std::to_string(bytes >> 10) + " KiB";
    return std::to_string(bytes) + " B";
}
std::string noisy_of(const json& mode) {
    return mode.contains("noisy") && mode["noisy"].is_string() ? mode["noisy"].get<std::string>() : "";
}

// Every mode of every file of a role.
std::vector<Entry> entries_of(const std::vector<ResultFile>& files, const std::string& role) {
    std::vector<Entry> entries;
    for (const auto& f : files)
        if (has_role(f, role))
            for (const auto& m : f.doc["modes"]) entries.push_back({&f, &m});
    return entries;
}

bool is_reference(const std::string& mode) {
    const ServerEntry* s = find_server(mode);
    return s && s->role == ServerRole::reference;
}

// The registry's names of a role, quoted: "`user`, `uring`, `splice`".
std::string names_of(ServerRole role) {
    std::vector<std::string> names;
    for (const auto& s : servers)
        if (s.role == role) names.push_back("`" + std::string(s.mode) + "`");
    return join(names);
}

// Per connection count and mode, the closed-loop pingpong run with the highest median req/s: the
// mode at its best client configuration.
std::map<int, std::map<std::string, Entry>> best_pingpong(const std::vector<ResultFile>& files) {
    std::map<int, std::map<std::string, Entry>> best;
    for (const auto& e : entries_of(files, "closed-loop")) {
        Entry& b = best[connections_of(*e.file)][e.mode->value("mode", "?")];
        if (!b.mode || median_of(*e.mode, "requests_per_s") > median_of(*b.mode, "requests_per_s")) b = e;
    }
    return best;
}

std::string read_text(const fs::path& path) {
    std::ifstream in(path);
    std::stringstream text;
    text << in.rdbuf();
    return text.str();
}

json read_manifest(const std::string& dir) {
    if (!fs::is_directory(dir)) throw Error("no results directory " + dir);
    const fs::path path = fs::path(dir) / "manifest.json";
    if (!fs::exists(path))
        throw Error("no manifest.json in " + dir +
                    ": summarize reads the files a manifest declares (scripts/compare.sh "
                    "writes one)");
    json manifest = read_json_file(path.string());
    if (!manifest.is_object() || !manifest.contains("files") || !manifest["files"].is_array())
        throw Error(path.string() + " has no \"files\" list");
    return manifest;
}

// The bench results the manifest declares (roles closed-loop, open-loop, stream, burst), sorted by name.
std::vector<ResultFile> load_result_files(const std::string& dir, const json& manifest) {
    std::vector<ResultFile> files;
    for (const char* role : {"closed-loop", "open-loop", "stream", "burst"})
        for (const auto& e : manifest_entries(manifest, role)) {
            const fs::path path = fs::path(dir) / e.at("file").get<std::string>();
            json doc = read_json_file(path.string());
            if (!doc.is_object() || !doc.contains("modes")) throw Error(path.string() + " is not a bench result");
            files.push_back({path.stem().string(), std::move(doc), e});
        }
    std::sort(files.begin(), files.end(), [](const auto& a, const auto& b) { return a.name < b.name; });
    return files;
}

// all.csv's text: one row per mode x workload x connections x run.
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
    std::vector<std::string> header = {"file", "workload", "mode", "connections", "rate", "client", "layout", "run"};
    header.insert(header.end(), metrics.begin(), metrics.end());
    header.insert(header.end(), {"noisy", "kernel", "online_cpus", "git_commit", "started_utc"});
    CsvWriter csv(header);
    for (const auto& f : files) {
        const json run = f.doc.value("run", json::object());
        for (const auto& mode : f.doc["modes"]) {
            const auto& runs = mode.value("runs", json::array());
            for (std::size_t r = 0; r < runs.size(); ++r) {
                csv.cell(f.name).cell(f.doc.value("workload", "")).cell(mode.value("mode", ""));
                csv.cell(static_cast<double>(connections_of(f))).cell(rate_of(f)).cell(client_of(f));
                csv.cell(run.value("client", json::object()).value("layout", "")).cell(static_cast<double>(r + 1));
                for (const auto& m : metrics) csv.cell(runs[r].contains(m) ? runs[r][m] : json());
                csv.cell(noisy_of(mode)).cell(run.value("kernel", "")).cell(run.value("online_cpus", json()));
                csv.cell(run.value("git_commit", "")).cell(run.value("started_utc", ""));
                csv.end_row();
            }
        }
    }
    return csv.str();
}

// "| a | b |\n"
std::string md_row(const std::vector<std::string>& cells) {
    std::string out = "|";
    for (const auto& c : cells) out += " " + c + " |";
    return out + "\n";
}

// A markdown table: the headings, the separator line, the rows.
std::string md_table(const std::vector<std::string>& headings, const std::vector<std::vector<std::string>>& rows) {
    std::string out = md_row(headings) + "|";
    for (std::size_t i = 0; i < headings.size(); ++i) out += "---|";
    out += "\n";
    for (const auto& row : rows) out += md_row(row);
    return out;
}

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
    const bool quiet = load_at_start <= first.value("online_cpus", 0) / 2.0;
    std::string out =
        "## Machine and run\n\n| | |\n|---|---|\n" + md_row({"kernel", first.value("kernel", "?")}) +
        md_row({"CPU", first.value("cpu_model", "?")}) +
        md_row({"online CPUs", std::to_string(first.value("online_cpus", 0))}) +
        md_row({"memory", format_number(first.value("memory_bytes", 0.0) / (1u << 30), 1) + " GiB"}) +
        md_row({"kecho-bpf", first.value("version", "?") + ", commit " + join({commits.begin(), commits.end()})}) +
        md_row({"measured (UTC)", started + " to " + finished}) +
        md_row({"1-min load average before the first run",
                format_number(load_at_start, 2) +
                    (quiet ? " (quiet: at most half the CPUs)" : " (above half the CPUs: the whole job is noisy)")}) +
        md_row({"layout", join({layouts.begin(), layouts.end()})});
    for (const auto& s : first.value("servers", json::array())) out += md_row({"server", s.dump()});
    return out + "\n";
}

// Best user-space server (the registry's role user) of a connection count: what "vs user" divides by.
double best_user(const std::map<std::string, Entry>& modes) {
    double best = NAN;
    for (const auto& [name, e] : modes) {
        const ServerEntry* server = find_server(name);
        if (!server || server->role != ServerRole::user) continue;
        double v = median_of(*e.mode, "requests_per_s");
        if (std::isnan(best) || v > best) best = v;
    }
    return best;
}

// The closed-loop message size ("64-byte"), from the first closed-loop result's configuration.
std::string message_size(const std::vector<ResultFile>& files) {
    for (const auto& f : files)
        if (closed_loop(f)) return std::to_string(f.doc.value("config", json::object()).value("size", 0)) + "-byte";
    return "?-byte";
}

std::string winners_section(const std::vector<ResultFile>& files) {
    std::vector<std::vector<std::string>> rows;
    for (const auto& [conns, modes] : best_pingpong(files)) {
        const double base = best_user(modes);
        for (const auto& [name, e] : modes) {
            const json& m = *e.mode;
            std::vector<std::string> row = {std::to_string(conns),
                                            name,
                                            format_range(stat_of(m, "requests_per_s")),
                                            format_number(median_of(m, "requests_per_s") / base, 2) + "x",
                                            format_number(median_of(m, "p50_us"), 1),
                                            format_number(median_of(m, "p99_us"), 1)};
            for (const char* key : {"cpu_us_per_request", "client_cpu_us_per_request", "server_cpu_us_per_request",
                                    "kernel_thread_us_per_request", "other_cpu_us_per_request"})
                row.push_back(format_number(median_of(m, key), 2));
            row.push_back(client_of(*e.file));
            row.push_back(noisy_of(m).empty() ? "" : "noisy: " + noisy_of(m));
            rows.push_back(row);
        }
    }
    return "## Ping-pong, each mode at its best client configuration\n\n" + message_size(files) +
           " request/response, closed loop. `vs user` divides by the best of the user-space servers (" +
           names_of(ServerRole::user) +
           ") at the same connections. CPU us per request: the whole machine, then split into the bench client, "
           "the server process(es), kernel threads (kworkers, ksoftirqd: kernel work outside both) and everything "
           "else on the machine. " +
           names_of(ServerRole::reference) + " is the busy-poll reference (it burns a core).\n\n" +
           md_table({"connections", "mode", "req/s median (min-max)", "vs user", "p50 us", "p99 us", "CPU us/req",
                     "client", "server", "kernel threads", "other", "client configuration", "noisy"},
                    rows) +
           "\n";
}

// The client sweep: every connection count measured with more than one client configuration.
std::string sweep_section(const std::vector<ResultFile>& files) {
    std::map<int, std::map<std::string, std::map<std::string, double>>> table;  // conns -> mode -> client -> req/s
    std::map<int, std::set<std::string>> clients;
    for (const auto& e : entries_of(files, "closed-loop")) {
        const int conns = connections_of(*e.file);
        table[conns][e.mode->value("mode", "?")][client_of(*e.file)] = median_of(*e.mode, "requests_per_s");
        clients[conns].insert(client_of(*e.file));
    }
    std::string out;
    for (const auto& [conns, modes] : table) {
        if (clients[conns].size() < 2) continue;
        std::vector<std::string> headings = {"mode"};
        headings.insert(headings.end(), clients[conns].begin(), clients[conns].end());
        std::vector<std::vector<std::string>> rows;
        for (const auto& [mode, by_client] : modes) {
            rows.push_back({mode});
            for (const auto& c : clients[conns])
                rows.back().push_back(by_client.count(c) ? format_number(by_client.at(c)) : "-");
        }
        out += "## Client sweep at " + std::to_string(conns) +
               " connections (req/s, median)\n\n"
               "On loopback the in-kernel echo runs on the client's CPUs, so the client's configuration alone "
               "can flip the ranking: each mode is reported above at its best.\n\n" +
               md_table(headings, rows) + "\n";
    }
    return out;
}

std::string stream_section(const std::vector<ResultFile>& files) {
    std::vector<std::vector<std::string>> rows;
    for (const auto& e : entries_of(files, "stream")) {
        const json& m = *e.mode;
        rows.push_back({e.file->name, m.value("mode", "?"), format_range(stat_of(m, "recv_mb_per_s"), 1),
                        format_number(median_of(m, "cpu_us_per_mb")),
                        format_number(median_of(m, "client_cpu_us_per_mb")),
                        format_number(median_of(m, "server_cpu_us_per_mb")), noisy_of(m)});
    }
    if (rows.empty()) return "";
    const auto& first = *entries_of(files, "stream").front().file;
    return "## Stream (" + size_text(first.doc.value("config", json::object()).value("size", 0)) + " writes, " +
           std::to_string(connections_of(first)) + " connections)\n\n" +
           md_table(
               {"file", "mode", "MB/s back median (min-max)", "CPU us/MB", "client us/MB", "server us/MB", "noisy"},
               rows) +
           "\n";
}

// Open-loop runs: latency against offered load, per mode by offered rate.
std::map<std::string, std::vector<Entry>> load_points(const std::vector<ResultFile>& files) {
    std::map<std::string, std::vector<Entry>> points;
    for (const auto& e : entries_of(files, "open-loop")) points[e.mode->value("mode", "?")].push_back(e);
    for (auto& [mode, list] : points)
        std::sort(list.begin(), list.end(),
                  [](const Entry& a, const Entry& b) { return rate_of(*a.file) < rate_of(*b.file); });
    return points;
}

std::string load_section(const std::vector<ResultFile>& files) {
    std::vector<std::vector<std::string>> rows;
    for (const auto& [mode, list] : load_points(files))
        for (const auto& e : list) {
            const double percent = e.file->entry.value("load_percent", NAN);
            const bool kept = median_of(*e.mode, "rate_kept") >= 0.5;
            rows.push_back({mode, format_number(percent), format_number(rate_of(*e.file)),
                            format_number(median_of(*e.mode, "requests_per_s")) + (kept ? "" : " (rate NOT kept)"),
                            format_number(median_of(*e.mode, "p50_us"), 1),
                            format_number(median_of(*e.mode, "p90_us"), 1),
                            format_number(median_of(*e.mode, "p99_us"), 1), noisy_of(*e.mode)});
        }
    if (rows.empty()) return "";
    const ResultFile& first = *entries_of(files, "open-loop").front().file;
    return "## Latency against load (open loop, " + std::to_string(connections_of(first)) +
           " connections)\n\n"
           "Requests leave on a fixed timetable (`bench --rate`), latency counts from each request's scheduled "
           "time, so queueing shows (no coordinated omission). Offered load: percent of the fastest mode's "
           "closed-loop maximum at " +
           std::to_string(first.entry.value("percent_of_connections", 0)) +
           " connections. A rate a mode could not keep is marked.\n\n" +
           md_table({"mode", "load %", "offered req/s", "achieved", "p50 us", "p90 us", "p99 us", "noisy"}, rows) +
           "\n";
}

std::string burst_section(const std::vector<ResultFile>& files) {
    std::string out;
    for (const auto& f : files) {
        if (!has_role(f, "burst")) continue;
        const json cfg = f.doc.value("config", json::object());
        std::vector<std::vector<std::string>> rows;
        for (const auto& m : f.doc["modes"])
            rows.push_back({m.value("mode", "?"), format_range(stat_of(m, "mean_us")),
                            format_number(median_of(m, "median_us")), format_number(median_of(m, "p99_us")),
                            format_number(median_of(m, "max_us")), noisy_of(m)});
        out += "## Burst (kecho's bench: " + std::to_string(cfg.value("threads", 0)) + " threads x " +
               std::to_string(cfg.value("rounds", 0)) +
               " rounds, one message each; time per thread, lower is better)\n\n" +
               md_table({"mode", "mean us median (min-max)", "median us", "p99 us", "max us", "noisy"}, rows) +
               "\nPer-thread files (kecho's `index microseconds`): `burst-<mode>.txt`; plot: `burst-scatter.png`.\n\n";
    }
    return out;
}

std::string noisy_section(const std::vector<ResultFile>& files) {
    std::string list;
    for (const auto& f : files)
        for (const auto& m : f.doc["modes"])
            if (!noisy_of(m).empty()) list += "- " + f.name + " / " + m.value("mode", "?") + ": " + noisy_of(m) + "\n";
    return "## Noisy rows\n\nA row is noisy when its runs spread more than 10 % ((max-min)/median) or, while it "
           "ran, processes other than the client, the servers and kernel threads used more than 5 % of the CPUs. "
           "(The load average before each run is in the JSON, but it mostly shows this job's own previous runs.)\n\n" +
           (list.empty() ? std::string("None.\n") : list) + "\n";
}

// The paths of the manifest's files of a role, sorted.
std::vector<fs::path> paths_of(const std::string& dir, const json& manifest, const std::string& role) {
    std::vector<fs::path> paths;
    for (const auto& e : manifest_entries(manifest, role))
        paths.push_back(fs::path(dir) / e.at("file").get<std::string>());
    std::sort(paths.begin(), paths.end());
    return paths;
}

// The guest's figures, the kernel matrix and every table as bench printed it.
std::string verbatim_sections(const std::string& dir, const json& manifest) {
    std::ostringstream out;
    for (const auto& guest : paths_of(dir, manifest, "guest-table"))
        out << "## kmod, bpf and user inside a QEMU guest\n\n**emulated (TCG): compare ratios only** (absolute "
               "numbers are not comparable with the host's).\n\n```\n"
            << read_text(guest) << "```\n\n";
    const auto matrices = paths_of(dir, manifest, "kernel-matrix"), tables = paths_of(dir, manifest, "table");
    for (const auto& m : matrices) out << "## " << m.filename().string() << "\n\n" << read_text(m) << "\n";
    if (!tables.empty()) out << "## Every table as printed\n\n";
    for (const auto& t : tables) out << "### " << t.stem().string() << "\n\n```\n" << read_text(t) << "```\n\n";
    return out.str();
}

// summary.md's text: the results, then the files the manifest gives as tables as printed, the
// guest's table and kernel matrices.
std::string summary_markdown(const std::string& dir, const json& manifest, const std::vector<ResultFile>& files) {
    std::string references;
    for (const auto& s : servers)
        if (s.role == ServerRole::reference) references += (references.empty() ? "" : ", ") + std::string(s.mode);
    return "# kecho-bpf: comparison summary\n\nWritten by `bench summarize` from the results in this directory. "
           "Figures: `sweep.png` (req/s, p99 and CPU per request against connections; " +
           references +
           " dashed; stream as bars), `latency-vs-load.png`, `burst-scatter.png`, `cdf-*.png`; every run: "
           "`all.csv`.\n\n" +
           machine_section(files) + winners_section(files) + sweep_section(files) + stream_section(files) +
           load_section(files) + burst_section(files) + noisy_section(files) + verbatim_sections(dir, manifest);
}

// One data file per mode for the sweep: connections, req/s, p99, CPU us/req (best client configuration).
std::string sweep_plot_lines(const Figure& figure, const std::vector<ResultFile>& files, int column, bool with_title) {
    std::map<std::string, std::ofstream> data;
    for (const auto& [conns, modes] : best_pingpong(files))
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

std::string stream_bars(const Figure& figure, const std::vector<ResultFile>& files) {
    const auto entries = entries_of(files, "stream");
    if (entries.empty()) return "plot 0 notitle\n";
    std::ofstream out(figure.data_path("stream.dat"));
    for (const auto& e : entries) {
        const Stat s = stat_of(*e.mode, "recv_mb_per_s");
        out << e.mode->value("mode", "?") << " " << s.median << " " << s.min << " " << s.max << "\n";
    }
    return "set style data histograms\nset style histogram errorbars gap 2 lw 1\nset style fill solid 0.7 border -1\n"
           "set yrange [0:*]\nplot '" +
           figure.data_path("stream.dat") + "' using 2:3:4:xtic(1) notitle\n";
}

// "(1, 8, 64, 1000)": gnuplot's x tics at the connection counts measured.
std::string connection_tics(const std::vector<ResultFile>& files) {
    std::vector<std::string> counts;
    for (const auto& [conns, modes] : best_pingpong(files)) counts.push_back(std::to_string(conns));
    return "(" + join(counts) + ")";
}

void plot_sweep(const std::string& dir, const json& manifest, const std::vector<ResultFile>& files) {
    const Figure figure(dir + "/sweep.png", 1400, 900);
    const json run = files.front().doc.value("run", json::object());
    std::string title = "kecho-bpf on " + run.value("kernel", "?") + ", " +
                        std::to_string(run.value("online_cpus", 0)) + " CPUs (" + run.value("cpu_model", "?") + ")";
    std::replace(title.begin(), title.end(), '\'', ' ');
    std::ostringstream gp;
    gp << "set multiplot layout 2,2 title '" << title << "' noenhanced\nset grid\nset key top left noenhanced\n"
       << "set logscale x\nset xlabel 'connections'\nset xtics " << connection_tics(files) << "\n"
       << "set title 'req/s (each mode at its best client configuration)'\nset yrange [0:*]\n"
       << sweep_plot_lines(figure, files, 2, true) << "\n"
       << "set title 'p99 latency (us, log)'\nset logscale y\nset yrange [*:*]\n"
       << sweep_plot_lines(figure, files, 3, false) << "\nunset logscale y\n"
       << "set title 'CPU us per request (whole machine)'\nset yrange [0:*]\n"
       << sweep_plot_lines(figure, files, 4, false) << "\n"
       << "unset logscale x\nunset xlabel\nset xtics auto\nset title 'stream: MB/s back (median, bars: min-max)'\n"
       << stream_bars(figure, files);
    if (!manifest_entries(manifest, "guest-table").empty())
        gp << "set label 1 'kmod: measured only in a QEMU guest, emulated (TCG): compare ratios only (summary.md)' "
              "at screen 0.01,0.01\n";
    gp << "unset multiplot\n";
    figure.draw(gp.str());
}

void plot_latency_vs_load(const std::string& dir, const std::vector<ResultFile>& files) {
    auto points = load_points(files);
    if (points.empty()) return;
    const Figure figure(dir + "/latency-vs-load.png", 1400, 560);
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
void plot_burst_scatter(const std::string& dir, const json& manifest) {
    const Figure figure(dir + "/burst-scatter.png", 1000, 600);
    std::string plot;
    for (const auto& e : manifest_entries(manifest, "burst-series")) {
        const std::string mode = e.value("mode", "?"), name = "burst-" + mode;
        std::ifstream in(fs::path(dir) / e.at("file").get<std::string>());
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
        const std::string mode = m.value("mode", "?"), data = figure.data_path("cdf-" + mode + ".dat");
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
std::vector<std::string> plot_cdfs(const std::string& dir, const std::vector<ResultFile>& files) {
    std::vector<std::string> written;
    auto draw = [&](const std::string& path, const std::string& title, const std::vector<Entry>& entries) {
        plot_cdf(path, title, entries);
        if (fs::exists(path)) written.push_back(path);
    };
    for (const auto& [conns, modes] : best_pingpong(files)) {
        std::vector<Entry> entries;
        for (const auto& [mode, e] : modes) entries.push_back(e);
        const std::string c = std::to_string(conns);
        draw(dir + "/cdf-pingpong-c" + c + ".png",
             "pingpong latency CDF, " + c + " connections (best client configuration)", entries);
    }
    const auto streams = entries_of(files, "stream");
    if (!streams.empty())
        draw(dir + "/cdf-stream.png",
             "stream: latency CDF of the echo of each " +
                 size_text(streams.front().file->doc.value("config", json::object()).value("size", 0)) + " write",
             streams);
    return written;
}

}  // namespace

std::vector<std::string> summarize_directory(const std::string& dir) {
    const json manifest = read_manifest(dir);
    auto files = load_result_files(dir, manifest);
    if (files.empty()) throw Error(dir + "/manifest.json declares no bench result: run scripts/compare.sh first");
    std::vector<std::string> written = {dir + "/summary.md", dir + "/all.csv", dir + "/sweep.png"};
    write_text(written[0], summary_markdown(dir, manifest, files));
    write_text(written[1], results_csv(files));
    plot_sweep(dir, manifest, files);
    plot_latency_vs_load(dir, files);
    plot_burst_scatter(dir, manifest);
    for (const char* figure : {"/latency-vs-load.png", "/burst-scatter.png"})
        if (fs::exists(dir + figure)) written.push_back(dir + figure);
    for (auto& p : plot_cdfs(dir, files)) written.push_back(p);
    return written;
}

}  // namespace kecho::bench
