// SPDX-License-Identifier: GPL-2.0-only
// bench summarize's reading of a results directory: the manifest names each file's role and the
// parameters a result does not carry itself; summarize reads no file it does not list and knows no
// file name.
#include "summary_files.h"

#include <algorithm>
#include <cmath>
#include <filesystem>

#include "bench/comparison.h"
#include "bench/csv.h"
#include "kecho/error.h"
#include "kecho/servers.h"

namespace kecho::bench::summary {
namespace {

namespace fs = std::filesystem;

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

// The manifest's files of these roles, read, sorted by name; `key` is what each must hold.
std::vector<ResultFile> read_files(const std::string& dir, const json& manifest, const std::vector<std::string>& roles,
                                   const std::string& key) {
    std::vector<ResultFile> files;
    for (const auto& role : roles)
        for (const auto& e : manifest_entries(manifest, role)) {
            const fs::path path = fs::path(dir) / e.at("file").get<std::string>();
            json doc = read_json_file(path.string());
            if (!doc.is_object() || !doc.contains(key)) throw Error(path.string() + " is not a bench result");
            files.push_back({path.stem().string(), std::move(doc), e});
        }
    std::sort(files.begin(), files.end(), [](const auto& a, const auto& b) { return a.name < b.name; });
    return files;
}

// A row's server threads as its file's run record has them (--server-info threads=), "" when unsaid.
std::string threads_of(const Entry& e) {
    const std::string target = e.mode->value("target", e.mode->value("mode", ""));
    for (const auto& s : e.file->doc.value("run", json::object()).value("servers", json::array()))
        if (s.value("mode", "") == target && s.contains("threads"))
            return s["threads"].is_string() ? s["threads"].get<std::string>() : s["threads"].dump();
    return "";
}

}  // namespace

Results load_results(const std::string& dir) {
    Results r;
    r.dir = dir;
    r.manifest = read_manifest(dir);
    r.files =
        read_files(dir, r.manifest, {"sweep", "closed-loop", "reference", "open-loop", "stream", "burst"}, "modes");
    r.verify = read_files(dir, r.manifest, {"verify"}, "cases");
    return r;
}

std::vector<json> manifest_entries(const json& manifest, const std::string& role) {
    std::vector<json> out;
    for (const auto& e : manifest.at("files"))
        if (e.value("role", "") == role) out.push_back(e);
    return out;
}

bool has_role(const ResultFile& f, const std::string& role) {
    return f.entry.value("role", "") == role;
}

std::vector<Entry> entries_of(const std::vector<ResultFile>& files, const std::string& role,
                              const std::string& workload) {
    std::vector<Entry> entries;
    for (const auto& f : files)
        if (has_role(f, role) && (workload.empty() || f.doc.value("workload", "") == workload))
            for (const auto& m : f.doc["modes"]) entries.push_back({&f, &m});
    return entries;
}

double number_at(const json& object, const std::string& key) {
    return object.is_object() && object.contains(key) && object[key].is_number() ? object[key].get<double>() : NAN;
}

Stat stat_of(const json& mode, const std::string& key) {
    const json s = mode.value("summary", json::object()).value(key, json::object());
    const double runs = number_at(s, "runs");
    return {number_at(s, "median"), number_at(s, "min"),  number_at(s, "max"),
            number_at(s, "low"),    number_at(s, "high"), std::isnan(runs) ? 0 : static_cast<std::size_t>(runs)};
}

double median_of(const json& mode, const std::string& key) {
    return stat_of(mode, key).median;
}

std::string noisy_of(const json& mode) {
    return mode.contains("noisy") && mode["noisy"].is_string() ? mode["noisy"].get<std::string>() : "";
}

std::string server_of(const json& mode) {
    return mode.value("server", mode.value("mode", "?"));
}

bool failed(const json& mode) {
    return mode.value("failed", false) || !mode.value("errors", json::array()).empty();
}

int connections_of(const ResultFile& f) {
    return f.doc.value("config", json::object()).value("connections", 0);
}

double rate_of(const ResultFile& f) {
    return f.doc.value("config", json::object()).value("rate", 0.0);
}

bool lower_is_better(const ResultFile& f) {
    return f.doc.value("lower_is_better", false);
}

std::string primary_of(const ResultFile& f) {
    return f.doc.value("primary_metric", "requests_per_s");
}

namespace {
const MetricDef* primary_def(const ResultFile& f) {
    const ComparisonWorkload* w = find_comparison(f.doc.value("workload", ""));
    return w && !w->layout.metrics.empty() ? &w->layout.metrics.front() : nullptr;
}
}  // namespace

int workload_order(const ResultFile& f) {
    const auto& all = comparison_workloads();
    const ComparisonWorkload* w = find_comparison(f.doc.value("workload", ""));
    return w ? static_cast<int>(w - all.data()) : static_cast<int>(all.size());
}

std::string primary_label(const ResultFile& f) {
    const MetricDef* m = primary_def(f);
    if (!m) return primary_of(f);
    return m->label + (m->lower_is_better ? ", lower is better" : "");
}

int primary_decimals(const ResultFile& f) {
    const MetricDef* m = primary_def(f);
    return m ? m->decimals : 0;
}

std::string workload_in_words(const ResultFile& f) {
    const int conns = connections_of(f);
    const std::string w = f.doc.value("workload", "?");
    if (conns <= 0) return w;
    return w + ", " + std::to_string(conns) + (conns == 1 ? " connection" : " connections");
}

std::string client_of(const Entry& e) {
    const json client = e.file->doc.value("run", json::object()).value("client", json::object());
    const std::string engine = client.value("engine", "?");
    if (engine == "threads")
        return std::to_string(e.file->doc.value("config", json::object()).value("threads", 0)) + " threads";
    if (engine == "blocking") return "blocking";
    double workers = median_of(*e.mode, "client_workers");  // what the runs used
    if (std::isnan(workers) && e.mode->value("client_workers", 0) > 0) workers = e.mode->value("client_workers", 0);
    return std::isnan(workers) ? engine : format_number(workers) + (workers == 1 ? " worker" : " workers");
}

std::string configuration_of(const Entry& e) {
    const std::string server = server_of(*e.mode), threads = threads_of(e);
    const ServerEntry* s = find_server(server);
    std::string out = "as started";
    if (!threads.empty() && std::all_of(threads.begin(), threads.end(), ::isdigit))
        out = threads + (s && s->role == ServerRole::kernel ? " accept thread" : " server thread") +
              (threads == "1" ? "" : "s");
    else if (!threads.empty())
        out = threads;
    const std::string client = client_of(e);
    if (client == "blocking") return out + " x blocking client (a thread per connection)";
    return out + " x " + client + (client.find("worker") != std::string::npos ? " (epoll client)" : "");
}

bool is_reference(const std::string& server) {
    const ServerEntry* s = find_server(server);
    return s && s->role == ServerRole::reference;
}

bool is_user(const std::string& server) {
    const ServerEntry* s = find_server(server);
    return s && s->role == ServerRole::user;
}

Failures failed_servers(const Results& results) {
    Failures out;
    for (const auto& f : results.verify)
        for (const auto& c : f.doc["cases"])
            if (!c.value("passed", true))
                out[c.value("server", c.value("mode", f.doc.value("mode", "?")))].push_back(
                    "verify " + c.value("name", "?") + ": " + c.value("detail", ""));
    for (const auto& f : results.files)
        for (const auto& m : f.doc["modes"])
            if (failed(m)) {
                const json errors = m.value("errors", json::array());
                out[server_of(m)].push_back(f.doc.value("workload", "?") + " " + f.doc.value("scale", std::string()) +
                                            ": " + (errors.empty() ? "?" : errors[0].get<std::string>()));
            }
    return out;
}

std::string failure_in(const ResultFile& f, const Failures& failures, const std::string& server) {
    for (const auto& m : f.doc["modes"])
        if (server_of(m) == server && failed(m)) {
            const json errors = m.value("errors", json::array());
            return "**FAILED** " + f.doc.value("scale", std::string()) + ": " +
                   (errors.empty() ? "?" : errors[0].get<std::string>());
        }
    const auto it = failures.find(server);
    return it == failures.end() ? "" : "**FAILED** (first in " + it->second.front() + ")";
}

std::map<std::string, std::vector<Entry>> load_points(const std::vector<ResultFile>& files) {
    std::map<std::string, std::vector<Entry>> points;
    for (const auto& e : entries_of(files, "open-loop")) points[server_of(*e.mode)].push_back(e);
    for (auto& [server, list] : points)
        std::sort(list.begin(), list.end(),
                  [](const Entry& a, const Entry& b) { return rate_of(*a.file) < rate_of(*b.file); });
    return points;
}

std::string size_text(std::uint64_t bytes) {
    if (bytes >= (1u << 20) && bytes % (1u << 20) == 0) return std::to_string(bytes >> 20) + " MiB";
    if (bytes >= 1024 && bytes % 1024 == 0) return std::to_string(bytes >> 10) + " KiB";
    return std::to_string(bytes) + " B";
}

std::string md_row(const std::vector<std::string>& cells) {
    std::string out = "|";
    for (const auto& c : cells) out += " " + c + " |";
    return out + "\n";
}

std::string md_table(const std::vector<std::string>& headings, const std::vector<std::vector<std::string>>& rows) {
    std::string out = md_row(headings) + "|";
    for (std::size_t i = 0; i < headings.size(); ++i) out += "---|";
    out += "\n";
    for (const auto& row : rows) out += md_row(row);
    return out;
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
                                              "connect_mean_us",
                                              "first_byte_mean_us",
                                              "client_workers",
                                              "errors",
                                              "load_before"};
    std::vector<std::string> header = {"file",        "role", "workload", "mode", "server",
                                       "connections", "rate", "layout",   "run"};
    header.insert(header.end(), metrics.begin(), metrics.end());
    header.insert(header.end(), {"failed", "noisy", "kernel", "online_cpus", "git_commit", "started_utc"});
    CsvWriter csv(header);
    for (const auto& f : files) {
        const json run = f.doc.value("run", json::object());
        for (const auto& mode : f.doc["modes"]) {
            const auto& runs = mode.value("runs", json::array());
            for (std::size_t r = 0; r < runs.size(); ++r) {
                csv.cell(f.name).cell(f.entry.value("role", "")).cell(f.doc.value("workload", ""));
                csv.cell(mode.value("mode", "")).cell(server_of(mode)).cell(static_cast<double>(connections_of(f)));
                csv.cell(rate_of(f)).cell(run.value("client", json::object()).value("layout", ""));
                csv.cell(static_cast<double>(r + 1));
                for (const auto& m : metrics) csv.cell(runs[r].contains(m) ? runs[r][m] : json());
                csv.cell(failed(mode) ? "yes" : "").cell(noisy_of(mode)).cell(run.value("kernel", ""));
                csv.cell(run.value("online_cpus", json())).cell(run.value("git_commit", ""));
                csv.cell(run.value("started_utc", "")).end_row();
            }
        }
    }
    return csv.str();
}

}  // namespace kecho::bench::summary
