// SPDX-License-Identifier: GPL-2.0-only
// bench: one client engine for every echo server. Only the command line lives here (CLI11's
// subcommands-in-files layout: setup_X binds a subcommand's options to its own struct, and the
// library runs it: comparison.h for pingpong, stream and burst, commands.h for the rest).
#include <algorithm>
#include <filesystem>
#include <iostream>
#include <map>
#include <string>
#include <vector>

#include "bench/commands.h"
#include "bench/comparison.h"
#include "kecho/cli.h"
#include "kecho/cpu_set.h"
#include "kecho/error.h"
#include "kecho/servers.h"

namespace {

using namespace kecho;
using namespace kecho::bench;

// What the command line binds: the targets (root options every workload shares, --json too) and
// each subcommand's own options.
struct Cli {
    TargetOptions targets;
    std::string json_path;
    ComparisonSettings comparison;
    CaseRunOptions cases;
    ReportOptions report;
    std::vector<std::string> merge_files;
    std::string summarize_dir;
    bool no_heading = false;  // bench servers
};

// The subcommands a check or the dispatch needs to tell apart.
struct Subcommands {
    std::map<const CLI::App*, const ComparisonWorkload*> comparisons;
    const CLI::App *verify = nullptr, *stream = nullptr;
    // The tools: they read results or the registry and drive no server.
    const CLI::App *report = nullptr, *merge = nullptr, *summarize = nullptr, *servers = nullptr;

    bool tool(const CLI::App* sub) const { return sub == report || sub == merge || sub == summarize || sub == servers; }
};

bool is_one_of(const std::string& name, const std::vector<std::string>& list) {
    return std::find(list.begin(), list.end(), name) != list.end();
}

// An option with a range and its default shown in --help.
template <class T, class R>
CLI::Option* ranged(CLI::App* app, const char* name, T& value, R low, R high, const std::string& help) {
    return app->add_option(name, value, help)->check(CLI::Range(low, high))->capture_default_str();
}

// A repeatable option whose every value `parse` turns into something (or throws Error: a usage error).
template <class Parse>
CLI::Option* parsed_list(CLI::App& app, const char* name, Parse parse, const std::string& help, const char* type) {
    auto each = [name, parse](const std::vector<std::string>& specs) {
        for (const auto& spec : specs) {
            try {
                parse(spec);
            } catch (const Error& e) {
                throw CLI::ValidationError(name, e.what());
            }
        }
    };
    return app.add_option_function<std::vector<std::string>>(name, each, help)->type_name(type);
}

// --mode-port MODE=PORT, parsed once into the targets' mode ports; MODE is a mode of the registry.
CLI::Option* add_mode_port_option(CLI::App& app, TargetOptions& t) {
    auto parse = [&t](const std::string& spec) {
        const auto eq = spec.find('=');
        const ServerEntry* server = eq == std::string::npos ? nullptr : find_server(spec.substr(0, eq));
        if (!server) throw Error("expected MODE=PORT with MODE one of " + join(mode_names()) + ", got '" + spec + "'");
        t.mode_ports[std::string(server->mode)] = parse_port(spec.substr(eq + 1));
    };
    return parsed_list(app, "--mode-port", parse, "MODE=PORT: that mode's port when several modes run (repeatable)",
                       "MODE=PORT");
}

void setup_targets(CLI::App& app, Cli& c) {
    auto names_and_all = mode_names();
    names_and_all.push_back("all");
    TargetOptions& t = c.targets;
    app.add_option("--mode", t.modes,
                   "server to drive: " + join(mode_names()) +
                       "; all = every reachable one; or a list (user,uring): several run interleaved, unreachable "
                       "ones are skipped (default user, unless --target names servers)")
        ->delimiter(',')
        ->check(CLI::IsMember(names_and_all));
    auto* mode_port = add_mode_port_option(app, t);
    parsed_list(
        app, "--target", [&t](const std::string& spec) { t.ad_hoc.push_back(parse_target(spec)); },
        "NAME=HOST:PORT: any TCP echo server, driven, checked and reported like the modes (repeatable; "
        "e.g. peer=127.0.0.1:9000)",
        "NAME=HOST:PORT");
    app.add_option("--host", t.host, "the modes' server address (numeric IPv4/IPv6)")
        ->check(cli::validator([](const std::string& text) { parse_address(text, 1); }, "ADDR"))
        ->capture_default_str();
    app.add_option("--port", t.port, "server port (default: the mode's port: " + default_ports() + ")")
        ->transform(cli::port_transformer(""))
        ->type_name("PORT")
        ->excludes(mode_port);
    app.add_option("--json", c.json_path, "write the results as JSON to this file");
}

void add_server_info_option(CLI::App& sub, RecordOptions& r) {
    sub.add_option("--server-info", r.server_info,
                   "how a server was started, recorded in the results: 'mode=user engine=epoll threads=1 cpus=1 "
                   "pid=123' (repeatable; mode= names the target; pid= also counts that process's CPU time as the "
                   "server's)")
        ->check(cli::validator(
            [](const std::string& value) {
                if (!parse_key_values(value).contains("mode"))
                    throw Error("--server-info needs mode=NAME, got '" + value + "'");
            },
            ""));
}

void add_comparison_options(CLI::App& sub, ComparisonSettings& s) {
    sub.add_option("--repeat", s.repeat,
                   "runs per mode; with --ci the most (default 10 with --ci, else 3 with several modes, else 1)")
        ->check(CLI::Range(1, 100));
    sub.add_option("--ci", s.ci_percent,
                   "repeat each mode until the 95% interval of its median is within +/- PCT % of it (6 runs at "
                   "least, --repeat at most; netperf's -i/-I)")
        ->check(CLI::Range(0.1, 50.0))
        ->type_name("PCT");
    sub.add_option("--best-of", s.best_of,
                   "run each server at its best row of this result file of the same workload (a sweep of server "
                   "configurations and --workers): that row's target and client workers; a server that failed there "
                   "is listed as failed")
        ->check(CLI::ExistingFile)
        ->type_name("FILE");
    sub.add_option("--baseline", s.baseline,
                   "mode or target the ratio column compares with (best-user: the best user-space server of the "
                   "registry)")
        ->option_text("NAME (default user)");
    sub.add_option("--csv", s.csv_path, "write one CSV row per run to this file");
    sub.add_option("--plot", s.plot_path, "draw the results with gnuplot into this .png or .svg file")
        ->check(cli::validator(
            [](const std::string& path) {
                auto ext = std::filesystem::path(path).extension().string();
                if (ext != ".png" && ext != ".svg") throw Error("'" + path + "' must end in .png or .svg");
            },
            "PATH"));
    sub.add_option("--cpus", s.record.cpus, "pin the client to these CPUs (e.g. 0 or 0-1,3); recorded in the results")
        ->check(cli::cpu_list_validator());
    add_server_info_option(sub, s.record);
    sub.add_option("--layout", s.record.layout, "placement of client and servers, recorded in the results")
        ->check(CLI::IsMember({"shared", "split"}));
}

void add_load_options(CLI::App& sub, ComparisonSettings& s, std::uint64_t& size, const char* size_help) {
    ranged(&sub, "--connections", s.load.connections, 1, 100000, "connections");
    sub.add_option("--size", size, size_help)->transform(cli::bytes_transformer(1, 1ull << 30))->capture_default_str();
    ranged(&sub, "--duration", s.load.duration, 0.1, 3600.0, "measured seconds");
    ranged(&sub, "--warmup", s.load.warmup, 0.0, 600.0, "seconds before measuring");
    sub.add_option("--workers", s.workers,
                   "epoll threads (default: max(4, cores), at most 16 and one per connection); a list (1,2,4,8) "
                   "sweeps them: a row per mode and worker count")
        ->delimiter(',')
        ->check(CLI::Range(1, 64));
    add_comparison_options(sub, s);
}

CLI::App* setup_pingpong(CLI::App& app, ComparisonSettings& s) {
    auto* pingpong = app.add_subcommand("pingpong",
                                        "request/response: each connection sends a message and waits for "
                                        "its echo (the default workload)");
    add_load_options(*pingpong, s, s.size, "bytes per message");
    ranged(pingpong, "--pipeline", s.load.in_flight, 1, 1024, "messages in flight per connection");
    pingpong
        ->add_option("--client", s.client,
                     "epoll (a few threads), blocking (one thread per connection) or auto: blocking up to 4 "
                     "connections without --pipeline (one recv+send per request, no epoll_wait), epoll above")
        ->transform(CLI::CheckedTransformer(std::map<std::string, ClientChoice>{
            {"auto", ClientChoice::automatic}, {"epoll", ClientChoice::epoll}, {"blocking", ClientChoice::blocking}}))
        ->default_str("auto");
    pingpong
        ->add_option("--rate", s.load.rate,
                     "open loop: N requests/s over all connections on a fixed timetable, latency counted from each "
                     "request's scheduled time (wrk2's method); the achieved rate is reported (epoll client)")
        ->check(CLI::Range(1.0, 1e9));
    return pingpong;
}

CLI::App* setup_stream(CLI::App& app, ComparisonSettings& s) {
    auto* stream = app.add_subcommand("stream", "throughput: each connection keeps --window bytes in flight");
    add_load_options(*stream, s, s.stream_size, "bytes per write");
    stream->add_option("--window", s.window, "bytes in flight per connection")
        ->transform(cli::bytes_transformer(1, 1ull << 34))
        ->default_str("256K");
    return stream;
}

CLI::App* setup_burst(CLI::App& app, ComparisonSettings& s) {
    auto* burst = app.add_subcommand("burst",
                                     "kecho's classic bench: threads released together, each connects, "
                                     "times one echo, closes");
    ranged(burst, "--threads", s.burst.threads, 1, 10000, "threads released together");
    ranged(burst, "--rounds", s.burst.rounds, 1, 10000, "rounds");
    burst->add_option("--message", s.burst.message, "the message each thread sends")
        ->check(cli::validator(
            [](const std::string& m) {
                if (m.empty()) throw Error("must not be empty");
            },
            "TEXT"))
        ->capture_default_str();
    burst->add_option("--out", s.out_path, "write kecho's 'index microseconds' file (one per mode with several)");
    add_comparison_options(*burst, s);
    return burst;
}

void setup_comparisons(CLI::App& app, Cli& c, Subcommands& subs) {
    CLI::App* apps[] = {setup_pingpong(app, c.comparison), setup_stream(app, c.comparison),
                        setup_burst(app, c.comparison)};
    for (auto* sub : apps) subs.comparisons[sub] = find_comparison(sub->get_name());
    subs.stream = apps[1];
}

CLI::App* setup_verify(CLI::App& app, CaseRunOptions& o) {
    auto* verify = app.add_subcommand("verify", "the correctness battery: named cases, every byte checked");
    add_server_info_option(*verify, o.record);
    verify->add_flag("--quick", o.options.quick, "the seconds-long subset (every case but size-16MiB), shorter bounds");
    verify->add_option("--case", o.cases, "run only this case (repeatable)")
        ->check(cli::validator(
            [](const std::string& name) {
                if (!is_one_of(name, verify_case_names()))
                    throw Error("unknown case '" + name + "' (cases: " + join(verify_case_names()) + ")");
            },
            "NAME"));
    return verify;
}

void setup_stress(CLI::App& app, CaseRunOptions& o) {
    CaseOptions& c = o.options;
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
    for (auto* sub : {held, churn, half_close, resets, slow, bad_input}) add_server_info_option(*sub, o.record);
}

CLI::App* setup_report(CLI::App& app, ReportOptions& o) {
    auto* report = app.add_subcommand("report",
                                      "merge runs from result files per target and print the usual table, the CPU "
                                      "split and perf stat counts per unit: the measuring that scripts arrange");
    report
        ->add_option_function<std::vector<std::string>>(
            "files",
            [&o](const std::vector<std::string>& specs) {
                for (const auto& spec : specs) {
                    const auto eq = spec.find('=');
                    if (eq == std::string::npos)
                        o.inputs.push_back({spec, ""});
                    else
                        o.inputs.push_back({spec.substr(eq + 1), spec.substr(0, eq)});
                }
            },
            "[NAME=]FILE: bench --json files of one workload (pingpong, stream, burst, churn, half-close) or "
            "echo-loader trace --json files; NAME= names the file's target (a trace names none)")
        ->required();
    report
        ->add_option("--baseline", o.baseline,
                     "target the ratio columns compare with (best-user: the best user-space server of the registry)")
        ->capture_default_str();
    parsed_list(
        *report, "--perf-stat",
        [&o](const std::string& spec) {
            if (spec.find('=') == std::string::npos || spec.front() == '=')
                throw Error("expected WHO=FILE (a perf stat -x, output), got '" + spec + "'");
            o.perf_stat.push_back(spec);
        },
        "WHO=FILE: perf stat -x, counts over the run of the report's one target, shown per unit of work "
        "(repeatable: client=, server=, ...)",
        "WHO=FILE");
    report->add_option("--csv", o.csv_path, "write one CSV row per target and run to this file");
    report
        ->add_option("--best", o.best,
                     "print only the highest median of this metric among the targets (busy-poll references left "
                     "out), as a whole number: what a script needs of the runs, e.g. requests_per_s")
        ->type_name("METRIC");
    report->add_flag("--ratios", o.ratios,
                     "print only each target's ratio to the baseline, one 'NAME 1.23x' line each (for scripts)");
    return report;
}

void setup_tools(CLI::App& app, Cli& c, Subcommands& subs) {
    auto* merge = app.add_subcommand("merge",
                                     "combine results of one server driven from several client hosts: "
                                     "latency histograms added (percentiles from the sum), rates added");
    merge->add_option("files", c.merge_files, "bench --json files of the same workload (two or more)")
        ->required()
        ->check(CLI::ExistingFile);
    auto* summarize = app.add_subcommand("summarize",
                                         "write summary.md, all.csv and the figures of a results directory as its "
                                         "manifest.json declares it (scripts/compare.sh writes both)");
    summarize->add_option("dir", c.summarize_dir, "the results directory")->required()->check(CLI::ExistingDirectory);
    auto* servers = app.add_subcommand("servers",
                                       "the server registry: each server's mode, engine, default port, program, "
                                       "role and the command that starts it");
    servers->add_flag("--no-heading", c.no_heading, "no heading line (what scripts read)");
    subs.report = setup_report(app, c.report);
    subs.merge = merge;
    subs.summarize = summarize;
    subs.servers = servers;
}

// Checks that span options (CLI11 runs this after parsing, its errors are usage errors).
void check_combinations(const CLI::App& app, const Cli& c, const Subcommands& subs) {
    const CLI::App* sub = app.get_subcommands().front();
    if (subs.tool(sub)) return;
    const std::vector<std::string> names = c.targets.names();
    for (auto it = names.begin(); it != names.end(); ++it)
        if (std::find(names.begin(), it, *it) != it)
            throw CLI::ValidationError("--target", "two servers are named '" + *it + "'");
    if (names.size() > 1 && c.targets.port != 0)
        throw CLI::ValidationError("--port", "picks one server's port; with several modes use --mode-port MODE=PORT");
    const bool comparison = subs.comparisons.count(sub) > 0;
    if (names.size() > 1 && sub != subs.verify && !comparison)
        throw CLI::ValidationError("--mode", "bench " + sub->get_name() + " drives one server (one --mode)");
    if (comparison && !find_server(c.comparison.baseline) && !is_one_of(c.comparison.baseline, names) &&
        c.comparison.baseline != Report::best_user_baseline)
        throw CLI::ValidationError("--baseline", "unknown mode or target '" + c.comparison.baseline + "'");
    const ComparisonSettings& s = c.comparison;
    if (!s.best_of.empty() && (!c.targets.modes.empty() || !c.targets.ad_hoc.empty()))
        throw CLI::ValidationError("--best-of", "takes its servers from the file: drop --mode and --target");
    if (s.load.rate > 0 && s.client == ClientChoice::blocking)
        throw CLI::ValidationError("--rate", "drives the epoll client; drop --client blocking");
    if (sub == subs.stream && s.window < s.stream_size)
        throw CLI::ValidationError("--window", "must hold at least one --size write");
    if (sub == subs.stream && s.window / s.stream_size > 65536)
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

// The parsed subcommand, run: a tool, a comparison, or verify and the stress workloads.
int run(const CLI::App& sub, Cli& c, const Subcommands& subs, int argc, char** argv) {
    if (&sub == subs.report) {
        c.report.json_path = c.json_path;
        return run_report(c.report);
    }
    if (&sub == subs.merge) return run_merge(c.merge_files, c.json_path);
    if (&sub == subs.summarize) return run_summarize(c.summarize_dir);
    if (&sub == subs.servers) return run_servers(!c.no_heading);
    cli::raise_fd_limit();  // 1,000 connections need more than the usual 1,024 descriptors
    const auto comparison = subs.comparisons.find(&sub);
    const bool best_of = comparison != subs.comparisons.end() && !c.comparison.best_of.empty();
    const Targets targets =
        best_of ? best_targets(c.comparison.best_of, *comparison->second) : probe_all(c.targets.targets());
    if (targets.reachable.empty() && targets.failed.empty()) {
        const bool one = targets.skipped.size() == 1;
        std::cerr << "bench: " << (one ? "" : "no server is reachable:\n  ");
        for (const auto& [t, why] : targets.skipped) std::cerr << why << (one ? "\n" : "\n  ");
        return cli::exit_failure;
    }
    if (comparison != subs.comparisons.end()) {
        c.comparison.json_path = c.json_path;
        return run_comparison(*comparison->second, c.comparison, targets, begin_run(c.comparison.record, argc, argv));
    }
    c.cases.json_path = c.json_path;
    return run_cases_workload(sub.get_name(), c.cases, targets, begin_run(c.cases.record, argc, argv));
}

}  // namespace

int main(int argc, char** argv) {
    Cli c;
    Subcommands subs;
    CLI::App app{"bench: drives the kecho echo servers (" + join(mode_names()) +
                 ") and any other TCP echo server (--target) with one client engine; without a workload it runs "
                 "pingpong"};
    app.name("bench");
    app.require_subcommand(0, 1);
    setup_targets(app, c);
    setup_comparisons(app, c, subs);
    subs.verify = setup_verify(app, c.cases);
    setup_stress(app, c.cases);
    std::vector<std::string> workloads;  // every subcommand so far; the tools are no workload
    for (const auto* sub : app.get_subcommands({})) workloads.push_back(sub->get_name());
    std::string workload_alias;
    app.add_option("--workload", workload_alias, "the same as naming the subcommand first (kept for scripts)")
        ->check(CLI::IsMember(workloads));
    setup_tools(app, c, subs);
    for (auto* sub : app.get_subcommands({})) sub->fallthrough();
    app.final_callback([&] { check_combinations(app, c, subs); });

    std::vector<std::string> args(argv + std::min(argc, 1), argv + argc);
    if (int rc = cli::parse(app, with_subcommand(app, std::move(args))); rc >= 0) return rc;
    try {
        return run(*app.get_subcommands().front(), c, subs, argc, argv);
    } catch (const Error& e) {
        std::cerr << "bench: " << e.what() << "\n";
        return cli::exit_failure;
    } catch (const nlohmann::json::exception& e) {
        std::cerr << "bench: a result file is not in the bench's layout: " << e.what() << "\n";
        return cli::exit_failure;
    }
}
