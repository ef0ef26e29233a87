// SPDX-License-Identifier: GPL-2.0-only
// Reports read back from files: the layouts of every workload a file may hold, bench merge (one
// server, several client hosts) and bench report (several runs, merged per target).
#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include "bench/comparison.h"
#include "bench/results.h"
#include "kecho/error.h"

namespace kecho::bench {
namespace {

using nlohmann::json;

// A stress workload's layout: its rate of units of work ("cycles/s"), the units it did (counted by
// units_metric), then what went wrong; its CPU per unit (measured by the case runner).
WorkloadDef stress_layout(const std::string& name, const std::string& unit, const std::string& units_metric,
                          const std::vector<MetricDef>& failures) {
    WorkloadDef layout{
        name, {{unit + "s_per_second", unit + "s/s", 1}, {units_metric, unit + "s", 0}}, unit, units_metric};
    layout.metrics.insert(layout.metrics.end(), failures.begin(), failures.end());
    return layout;
}

// The layouts bench report reads besides the comparisons': two stress workloads and echo-loader
// trace's phases (one row each).
const std::vector<WorkloadDef>& other_layouts() {
    static const std::vector<WorkloadDef> layouts = {
        stress_layout("churn", "cycle", "cycles_done", {{"failures", "failures", 0}, {"retries", "retries", 0}}),
        stress_layout("half-close", "client", "clients",
                      {{"bytes_lost", "bytes lost", 0}, {"failed_clients", "failed clients", 0}}),
        {"trace",
         {{"(exchanges)", "(exchanges)", 1}, {"(accepted before arrival, %)", "(accepted before arrival, %)", 1}},
         "",
         "",
         true},
    };
    return layouts;
}

bool is_rate(const std::string& key) {
    return key == "errors" || (key.size() > 6 && key.compare(key.size() - 6, 6, "_per_s") == 0);
}

// "127.0.0.1:23001" or "[::1]:23001" back into an address (0.0.0.0:0 when it is not one).
SocketAddress address_of(const std::string& text) {
    try {
        const auto colon = text.rfind(':');
        return parse_address(text.substr(0, colon), parse_port(text.substr(colon + 1)));
    } catch (const std::exception&) {
        return parse_address("0.0.0.0", 0);
    }
}

// The modes every file has, in the first file's order.
std::vector<std::string> common_modes(const std::vector<std::pair<std::string, json>>& files) {
    std::vector<std::string> modes;
    for (const auto& m : files.front().second.at("modes")) modes.push_back(m.at("mode").get<std::string>());
    for (const auto& [name, doc] : files) {
        std::set<std::string> here;
        for (const auto& m : doc.at("modes")) here.insert(m.at("mode").get<std::string>());
        std::erase_if(modes, [&](const std::string& mode) { return !here.count(mode); });
    }
    return modes;
}

const json& mode_entry(const json& doc, const std::string& mode) {
    for (const auto& m : doc.at("modes"))
        if (m.at("mode") == mode) return m;
    throw Error("no mode " + mode);
}

ModeResults merge_mode(const std::vector<std::pair<std::string, json>>& files, const std::string& mode) {
    std::size_t runs = SIZE_MAX;
    for (const auto& [name, doc] : files) {
        const auto& m = mode_entry(doc, mode);
        if (!m.contains("histograms") || m["histograms"].size() != m.at("runs").size())
            throw Error(name + ": mode " + mode +
                        " has no latency histograms (merge takes pingpong and stream results)");
        runs = std::min(runs, m.at("runs").size());
    }
    ModeResults out;
    out.target.name = mode;
    out.target.address = parse_address("0.0.0.0", 0);
    for (std::size_t r = 0; r < runs; ++r) {
        LatencyHistogram sum;
        Metrics metrics;
        for (const auto& [name, doc] : files) {
            const auto& m = mode_entry(doc, mode);
            sum.merge(LatencyHistogram::from_json(m["histograms"][r]));
            for (const auto& [key, value] : m["runs"][r].items())
                if (is_rate(key) && value.is_number()) metrics[key] += value.get<double>();
        }
        add_latency_metrics(metrics, sum);
        out.runs.push_back(metrics);
        out.histograms.push_back(sum.to_json());
    }
    return out;
}

// The numbers of a JSON object as metrics (strings and flags left out).
Metrics numbers_of(const json& object) {
    Metrics out;
    for (const auto& [key, value] : object.items())
        if (value.is_number()) out[key] = value.get<double>();
    return out;
}

// A bench comparison file (pingpong, stream, burst): its targets as they are.
Report comparison_part(const json& doc) {
    Report part;
    part.workload = workload_def(doc.at("workload").get<std::string>());
    part.title = doc.value("title", "");
    part.config = doc.value("config", json::object());
    part.run = doc.value("run", json::object());
    for (const auto& m : doc.at("modes")) {
        ModeResults mode;
        mode.target.name = m.value("target", m.at("mode").get<std::string>());
        mode.target.server = m.value("server", "");
        mode.target.client_workers = m.value("client_workers", 0u);
        mode.target.address = address_of(m.value("address", ""));
        for (const auto& run : m.at("runs")) mode.runs.push_back(numbers_of(run));
        for (const auto& h : m.value("histograms", json::array())) mode.histograms.push_back(h);
        for (const auto& e : m.value("errors", json::array())) mode.errors.push_back(e.get<std::string>());
        part.modes.push_back(std::move(mode));
    }
    for (const auto& s : doc.value("skipped", json::array()))
        part.skipped.emplace_back(s.at("mode").get<std::string>(), s.at("reason").get<std::string>());
    return part;
}

// A stress workload's file (bench churn --json): one run per target, its cases' metrics together.
Report cases_part(const json& doc) {
    Report part;
    part.workload = workload_def(doc.at("workload").get<std::string>());
    part.run = doc.value("run", json::object());
    for (const auto& c : doc.at("cases")) {
        const std::string name = c.value("mode", doc.value("mode", "?"));
        auto it = std::find_if(part.modes.begin(), part.modes.end(),
                               [&](const ModeResults& m) { return m.target.name == name; });
        if (it == part.modes.end()) {
            part.modes.push_back({});
            it = part.modes.end() - 1;
            it->target.name = name;
            it->target.address = parse_address("0.0.0.0", 0);
            it->runs.emplace_back();
        }
        it->runs.front().merge(numbers_of(c.value("metrics", json::object())));
        if (!c.value("passed", false)) it->errors.push_back(c.value("name", "?") + ": " + c.value("detail", ""));
    }
    return part;
}

// An echo-loader trace --json file: one run, a metric per phase it saw (its mean) and the exchanges.
Report trace_part(const json& doc, const std::string& name) {
    Report part;
    part.workload = workload_def("trace");
    const double exchanges = doc.at("exchanges").get<double>();
    Metrics run = {{"(exchanges)", exchanges},
                   {"(accepted before arrival, %)",
                    exchanges > 0 ? 100.0 * doc.value("accepted_before_arrival", 0.0) / exchanges : 0.0}};
    std::vector<std::string> order;  // the layout's own two, then the phases
    const json phases = doc.value("phases", json::object());
    for (const auto& [phase, s] : phases.items())
        if (s.value("count", 0) > 0) {
            run[phase] = s.value("mean_us", 0.0);
            order.push_back(phase);
        }
    for (const auto& key : order) part.workload.metrics.push_back({key, key, 1});
    ModeResults mode;
    mode.target.name = name.empty() ? "port " + std::to_string(doc.value("port", 0)) : name;
    mode.target.address = parse_address("0.0.0.0", static_cast<std::uint16_t>(doc.value("port", 0)));
    mode.runs.push_back(std::move(run));
    part.modes.push_back(std::move(mode));
    return part;
}

Report read_part(const ReportInput& input) {
    const json doc = read_json_file(input.path);
    try {
        Report part = doc.contains("phases")  ? trace_part(doc, input.name)
                      : doc.contains("cases") ? cases_part(doc)
                                              : comparison_part(doc);
        if (!input.name.empty())
            for (auto& mode : part.modes) mode.target.name = input.name;
        return part;
    } catch (const json::exception& e) {
        throw Error(input.path + " is not a bench or echo-loader trace result: " + e.what());
    } catch (const Error& e) {
        throw Error(input.path + ": " + e.what());
    }
}

// Adds a file's targets to the report: a target's runs, histograms and errors follow its earlier ones.
// A per-metric layout's metrics are every file's: its own first ones, then the others by name.
void add_part(Report& report, Report part) {
    for (auto& metric : part.workload.metrics)
        if (std::none_of(report.workload.metrics.begin(), report.workload.metrics.end(),
                         [&](const MetricDef& m) { return m.key == metric.key; }))
            report.workload.metrics.push_back(metric);
    auto& metrics = report.workload.metrics;
    const auto own =
        static_cast<long>(std::min<std::size_t>(workload_def(report.workload.name).metrics.size(), metrics.size()));
    if (report.workload.per_metric)
        std::sort(metrics.begin() + own, metrics.end(), [](const auto& a, const auto& b) { return a.key < b.key; });
    for (auto& mode : part.modes) {
        auto it = std::find_if(report.modes.begin(), report.modes.end(),
                               [&](const ModeResults& m) { return m.target.label() == mode.target.label(); });
        if (it == report.modes.end()) {
            report.modes.push_back(std::move(mode));
            continue;
        }
        it->runs.insert(it->runs.end(), mode.runs.begin(), mode.runs.end());
        it->histograms.insert(it->histograms.end(), mode.histograms.begin(), mode.histograms.end());
        it->errors.insert(it->errors.end(), mode.errors.begin(), mode.errors.end());
    }
    for (auto& skipped : part.skipped)
        if (std::none_of(report.skipped.begin(), report.skipped.end(),
                         [&](const auto& s) { return s.first == skipped.first; }))
            report.skipped.push_back(std::move(skipped));
}

}  // namespace

const WorkloadDef* find_workload_def(const std::string& name) {
    for (const auto& w : comparison_workloads())
        if (w.name == name) return &w.layout;
    for (const auto& layout : other_layouts())
        if (layout.name == name) return &layout;
    return nullptr;
}

const WorkloadDef& workload_def(const std::string& name) {
    if (const WorkloadDef* layout = find_workload_def(name)) return *layout;
    std::vector<std::string> names;
    for (const auto& w : comparison_workloads()) names.emplace_back(w.name);
    for (const auto& layout : other_layouts()) names.push_back(layout.name);
    throw Error("no report layout for workload '" + name + "' (there are: " + join(names) + ")");
}

Report merge_reports(const std::vector<std::pair<std::string, json>>& files) {
    if (files.size() < 2) throw Error("merge needs at least two result files");
    Report report;
    try {
        const std::string workload = files.front().second.at("workload").get<std::string>();
        for (const auto& [name, doc] : files)
            if (doc.at("workload") != workload)
                throw Error("cannot merge " + name + " (" + doc.at("workload").get<std::string>() + ") with " +
                            files.front().first + " (" + workload + ")");
        report.workload = workload_def(workload);
        report.baseline = files.front().second.value("baseline", "user");
        report.config = files.front().second.value("config", json::object());
        report.run = {{"merged_from", json::array()}};
        for (const auto& [name, doc] : files)
            report.run["merged_from"].push_back({{"file", name}, {"run", doc.value("run", json())}});
        auto modes = common_modes(files);
        if (modes.empty()) throw Error("the files have no mode in common");
        for (const auto& mode : modes) report.modes.push_back(merge_mode(files, mode));
    } catch (const json::exception& e) {
        throw Error(std::string("malformed result file: ") + e.what());
    }
    report.title = report.workload.name + ": " + std::to_string(files.size()) +
                   " clients merged (rates added, percentiles from the merged histograms)";
    return report;
}

Report combine_reports(const std::vector<ReportInput>& inputs, const std::string& baseline) {
    if (inputs.empty()) throw Error("report needs at least one result file");
    Report report;
    std::string first_title;
    for (const auto& input : inputs) {
        Report part = read_part(input);
        if (report.workload.name.empty()) {
            report.workload = part.workload;
            report.config = part.config;
            report.run = part.run;
            first_title = part.title;
        } else if (part.workload.name != report.workload.name) {
            throw Error(input.path + " holds " + part.workload.name + " results, " + inputs.front().path + " " +
                        report.workload.name + " ones: one workload per report");
        }
        add_part(report, std::move(part));
    }
    report.baseline = baseline;
    report.run["reported_from"] = json::array();
    for (const auto& input : inputs) report.run["reported_from"].push_back(input.path);
    report.title = report.workload.name + ": " + std::to_string(inputs.size()) +
                   (inputs.size() == 1 ? " file" : " files") + ", runs merged per target; median (min-max)" +
                   (first_title.empty() ? "" : " (first: " + first_title + ")");
    return report;
}

Targets best_targets(const std::string& path, const ComparisonWorkload& workload) {
    Report sweep;
    try {
        sweep = comparison_part(read_json_file(path));
    } catch (const json::exception& e) {
        throw Error(path + " is not a bench result: " + e.what());
    }
    if (sweep.workload.name != workload.name)
        throw Error(path + " holds " + sweep.workload.name + " results: --best-of takes a " +
                    std::string(workload.name) + " sweep");
    // Each server's best row and its first failed one, servers in the order the file has them.
    std::vector<std::string> order;
    std::map<std::string, const ModeResults*> best, failed;
    for (const auto& m : sweep.modes) {
        const std::string server = m.target.server_name();
        if (std::find(order.begin(), order.end(), server) == order.end()) order.push_back(server);
        if (m.failed()) {
            failed.emplace(server, &m);
        } else if (!m.runs.empty()) {
            const double mine = m.summary()[sweep.primary().key].median;
            auto [it, first] = best.emplace(server, &m);
            if (!first &&
                better(mine, it->second->summary()[sweep.primary().key].median, sweep.primary().lower_is_better))
                it->second = &m;
        }
    }
    if (best.empty() && failed.empty()) throw Error(path + " has no row that ran: nothing to take the best of");
    Targets out;
    std::vector<Target> chosen;
    for (const auto& server : order) {
        if (auto f = failed.find(server); f != failed.end()) {
            Target t = f->second->target;
            t.server = server;
            out.failed.emplace_back(t, "in the sweep " + std::filesystem::path(path).filename().string() + ": " +
                                           f->second->errors.front());
        } else if (auto b = best.find(server); b != best.end()) {
            chosen.push_back(b->second->target);
            chosen.back().server = server;
        }
    }
    Targets probed = probe_all(chosen);
    out.reachable = std::move(probed.reachable);
    out.skipped = std::move(probed.skipped);
    return out;
}

std::map<std::string, double> read_perf_stat(const std::string& path) {
    std::ifstream in(path);
    if (!in) throw Error(errno_message("cannot read " + path, errno));
    std::map<std::string, double> counts;
    for (std::string line; std::getline(in, line);) {
        if (line.empty() || line[0] == '#') continue;
        // perf stat -x,: value,unit,event,run time,percentage,...
        std::istringstream fields(line);
        std::string value, unit, event;
        if (!std::getline(fields, value, ',') || !std::getline(fields, unit, ',') || !std::getline(fields, event, ','))
            continue;
        char* end = nullptr;
        const double count = std::strtod(value.c_str(), &end);
        if (end != value.c_str() && !event.empty()) counts[event] += count;
    }
    if (counts.empty()) throw Error(path + " holds no count of perf stat -x, (was perf stat run with -x,?)");
    return counts;
}

json read_json_file(const std::string& path) {
    std::ifstream in(path);
    if (!in) throw Error(errno_message("cannot read " + path, errno));
    try {
        return json::parse(in);
    } catch (const json::exception& e) {
        throw Error(path + " is not JSON: " + e.what());
    }
}

}  // namespace kecho::bench
