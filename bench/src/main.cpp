// SPDX-License-Identifier: GPL-2.0-only
// bench: one client engine for every echo server. One subcommand per workload (CLI11's
// subcommands-in-files layout: setup_X binds the options, run_X runs); see bench --help.
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <iostream>
#include <map>
#include <string>
#include <vector>

#include "bench/results.h"
#include "kecho/cli.h"
#include "kecho/cpu_set.h"
#include "kecho/error.h"
#include "kecho/run_info.h"

namespace {

using namespace kecho;
using namespace kecho::bench;

const std::vector<std::string> comparisons = {"pingpong", "stream", "burst"};
const std::vector<std::string> tools = {"merge", "summarize"};  // read results, drive no server

enum class ClientChoice { automatic, epoll, blocking };

// Every option, grouped by the subcommands that take it.
struct Options {
    std::vector<std::string> modes{"user"};           // mode names, or "all"
    std::map<std::string, std::uint16_t> mode_ports;  // --mode-port user=23001: a mode's port
    std::string host = "127.0.0.1";
    std::uint16_t port = 0;
    std::string json_path;
    // pingpong, stream, burst: a comparison
    unsigned repeat = 0;  // 0: 3 when several modes run, else 1
    std::string baseline = "user";
    std::string csv_path, plot_path;
    // the run's record: where the client runs, how each server was started, the placement
    std::string cpus;                      // CPU list the client is pinned to (empty: not pinned)
    std::vector<std::string> server_info;  // "mode=user engine=epoll threads=1 cpus=1 pid=123"
    std::string layout;                    // "shared", "split", or empty (not said)
    // pingpong, stream
    LoadOptions load;
    std::uint64_t size = 64, stream_size = 64 * 1024, window = 256 * 1024;
    ClientChoice client = ClientChoice::automatic;
    // burst
    BurstOptions burst;
    std::string out_path;
    // verify and the stress workloads
    std::vector<std::string> cases;
    CaseOptions case_options;
    // merge, summarize
    std::vector<std::string> merge_files;
    std::string summarize_dir;
    int argc = 0;
    char** argv = nullptr;
};

bool is_one_of(const std::string& name, const std::vector<std::string>& list) {
    return std::find(list.begin(), list.end(), name) != list.end();
}

std::vector<std::string> mode_names() {
    std::vector<std::string> names;
    for (const auto& m : server_modes()) names.push_back(m.name);
    return names;
}

// "kmod 12345, user 12346, ...": every mode's default port, lowest first.
std::string default_ports() {
    std::vector<ServerMode> modes = server_modes();
    std::sort(modes.begin(), modes.end(), [](const auto& a, const auto& b) { return a.port < b.port; });
    std::vector<std::string> items;
    for (const auto& m : modes) items.push_back(std::string(m.name) + " " + std::to_string(m.port));
    return join(items);
}

// --mode-port MODE=PORT, parsed once into o.mode_ports; MODE is a name of the mode table.
CLI::Option* add_mode_port_option(CLI::App& app, Options& o) {
    auto parse = [&o](const std::vector<std::string>& specs) {
        for (const auto& spec : specs) {
            const auto eq = spec.find('=');
            const ServerMode* mode = eq == std::string::npos ? nullptr : find_mode(spec.substr(0, eq));
            if (!mode)
                throw CLI::ValidationError("--mode-port", "expected MODE=PORT with MODE one of " + join(mode_names()) +
                                                              ", got '" + spec + "'");
            try {
                o.mode_ports[mode->name] = parse_port(spec.substr(eq + 1));
            } catch (const Error& e) {
                throw CLI::ValidationError("--mode-port", e.what());
            }
        }
    };
    return app
        .add_option_function<std::vector<std::string>>(
            "--mode-port", parse, "MODE=PORT: that mode's port when several modes run (repeatable)")
        ->type_name("MODE=PORT");
}

std::vector<std::string> selected_modes(const Options& o) {
    std::vector<std::string> modes;
    for (const auto& name : o.modes) {
        if (name == "all") return mode_names();
        if (std::find(modes.begin(), modes.end(), name) == modes.end()) modes.push_back(name);
    }
    return modes;
}

// An option with a range and its default shown in --help.
template <class T, class R>
CLI::Option* ranged(CLI::App* app, const char* name, T& value, R low, R high, const std::string& help) {
    return app->add_option(name, value, help)->check(CLI::Range(low, high))->capture_default_str();
}

void setup_common(CLI::App& app, Options& o) {
    auto names_and_all = mode_names();
    names_and_all.push_back("all");
    app.add_option("--mode", o.modes,
                   "server to drive: " + join(mode_names()) +
                       "; all = every reachable one; or a list (user,uring): several run interleaved, unreachable "
                       "ones are skipped")
        ->delimiter(',')
        ->check(CLI::IsMember(names_and_all))
        ->capture_default_str();
    auto* mode_port = add_mode_port_option(app, o);
    app.add_option("--host", o.host, "server address (numeric IPv4/IPv6)")->capture_default_str();
    app.add_option("--port", o.port, "server port (default: the mode's port: " + default_ports() + ")")
        ->transform(cli::port_transformer(""))
        ->type_name("PORT")
        ->excludes(mode_port);
    app.add_option("--json", o.json_path, "write the results as JSON to this file");
}

void add_comparison_options(CLI::App& sub, Options& o) {
    sub.add_option("--repeat", o.repeat, "runs per mode (default 3 with several modes, else 1)")
        ->check(CLI::Range(1, 100));
    sub.add_option("--baseline", o.baseline, "mode the ratio column compares with")
        ->transform(CLI::IsMember(mode_names(), CLI::ignore_case))
        ->option_text("MODE (default user)");
    sub.add_option("--csv", o.csv_path, "write one CSV row per run to this file");
    sub.add_option("--plot", o.plot_path, "draw the results with gnuplot into this .png or .svg file")
        ->check(cli::validator(
            [](const std::string& path) {
                auto ext = std::filesystem::path(path).extension().string();
                if (ext != ".png" && ext != ".svg") throw Error("'" + path + "' must end in .png or .svg");
            },
            "PATH"));
    sub.add_option("--cpus", o.cpus, "pin the client to these CPUs (e.g. 0 or 0-1,3); recorded in the results")
        ->check(cli::cpu_list_validator());
    sub.add_option("--server-info", o.server_info,
                   "how a server was started, recorded in the results: 'mode=user engine=epoll threads=1 cpus=1 "
                   "pid=123' (repeatable; pid= also counts that process's CPU time as the server's)")
        ->check(cli::validator(
            [](const std::string& value) {
                if (!parse_key_values(value).contains("mode"))
                    throw Error("--server-info needs mode=NAME, got '" + value + "'");
            },
            ""));
    sub.add_option("--layout", o.layout, "placement of client and servers, recorded in the results")
        ->check(CLI::IsMember({"shared", "split"}));
}

void add_load_options(CLI::App& sub, Options& o, std::uint64_t& size, const char* size_help) {
    ranged(&sub, "--connections", o.load.connections, 1, 100000, "connections");
    sub.add_option("--size", size, size_help)->transform(cli::bytes_transformer(1, 1ull << 30))->capture_default_str();
    ranged(&sub, "--duration", o.load.duration, 0.1, 3600.0, "measured seconds");
    ranged(&sub, "--warmup", o.load.warmup, 0.0, 600.0, "seconds before measuring");
    sub.add_option("--workers", o.load.workers,
                   "epoll threads (default: max(4, cores), at most 16 and one per connection)")
        ->check(CLI::Range(1, 64));
    add_comparison_options(sub, o);
}

void setup_comparisons(CLI::App& app, Options& o) {
    auto* pingpong = app.add_subcommand("pingpong",
                                        "request/response: each connection sends a message and waits for "
                                        "its echo (the default workload)");
    add_load_options(*pingpong, o, o.size, "bytes per message");
    ranged(pingpong, "--pipeline", o.load.in_flight, 1, 1024, "messages in flight per connection");
    pingpong
        ->add_option("--client", o.client,
                     "epoll (a few threads), blocking (one thread per connection) or auto: blocking up to 4 "
                     "connections without --pipeline (one recv+send per request, no epoll_wait), epoll above")
        ->transform(CLI::CheckedTransformer(std::map<std::string, ClientChoice>{
            {"auto", ClientChoice::automatic}, {"epoll", ClientChoice::epoll}, {"blocking", ClientChoice::blocking}}))
        ->default_str("auto");
    pingpong
        ->add_option("--rate", o.load.rate,
                     "open loop: N requests/s over all connections on a fixed timetable, latency counted from each "
                     "request's scheduled time (wrk2's method); the achieved rate is reported (epoll client)")
        ->check(CLI::Range(1.0, 1e9));
    auto* stream = app.add_subcommand("stream", "throughput: each connection keeps --window bytes in flight");
    add_load_options(*stream, o, o.stream_size, "bytes per write");
    stream->add_option("--window", o.window, "bytes in flight per connection")
        ->transform(cli::bytes_transformer(1, 1ull << 34))
        ->default_str("256K");
    auto* burst = app.add_subcommand("burst",
                                     "kecho's classic bench: threads released together, each connects, "
                                     "times one echo, closes");
    ranged(burst, "--threads", o.burst.threads, 1, 10000, "threads released together");
    ranged(burst, "--rounds", o.burst.rounds, 1, 10000, "rounds");
    burst->add_option("--message", o.burst.message, "the message each thread sends")
        ->check(cli::validator(
            [](const std::string& m) {
                if (m.empty()) throw Error("must not be empty");
            },
            "TEXT"))
        ->capture_default_str();
    burst->add_option("--out", o.out_path, "write kecho's 'index microseconds' file (one per mode with several)");
    add_comparison_options(*burst, o);
}

void setup_cases(CLI::App& app, Options& o) {
    CaseOptions& c = o.case_options;
    auto* verify = app.add_subcommand("verify", "the correctness battery: named cases, every byte checked");
    verify->add_flag("--quick", c.quick, "the seconds-long subset (every case but size-16MiB), shorter bounds");
    verify->add_option("--case", o.cases, "run only this case (repeatable)")
        ->check(cli::validator(
            [](const std::string& name) {
                if (!is_one_of(name, verify_case_names()))
                    throw Error("unknown case '" + name + "' (cases: " + join(verify_case_names()) + ")");
            },
            "NAME"));
    auto* held = app.add_subcommand("held", "connections held open: echo, hold, echo again");
    ranged(held, "--connections", c.connections, 1, 1000000, "connections open at once");
    ranged(held, "--hold", c.hold, 0.0, 3600.0, "seconds every connection stays open between two echo rounds");
    auto* churn = app.add_subcommand("churn", "connect/echo/close cycles");
    ranged(churn, "--cycles", c.cycles, 1ull, 100000000ull, "cycles");
    ranged(churn, "--duration-limit", c.duration_limit, 1.0, 86400.0, "stop after SEC seconds (the rate is reported)");
    ranged(churn, "--retry", c.retry, 0.0, 600.0, "seconds a failed cycle is retried (a server restarting)");
    auto* half_close = app.add_subcommand("half-close", "clients that send, shut down writing and expect every byte");
    ranged(half_close, "--clients", c.clients, 1, 100000, "clients");
    auto* resets = app.add_subcommand("resets", "clients that reset with their echo in flight");
    ranged(resets, "--count", c.count, 1, 10000000, "connections reset mid-stream");
    for (auto* sub : {churn, resets}) ranged(sub, "--client-threads", c.threads, 1, 256, "client threads");
    auto* slow = app.add_subcommand("slow", "clients that push data and read slowly (half of them never)");
    ranged(slow, "--clients", c.clients, 1, 100000, "clients, half never reading");
    ranged(slow, "--duration", c.duration, 0.1, 3600.0, "seconds the clients push");
    auto* bad_input = app.add_subcommand("bad-input", "hostile input: 0-length writes, every byte value, NULs, 16 MiB");
    bad_input->add_flag("--quick", c.quick, "1 MiB instead of 16 MiB messages");
}

void setup_tools(CLI::App& app, Options& o) {
    auto* merge = app.add_subcommand("merge",
                                     "combine results of one server driven from several client hosts: "
                                     "latency histograms added (percentiles from the sum), rates added");
    merge->add_option("files", o.merge_files, "bench --json files of the same workload (two or more)")
        ->required()
        ->check(CLI::ExistingFile);
    auto* summarize = app.add_subcommand("summarize",
                                         "write summary.md, all.csv and the figures for a results "
                                         "directory written by scripts/compare.sh");
    summarize->add_option("dir", o.summarize_dir, "the results directory")->required()->check(CLI::ExistingDirectory);
}

// Checks that span options (CLI11 runs this after parsing, its errors are usage errors).
void check_combinations(const CLI::App& app, const Options& o) {
    const std::string workload = app.get_subcommands().front()->get_name();
    const bool several_modes = selected_modes(o).size() > 1;
    if (several_modes && o.port != 0)
        throw CLI::ValidationError("--port", "picks one server's port; with several modes use --mode-port MODE=PORT");
    if (several_modes && workload != "verify" && !is_one_of(workload, comparisons) && !is_one_of(workload, tools))
        throw CLI::ValidationError("--mode", "bench " + workload + " drives one server (one --mode)");
    if (o.load.rate > 0 && o.client == ClientChoice::blocking)
        throw CLI::ValidationError("--rate", "drives the epoll client; drop --client blocking");
    if (workload == "stream" && o.window < o.stream_size)
        throw CLI::ValidationError("--window", "must hold at least one --size write");
    if (workload == "stream" && o.window / o.stream_size > 65536)
        throw CLI::ValidationError("--window", "--window / --size must be at most 65536 writes in flight");
}

// `bench --workload X ...` (how scripts say it) is `bench X ...`; no workload at all is pingpong.
std::vector<std::string> with_subcommand(const CLI::App& app, std::vector<std::string> args) {
    std::vector<std::string> subcommands;
    for (const auto* sub : app.get_subcommands({})) subcommands.push_back(sub->get_name());
    auto alias = std::find(args.begin(), args.end(), "--workload");
    if (alias != args.end() && alias + 1 != args.end() && is_one_of(alias[1], subcommands)) {
        std::string workload = alias[1];
        args.erase(alias, alias + 2);
        args.insert(args.begin(), workload);
        return args;
    }
    const bool named_or_asks = std::any_of(args.begin(), args.end(), [&](const std::string& a) {
        return is_one_of(a, subcommands) || is_one_of(a, {"--help", "-h", "--help-all", "--version"});
    });
    if (!named_or_asks) args.insert(args.begin(), "pingpong");
    return args;
}

std::vector<Target> targets_for(const Options& o) {
    std::vector<Target> targets;
    for (const auto& m : selected_modes(o)) {
        std::uint16_t port = o.port ? o.port : find_mode(m)->port;  // --port excludes --mode-port
        if (auto it = o.mode_ports.find(m); it != o.mode_ports.end()) port = it->second;
        targets.push_back({m, parse_address(o.host, port)});
    }
    return targets;
}

// The servers of a run: those that answered, and the others with the reason.
struct Targets {
    std::vector<Target> reachable;
    std::vector<std::pair<Target, std::string>> skipped;
    bool many() const { return reachable.size() + skipped.size() > 1; }  // several modes asked for
};

// A progress line on stderr, only when a person is watching it.
void show_progress(const std::string& text) {
    if (::isatty(2) == 1) std::fprintf(stderr, "\r\033[K%s", text.c_str());
}

// Pins the calling thread (every thread the bench starts inherits it) when --cpus was given, and
// starts the run record with the servers as described.
RunInfo begin_run(const Options& o) {
    const std::vector<int> cpus = o.cpus.empty() ? std::vector<int>{} : parse_cpu_list(o.cpus);
    if (!cpus.empty()) pin_current_thread(cpus);
    RunInfo run = RunInfo::begin(o.argc, o.argv);
    for (const auto& info : o.server_info) run.servers.push_back(parse_key_values(info));
    run.client["cpus"] = cpus.empty() ? "any" : format_cpu_list(cpus);
    if (!o.layout.empty()) run.client["layout"] = o.layout;
    return run;
}

// The pids --server-info gave for this mode (the processes whose CPU time counts as the server's).
std::vector<int> server_pids(const RunInfo& run, const std::string& mode) {
    std::vector<int> pids;
    for (const auto& s : run.servers)
        if (s.value("mode", "") == mode && s.contains("pid") && s["pid"].is_number_integer())
            pids.push_back(s["pid"].get<int>());
    return pids;
}

// "bench.txt" for one mode; "bench-user.txt" when several modes write their own file.
std::string per_mode_path(const std::string& path, const std::string& mode, bool many) {
    if (!many) return path;
    std::filesystem::path p(path);
    return (p.parent_path() / (p.stem().string() + "-" + mode + p.extension().string())).string();
}

// kecho's data file: one "index microseconds" line per thread.
void write_burst_file(const std::string& path, const std::vector<double>& per_thread_us) {
    std::string text;
    for (std::size_t i = 0; i < per_thread_us.size(); ++i)
        text += std::to_string(i) + " " + std::to_string(static_cast<long long>(per_thread_us[i] + 0.5)) + "\n";
    write_text(path, text);
}

// One run of pingpong, stream or burst into mode (its metrics, the load average before it, its
// latency histogram); returns the run's first error, if any. The client's shape goes to run.
std::string run_once(const std::string& workload, Options& o, ModeResults& mode, const std::string& label,
                     std::vector<double>& burst_series, RunInfo& run) {
    const double load_before = load_average()[0];
    if (workload == "burst") {
        BurstResult b;
        run_burst(mode.target.address, o.burst, b);
        burst_series = b.per_thread_us;
        mode.runs.push_back(burst_metrics(b));
        mode.runs.back()["load_before"] = load_before;
        run.client["workers"] = o.burst.threads;
        return b.errors.describe();
    }
    o.load.server_pids = server_pids(run, mode.target.mode);
    LoadResult l;
    run_load(mode.target.address, o.load, l,
             [&](double f) { show_progress(label + " " + std::to_string(static_cast<int>(f * 100)) + "%"); });
    mode.runs.push_back(load_metrics(workload, l));
    mode.runs.back()["load_before"] = load_before;
    mode.histograms.push_back(l.tally.latency_ns.to_json());
    run.client["workers"] = l.workers;
    if (o.load.rate > 0) {
        RateCheck check = check_rate(o.load.rate, l.tally.messages, l.seconds);
        mode.runs.back()["target_rate"] = o.load.rate;
        mode.runs.back()["rate_kept"] = check.kept ? 1 : 0;
        if (!check.kept) {
            show_progress("");
            std::cerr << "bench: " << mode.target.describe() << ": " << check.describe() << "\n";
        }
    }
    return l.errors.describe();
}

// The report of a comparison before its runs: client engine, title, config, modes.
Report start_comparison(const std::string& workload, Options& o, const Targets& targets, RunInfo& run) {
    // Few connections: a thread each costs nothing and saves the epoll_wait per request, so the
    // client is never the reason a server looks slow (measured against the floor server).
    const bool blocking =
        o.client == ClientChoice::blocking || (o.client == ClientChoice::automatic && workload == "pingpong" &&
                                               o.load.connections <= 4 && o.load.in_flight == 1);
    o.load.engine = blocking && o.load.rate <= 0 ? ClientEngine::blocking : ClientEngine::epoll;
    run.client["engine"] = workload == "burst" ? "threads" : blocking ? "blocking" : "epoll";
    if (o.repeat == 0) o.repeat = targets.many() ? 3 : 1;
    o.load.size = workload == "stream" ? o.stream_size : o.size;
    if (workload == "stream") o.load.in_flight = static_cast<std::uint32_t>(o.window / o.load.size);
    Report report = comparison_report(workload, o.repeat, targets.reachable.size() > 1, o.load, o.burst);
    if (o.load.rate > 0 && workload == "pingpong") {
        report.config["rate"] = o.load.rate;
        report.title += "; open loop: " + std::to_string(static_cast<long long>(o.load.rate)) +
                        " req/s offered, latency from each request's scheduled time";
    }
    report.baseline = o.baseline;
    for (const auto& [t, why] : targets.skipped) report.skipped.emplace_back(t.mode, why);
    for (const Target& t : targets.reachable) report.modes.push_back({t, {}, {}});
    return report;
}

void write_report(const Report& report, const Options& o) {
    std::cout << report.title << "\n" << format_table(report) << std::flush;
    if (!o.json_path.empty()) write_text(o.json_path, report_json(report).dump(2) + "\n");
    if (!o.csv_path.empty()) write_text(o.csv_path, report_csv(report));
    if (!o.plot_path.empty()) plot_report(report, o.plot_path);
}

int run_comparison(const std::string& workload, Options& o, const Targets& targets) {
    RunInfo run = begin_run(o);
    Report report = start_comparison(workload, o, targets, run);
    int exit_code = cli::exit_ok;
    std::size_t done = 0;
    for (unsigned r = 0; r < o.repeat; ++r) {
        for (auto& mode : report.modes) {
            const std::string& name = mode.target.mode;
            const std::string label = "[" + std::to_string(++done) + "/" +
                                      std::to_string(o.repeat * report.modes.size()) + "] " + name + " " + workload;
            show_progress(label);
            std::string error;
            try {
                error = run_once(workload, o, mode, label, report.burst_series[name], run);
                if (!o.out_path.empty())
                    write_burst_file(per_mode_path(o.out_path, name, targets.many()), report.burst_series[name]);
            } catch (const Error& e) {
                error = e.what();
            }
            if (error.empty()) continue;
            show_progress("");
            std::cerr << "bench: " << mode.target.describe() << ", run " << r + 1 << ": " << error << "\n";
            mode.errors.push_back(error);
            exit_code = cli::exit_failure;
        }
    }
    if (workload != "burst") report.burst_series.clear();
    show_progress("");
    run.finish();
    report.run = run.to_json();
    write_report(report, o);
    return exit_code;
}

// verify or a stress workload: PASS/FAIL lines per case, a summary line, the cases as JSON.
int run_case_workload(const std::string& workload, const Options& o, const Targets& targets) {
    const bool many = targets.many();
    const auto names = workload_cases(workload, o.case_options.quick, o.cases);
    nlohmann::json cases = nlohmann::json::array(), skip = nlohmann::json::array();
    int passed = 0, failed = 0;
    for (const auto& [target, why] : targets.skipped) {
        std::cout << "skipped " << target.mode << ": " << why << "\n";
        skip.push_back({{"mode", target.mode}, {"reason", why}});
    }
    for (const Target& target : targets.reachable) {
        if (many) std::cout << "== " << target.describe() << std::endl;
        for (const auto& r : run_cases(target.address, names, o.case_options, [](const CaseResult& r) {
                 std::cout << (r.passed ? "PASS " : "FAIL ") << r.name << " " << r.detail << std::endl;
             })) {
            cases.push_back(r);
            if (many) cases.back()["mode"] = target.mode;
            (r.passed ? passed : failed)++;
        }
    }
    std::cout << workload << ": " << passed << " passed, " << failed << " failed" << std::endl;
    if (!o.json_path.empty()) {
        RunInfo run = RunInfo::begin(o.argc, o.argv);  // where it ran (the load is the one at the end)
        run.finish();
        nlohmann::json doc = {
            {"workload", workload}, {"cases", cases}, {"passed", passed}, {"failed", failed}, {"run", run.to_json()}};
        if (many) doc["skipped"] = skip;
        if (!many) doc["mode"] = targets.reachable.front().mode;
        write_text(o.json_path, doc.dump(2) + "\n");
    }
    return failed == 0 ? cli::exit_ok : cli::exit_failure;
}

// bench merge and bench summarize: they read results, they drive no server.
int run_tool(const std::string& tool, const Options& o) try {
    if (tool == "summarize") {
        for (const auto& path : summarize_directory(o.summarize_dir)) std::cout << "wrote " << path << "\n";
        return cli::exit_ok;
    }
    std::vector<std::pair<std::string, nlohmann::json>> files;
    for (const auto& path : o.merge_files) files.emplace_back(path, read_json_file(path));
    write_report(merge_reports(files), o);  // merge takes no --csv or --plot
    return cli::exit_ok;
} catch (const nlohmann::json::exception& e) {
    throw Error(std::string("a result file is not in the bench's layout: ") + e.what());
}

int run(const std::string& workload, Options& o) {
    if (is_one_of(workload, tools)) return run_tool(workload, o);
    cli::raise_fd_limit();  // 1,000 connections need more than the usual 1,024 descriptors
    Targets targets;
    for (const Target& t : targets_for(o)) {
        if (auto why = probe(t))
            targets.skipped.emplace_back(t, *why);
        else
            targets.reachable.push_back(t);
    }
    if (targets.reachable.empty()) {
        const bool one = targets.skipped.size() == 1;
        std::cerr << "bench: " << (one ? "" : "no server is reachable:\n  ");
        for (const auto& [t, why] : targets.skipped) std::cerr << why << (one ? "\n" : "\n  ");
        return cli::exit_failure;
    }
    if (is_one_of(workload, comparisons)) return run_comparison(workload, o, targets);
    return run_case_workload(workload, o, targets);
}

}  // namespace

int main(int argc, char** argv) {
    Options o;
    CLI::App app{"bench: drives the kecho echo servers (" + join(mode_names()) +
                 ") with one client engine; without a workload it runs pingpong"};
    app.name("bench");
    app.require_subcommand(0, 1);
    setup_common(app, o);
    setup_comparisons(app, o);
    setup_cases(app, o);
    std::vector<std::string> workloads;  // every subcommand so far; merge and summarize are no workload
    for (const auto* sub : app.get_subcommands({})) workloads.push_back(sub->get_name());
    std::string workload_alias;
    app.add_option("--workload", workload_alias, "the same as naming the subcommand first (kept for scripts)")
        ->check(CLI::IsMember(workloads));
    setup_tools(app, o);
    o.argc = argc;
    o.argv = argv;
    for (auto* sub : app.get_subcommands({})) sub->fallthrough();
    app.final_callback([&] { check_combinations(app, o); });

    std::vector<std::string> args(argv + std::min(argc, 1), argv + argc);
    if (int rc = cli::parse(app, with_subcommand(app, std::move(args))); rc >= 0) return rc;
    try {
        return run(app.get_subcommands().front()->get_name(), o);
    } catch (const Error& e) {
        std::cerr << "bench: " << e.what() << "\n";
        return cli::exit_failure;
    }
}
