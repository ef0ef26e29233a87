// SPDX-License-Identifier: GPL-2.0-only
// summary.md's sections: the machine, the validation, each server at its best configuration with
// its 95% interval, its ratio to the best user-space server and the verdict (ties called ties),
// the sweeps that chose each configuration, latency against load, the burst, the busy-poll
// reference, the noisy rows and every table as printed. Every interval, ratio and verdict comes
// from bench/stats.h.
#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include "kecho/servers.h"
#include "summary_files.h"

namespace kecho::bench::summary {
namespace {

namespace fs = std::filesystem;

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
    return "## Machine and run\n\n| | |\n|---|---|\n" + md_row({"kernel", first.value("kernel", "?")}) +
           md_row({"CPU", first.value("cpu_model", "?")}) +
           md_row({"online CPUs", std::to_string(first.value("online_cpus", 0))}) +
           md_row({"memory", format_number(first.value("memory_bytes", 0.0) / (1u << 30), 1) + " GiB"}) +
           md_row({"kecho-bpf", first.value("version", "?") + ", commit " + join({commits.begin(), commits.end()})}) +
           md_row({"measured (UTC)", started + " to " + finished}) +
           md_row({"1-min load average before the first run",
                   format_number(load_at_start, 2) + (quiet ? " (quiet: at most half the CPUs)"
                                                            : " (above half the CPUs: the whole job is noisy)")}) +
           md_row({"layout", join({layouts.begin(), layouts.end()})}) + "\n";
}

std::string reading_section() {
    return "## How to read it\n\nEach server is measured at its best configuration: its server threads (the "
           "user-space engines; echo-loader's accept threads in the burst) and the client's workers were swept "
           "first (\"Sweeps\" below), and each server's best row there was measured again, interleaved with the "
           "others, until the 95% confidence interval of its median was within +/-5% or its run cap was reached. "
           "A figure reads `median [95% interval]`: the interval is distribution-free (order statistics of the "
           "runs, binomial), so a slow run moves it little; fewer than " +
           std::to_string(runs_for_interval) +
           " runs give none, and such a figure shows `(min-max)` and is `unranked`. A ratio divides by the best "
           "user-space server of the same table (" +
           [] {
               std::vector<std::string> names;
               for (const auto& s : servers)
                   if (s.role == ServerRole::user) names.push_back("`" + std::string(s.mode) + "`");
               return join(names);
           }() +
           "), with its interval (the quotients of the intervals' ends: it holds the true ratio whenever both "
           "intervals hold theirs, at least 90% of the time). Where two intervals overlap the verdict is `tie`, "
           "and the ranking lines write `=`: neither is faster. A server that returned one wrong byte anywhere is "
           "FAILED: listed with where and its first error, with no figure and no rank.\n\n";
}

// "**FAILED**: <the first place and error>; also in <the other places, verify's cases counted>".
std::string failed_text(const std::vector<std::string>& places) {
    std::vector<std::string> others;
    int cases = 0;
    for (std::size_t i = 1; i < places.size(); ++i) {
        const std::string where = places[i].substr(0, places[i].find(':'));
        if (where.rfind("verify ", 0) == 0)
            ++cases;
        else if (std::find(others.begin(), others.end(), where) == others.end())
            others.push_back(where);
    }
    if (cases > 0) others.insert(others.begin(), "verify (" + std::to_string(cases) + " more cases)");
    return "**FAILED**: " + places.front() + (others.empty() ? "" : "; also in " + join(others));
}

// Every server configuration's verify, and whether its server failed validation anywhere (where first).
std::string validation_section(const Results& r, const Failures& failures) {
    std::vector<std::vector<std::string>> rows;
    std::set<std::string> shown;  // servers
    for (const auto& f : r.verify) {
        std::map<std::pair<std::string, std::string>, std::pair<int, int>> counts;  // server, target -> passed, failed
        for (const auto& c : f.doc["cases"]) {
            const std::string target = c.value("mode", f.doc.value("mode", "?"));
            auto& [passed, failed] = counts[{c.value("server", target), target}];
            (c.value("passed", false) ? passed : failed)++;
        }
        for (const auto& [key, n] : counts) {
            const auto& [server, target] = key;
            shown.insert(server);
            rows.push_back({server, target,
                            std::to_string(n.first) + " of " + std::to_string(n.first + n.second) + " cases passed",
                            failures.count(server) ? failed_text(failures.at(server)) : "passed"});
        }
    }
    for (const auto& [server, why] : failures)
        if (!shown.count(server)) rows.push_back({server, "-", "-", failed_text(why)});
    if (rows.empty()) return "";
    return "## Validation\n\nEvery byte every server returned was checked. `bench verify --quick` (its battery: sizes, "
           "every byte value, 200 concurrent connections, 1,000 half-closing clients, resets, a mix of 64) ran "
           "against each server first; a server that fails it, or any run of a comparison below, is FAILED and "
           "is not ranked anywhere.\n\n" +
           md_table({"server", "configuration", "verify", "validation"}, rows) + "\n";
}

const std::vector<Column>& pingpong_columns() {
    static const std::vector<Column> columns = {{"p50 us", "p50_us", 1},
                                                {"p99 us", "p99_us", 1},
                                                {"CPU us/req", "cpu_us_per_request", 2},
                                                {"client", "client_cpu_us_per_request", 2},
                                                {"server", "server_cpu_us_per_request", 2},
                                                {"kernel threads", "kernel_thread_us_per_request", 2},
                                                {"other", "other_cpu_us_per_request", 2}};
    return columns;
}

std::string best_pingpong_section(const Results& r, const Failures& failures) {
    std::vector<std::vector<std::string>> rows;
    std::vector<std::pair<int, std::string>> lines;  // connections, ranking line
    for (const auto& f : r.files) {
        if (!has_role(f, "closed-loop")) continue;
        const std::string conns = std::to_string(connections_of(f));
        for (auto& row : ranking_rows(f, failures, pingpong_columns(), 0)) {
            row.insert(row.begin(), conns);
            rows.push_back(std::move(row));
        }
        lines.emplace_back(connections_of(f), "- " + conns + (conns == "1" ? " connection: " : " connections: ") +
                                                  ranking_line(f, failures) + "\n");
    }
    if (rows.empty()) return "";
    std::stable_sort(rows.begin(), rows.end(),
                     [](const auto& a, const auto& b) { return std::stoi(a[0]) < std::stoi(b[0]); });
    std::sort(lines.begin(), lines.end());
    std::vector<std::string> headings = ranking_headings("req/s", pingpong_columns());
    headings.insert(headings.begin(), "connections");
    return "## Ping-pong, each server at its best configuration\n\nRequest/response, closed loop, one message in "
           "flight per connection. CPU us per request: the whole machine, then split into the bench client, the "
           "server process(es), kernel threads (kworkers, ksoftirqd: kernel work outside both) and everything else "
           "on the machine.\n\n" +
           md_table(headings, rows) + "\nRanking (`>`: the intervals are apart; `=`: a tie; `?`: unranked):\n\n" +
           [&] {
               std::string text;
               for (const auto& [conns, line] : lines) text += line;
               return text;
           }() +
           "\n";
}

// The connections of a file, or a big number for those without (stream, burst sort last).
int order_of(const ResultFile& f) {
    return workload_order(f) * 1000000 + connections_of(f);
}

// A sweep's cell: the row's median; FAILED where it failed; "-" for a server that failed validation
// elsewhere (no rate is shown for it).
std::string sweep_cell(const ResultFile& f, const json& m, const Failures& failures) {
    if (failed(m)) return "FAILED";
    return failures.count(server_of(m)) ? "-" : format_number(median_of(m, primary_of(f)));
}

// A sweep as a matrix: a row per target (a server configuration), a column per client configuration,
// each cell the primary metric's median; each server's best cell (the one measured again) in bold. A
// row that failed before its first run has no client configuration: FAILED in every column.
std::string sweep_matrix(const ResultFile& f, const Failures& failures) {
    std::vector<std::string> columns, targets, failed_unrun;
    std::map<std::string, std::map<std::string, std::string>> cells;
    std::map<std::string, Entry> best;  // per server
    for (const auto& m : f.doc["modes"]) {
        const Entry e{&f, &m};
        const std::string target = m.value("target", m.value("mode", "?")), client = client_of(e);
        if (std::find(targets.begin(), targets.end(), target) == targets.end()) targets.push_back(target);
        if (failed(m) && m.value("runs", json::array()).empty() && m.value("client_workers", 0) == 0) {
            failed_unrun.push_back(target);
            continue;
        }
        if (std::find(columns.begin(), columns.end(), client) == columns.end()) columns.push_back(client);
        cells[target][client] = sweep_cell(f, m, failures);
        auto [it, first] = best.emplace(server_of(m), e);
        if (!failed(m) &&
            (first || failed(*it->second.mode) ||
             better(median_of(m, primary_of(f)), median_of(*it->second.mode, primary_of(f)), lower_is_better(f))))
            it->second = e;
    }
    for (const auto& [server, e] : best)
        if (!failed(*e.mode) && !failures.count(server)) {
            auto& cell = cells[e.mode->value("target", e.mode->value("mode", "?"))][client_of(e)];
            cell = "**" + cell + "**";
        }
    for (const auto& t : failed_unrun)
        for (const auto& c : columns) cells[t][c] = "FAILED";
    std::vector<std::vector<std::string>> rows;
    for (const auto& t : targets) {
        rows.push_back({t});
        for (const auto& c : columns) rows.back().push_back(cells[t].count(c) ? cells[t][c] : "-");
    }
    std::vector<std::string> headings = {"server configuration"};
    headings.insert(headings.end(), columns.begin(), columns.end());
    return md_table(headings, rows);
}

std::string sweeps_section(const Results& r, const Failures& failures) {
    std::vector<const ResultFile*> sweeps;
    for (const auto& f : r.files)
        if (has_role(f, "sweep")) sweeps.push_back(&f);
    if (sweeps.empty()) return "";
    std::stable_sort(sweeps.begin(), sweeps.end(), [](auto* a, auto* b) { return order_of(*a) < order_of(*b); });
    std::string out =
        "## Sweeps: how each server's configuration was chosen\n\nEach server configuration (a "
        "`-Nt` name: N server threads, or accept threads for bpf) against each client configuration; "
        "a cell is the median of its runs (a screen, too few runs for an interval). Each server's "
        "best cell, in bold, is the configuration measured again above. A server that failed "
        "validation has no bold cell and no figure: FAILED where it failed, `-` elsewhere.\n\n";
    for (const ResultFile* f : sweeps) {
        out += "### " + workload_in_words(*f) + " (" + primary_label(*f) + ")\n\n";
        if (f->entry.contains("note")) out += f->entry["note"].get<std::string>() + "\n\n";
        out += sweep_matrix(*f, failures) + "\n";
    }
    return out;
}

std::string stream_section(const Results& r, const Failures& failures) {
    std::string out;
    for (const auto& f : r.files) {
        if (!has_role(f, "stream")) continue;
        const std::vector<Column> columns = {{"CPU us/MB", "cpu_us_per_mb", 0},
                                             {"client us/MB", "client_cpu_us_per_mb", 0},
                                             {"server us/MB", "server_cpu_us_per_mb", 0}};
        out += "## Stream, each server at its best configuration (" +
               size_text(f.doc.value("config", json::object()).value("size", 0)) + " writes, " +
               std::to_string(connections_of(f)) + " connections)\n\n" +
               md_table(ranking_headings("MB/s back", columns), ranking_rows(f, failures, columns, 1)) +
               "\nRanking: " + ranking_line(f, failures) + "\n\n";
    }
    return out;
}

std::string load_section(const Results& r, const Failures& failures) {
    std::vector<std::vector<std::string>> rows;
    for (const auto& [server, list] : load_points(r.files))
        for (const auto& e : list) {
            if (failures.count(server)) continue;
            const bool kept = median_of(*e.mode, "rate_kept") >= 0.5;
            rows.push_back({server, configuration_of(e), format_number(e.file->entry.value("load_percent", NAN)),
                            format_number(rate_of(*e.file)),
                            format_number(median_of(*e.mode, "requests_per_s")) + (kept ? "" : " (rate NOT kept)"),
                            format_number(median_of(*e.mode, "p50_us"), 1),
                            format_number(median_of(*e.mode, "p90_us"), 1),
                            format_number(median_of(*e.mode, "p99_us"), 1), noisy_of(*e.mode)});
        }
    if (rows.empty()) return "";
    const ResultFile& first = *entries_of(r.files, "open-loop").front().file;
    return "## Latency against load (open loop, " + std::to_string(connections_of(first)) +
           " connections)\n\nRequests leave on a fixed timetable (`bench --rate`), latency counts from each "
           "request's scheduled time, so queueing shows (no coordinated omission). Offered load: percent of the "
           "fastest server's closed-loop maximum at " +
           std::to_string(first.entry.value("percent_of_connections", 0)) +
           " connections; each server at its best configuration there. Medians of the runs (too few for an "
           "interval: these rows show latency, not a ranking). A rate a server could not keep is marked.\n\n" +
           md_table({"server", "configuration", "load %", "offered req/s", "achieved", "p50 us", "p90 us", "p99 us",
                     "noisy"},
                    rows) +
           "\n";
}

std::string burst_section(const Results& r, const Failures& failures) {
    std::string out;
    for (const auto& f : r.files) {
        if (!has_role(f, "burst")) continue;
        const json cfg = f.doc.value("config", json::object());
        const std::vector<Column> columns = {{"connect us", "connect_mean_us", 0},
                                             {"first echoed byte us", "first_byte_mean_us", 0},
                                             {"connect + echo us", "exchange_mean_us", 0},
                                             {"p99 us", "p99_us", 0}};
        out += "## Burst, each server at its best configuration (kecho's bench: " +
               std::to_string(cfg.value("threads", 0)) + " threads x " + std::to_string(cfg.value("rounds", 0)) +
               " rounds a run, one message each; lower is better)\n\nThe figure is kecho's: the mean time from "
               "sending the message to its whole echo. Each exchange's phases beside it (means): the connect "
               "(kecho leaves it out), and the first echoed byte after the send, where a server's accept shows: "
               "nothing is echoed before the server accepts the connection, and the in-kernel echo cannot run "
               "before echo-loader's accept either.\n\n" +
               md_table(ranking_headings("mean us", columns), ranking_rows(f, failures, columns, 0)) +
               "\nRanking: " + ranking_line(f, failures) + ". " + rank_statement(f, failures) +
               "\n\nPer-thread files (kecho's `index microseconds`): `burst-<configuration>.txt`; plot: "
               "`burst-scatter.png`.\n\n";
    }
    return out;
}

std::string reference_section(const Results& r) {
    std::vector<std::vector<std::string>> rows;
    auto entries = entries_of(r.files, "reference");
    std::stable_sort(entries.begin(), entries.end(),
                     [](const Entry& a, const Entry& b) { return order_of(*a.file) < order_of(*b.file); });
    for (const auto& e : entries) {
        const ResultFile& f = *e.file;
        rows.push_back(
            {server_of(*e.mode), workload_in_words(f),
             failed(*e.mode) ? "FAILED" : format_estimate(stat_of(*e.mode, primary_of(f)), primary_decimals(f)),
             primary_label(f), format_number(median_of(*e.mode, "p99_us"), 1), noisy_of(*e.mode)});
    }
    if (rows.empty()) return "";
    return "## The busy-poll reference, measured alone\n\nIt spins on a core even when idle, so it runs after "
           "the others are stopped, with one thread; it is a floor for wakeup-free latency, not a competitor.\n\n" +
           md_table({"server", "workload", "median", "unit", "p99 us", "noisy"}, rows) + "\n";
}

std::string noisy_section(const Results& r) {
    std::string list;
    for (const auto& f : r.files)
        if (!has_role(f, "sweep"))
            for (const auto& m : f.doc["modes"])
                if (!noisy_of(m).empty())
                    list += "- " + f.name + " / " + m.value("mode", "?") + ": " + noisy_of(m) + "\n";
    return "## Noisy rows\n\nA row is noisy when its runs spread more than 10 % ((max-min)/median) or, while it "
           "ran, processes other than the client, the servers and kernel threads used more than 5 % of the CPUs. "
           "(The load average before each run is in the JSON, but it mostly shows this job's own previous runs.)\n\n" +
           (list.empty() ? std::string("None.\n") : list) + "\n";
}

std::string read_text(const fs::path& path) {
    std::ifstream in(path);
    std::stringstream text;
    text << in.rdbuf();
    return text.str();
}

// The paths of the manifest's files of a role, sorted.
std::vector<fs::path> paths_of(const Results& r, const std::string& role) {
    std::vector<fs::path> paths;
    for (const auto& e : manifest_entries(r.manifest, role))
        paths.push_back(fs::path(r.dir) / e.at("file").get<std::string>());
    std::sort(paths.begin(), paths.end());
    return paths;
}

// The guest's figures, the kernel matrix and every table as bench printed it.
std::string verbatim_sections(const Results& r) {
    std::ostringstream out;
    for (const auto& guest : paths_of(r, "guest-table"))
        out << "## kmod, bpf and user inside a QEMU guest\n\n**emulated (TCG): compare ratios only** (absolute "
               "numbers are not comparable with the host's).\n\n```\n"
            << read_text(guest) << "```\n\n";
    const auto matrices = paths_of(r, "kernel-matrix"), tables = paths_of(r, "table");
    for (const auto& m : matrices) out << "## " << m.filename().string() << "\n\n" << read_text(m) << "\n";
    if (!tables.empty()) out << "## Every table as printed\n\n";
    for (const auto& t : tables) out << "### " << t.stem().string() << "\n\n```\n" << read_text(t) << "```\n\n";
    return out.str();
}

}  // namespace

std::string summary_markdown(const Results& r) {
    const Failures failures = failed_servers(r);
    std::string references;
    for (const auto& s : servers)
        if (s.role == ServerRole::reference) references += (references.empty() ? "" : ", ") + std::string(s.mode);
    return "# kecho-bpf: comparison summary\n\nWritten by `bench summarize` from the results in this directory. "
           "Figures: `sweep.png` (req/s, p99 and CPU per request against connections, each server at its best; " +
           references +
           " dashed; stream as bars), `latency-vs-load.png`, `burst-scatter.png`, `cdf-*.png`; every run: "
           "`all.csv`.\n\n" +
           reading_section() + machine_section(r.files) + validation_section(r, failures) +
           best_pingpong_section(r, failures) + sweeps_section(r, failures) + stream_section(r, failures) +
           load_section(r, failures) + burst_section(r, failures) + reference_section(r) + noisy_section(r) +
           verbatim_sections(r);
}

}  // namespace kecho::bench::summary
