// bench: one client engine for every echo server. See bench --help.
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <thread>
#include <iostream>
#include <string>
#include <vector>

#include "bench/burst.h"
#include "bench/load.h"
#include "bench/report.h"
#include "bench/stress.h"
#include "bench/target.h"
#include "bench/verify.h"
#include "kecho/cli.h"
#include "kecho/error.h"

namespace {

using namespace kecho;
using namespace kecho::bench;

struct Options {
    std::string mode = "user";  // one mode, a comma-separated list, or all
    std::vector<std::string> mode_ports;  // "user=23001": a mode's port when several run
    std::string host = "127.0.0.1";
    int port = 0;
    std::string workload = "pingpong";
    // verify
    bool quick = false;
    std::vector<std::string> cases;
    // pingpong and stream
    std::uint32_t connections = 8;
    std::string size;  // default: 64 for pingpong, 64K for stream
    double duration = 5;
    double warmup = 1;
    std::uint32_t pipeline = 1;
    std::string window = "256K";
    unsigned workers = 0;
    std::string client = "auto";
    // burst
    std::uint32_t threads = 1000;
    std::uint32_t rounds = 10;
    std::string message = "dummy message";
    std::string out_path;
    // reliability workloads (held, churn, half-close, resets, slow, bad-input)
    StressOptions stress;
    // comparison and output
    unsigned repeat = 0;  // 0: 3 with --mode all, else 1
    std::string baseline = "user";
    std::string json_path;
    std::string csv_path;
    std::string plot_path;
};

std::vector<Mode> selected_modes(const Options& o) {
    if (o.mode == "all") return all_modes();
    std::vector<Mode> modes;
    std::string rest = o.mode;
    while (!rest.empty()) {
        auto comma = rest.find(',');
        std::string name = rest.substr(0, comma);
        rest = comma == std::string::npos ? "" : rest.substr(comma + 1);
        auto m = parse_mode(name);
        if (!m) throw Error("unknown mode '" + name + "'");
        if (std::find(modes.begin(), modes.end(), *m) == modes.end()) modes.push_back(*m);
    }
    return modes;
}

// A --mode value: bpf, kmod, user, uring, floor, all, or a comma-separated list of modes.
std::string check_mode_list(const std::string& value) {
    if (value == "all") return {};
    std::string rest = value;
    if (rest.empty()) return "empty --mode";
    while (true) {
        auto comma = rest.find(',');
        std::string name = rest.substr(0, comma);
        if (!parse_mode(name))
            return "unknown mode '" + name + "' (modes: bpf, kmod, user, uring, floor, all, or a comma-separated list)";
        if (comma == std::string::npos) return {};
        rest = rest.substr(comma + 1);
    }
}

std::size_t message_size(const Options& o) {
    if (!o.size.empty()) return static_cast<std::size_t>(parse_bytes(o.size));
    return o.workload == "stream" ? 64 * 1024 : 64;
}

// A progress line on stderr, only when a person is watching it.
class Progress {
public:
    Progress() : enabled_(::isatty(2) == 1) {}
    void show(const std::string& text) {
        if (enabled_) std::fprintf(stderr, "\r\033[K%s", text.c_str());
    }
    void clear() {
        if (enabled_) std::fprintf(stderr, "\r\033[K");
    }

private:
    bool enabled_;
};

// 1,000 connections need more than the usual 1,024 descriptors: take the hard limit.
void raise_fd_limit() {
    rlimit limit{};
    if (::getrlimit(RLIMIT_NOFILE, &limit) != 0) return;
    if (limit.rlim_cur < limit.rlim_max) {
        limit.rlim_cur = limit.rlim_max;
        ::setrlimit(RLIMIT_NOFILE, &limit);
    }
}

void write_text(const std::string& path, const std::string& text) {
    std::ofstream out(path);
    if (!out) throw Error(errno_message("cannot write " + path, errno));
    out << text;
    if (!out) throw Error("cannot write " + path + ": write failed");
}

void write_json(const std::string& path, const nlohmann::json& doc) { write_text(path, doc.dump(2) + "\n"); }

double per_second(double value, double seconds) { return seconds > 0 ? value / seconds : 0; }
double per_unit(double total, double count) { return count > 0 ? total / count : NAN; }

Metrics load_metrics(const std::string& workload, const LoadResult& r) {
    Metrics m;
    const double us = 1e-3;  // histogram holds nanoseconds
    m["errors"] = static_cast<double>(r.errors);
    m["cpu_busy_percent"] = r.cpu_busy_percent;
    m["p50_us"] = static_cast<double>(r.latency_ns.percentile(50)) * us;
    m["p99_us"] = static_cast<double>(r.latency_ns.percentile(99)) * us;
    if (workload == "pingpong") {
        auto requests = static_cast<double>(r.messages);
        m["requests_per_s"] = per_second(requests, r.seconds);
        m["mb_per_s"] = per_second(static_cast<double>(r.bytes_received), r.seconds) / 1e6;
        m["p90_us"] = static_cast<double>(r.latency_ns.percentile(90)) * us;
        m["p999_us"] = static_cast<double>(r.latency_ns.percentile(99.9)) * us;
        m["max_us"] = static_cast<double>(r.latency_ns.max()) * us;
        m["cpu_us_per_request"] = per_unit(r.cpu_busy_seconds * 1e6, requests);
        m["client_cpu_us_per_request"] = per_unit(r.client_cpu_seconds * 1e6, requests);
        m["client_user_us_per_request"] = per_unit(r.client_user_cpu_seconds * 1e6, requests);
    } else {
        double mb_back = static_cast<double>(r.bytes_received) / 1e6;
        m["recv_mb_per_s"] = per_second(mb_back, r.seconds);
        m["send_mb_per_s"] = per_second(static_cast<double>(r.bytes_sent) / 1e6, r.seconds);
        m["cpu_us_per_mb"] = per_unit(r.cpu_busy_seconds * 1e6, mb_back);
        m["client_cpu_us_per_mb"] = per_unit(r.client_cpu_seconds * 1e6, mb_back);
    }
    return m;
}

Metrics burst_metrics(const BurstResult& r) {
    return {{"mean_us", r.mean_us},       {"median_us", r.median_us},
            {"p99_us", r.p99_us},         {"max_us", r.max_us},
            {"exchanges", static_cast<double>(r.exchanges)}, {"errors", static_cast<double>(r.errors)},
            {"seconds", r.seconds}};
}

// "bench.txt" for one mode; "bench-user.txt" when several modes write their own file.
std::string per_mode_path(const std::string& path, const std::string& mode, bool many) {
    if (!many) return path;
    std::filesystem::path p(path);
    return (p.parent_path() / (p.stem().string() + "-" + mode + p.extension().string())).string();
}

std::string describe_run(const Options& o, std::size_t modes, unsigned repeat) {
    char text[512];
    std::string runs = std::to_string(repeat) + (repeat == 1 ? " run" : " runs") +
                       (modes > 1 ? " per mode, interleaved" : "");
    if (o.workload == "burst") {
        std::snprintf(text, sizeof(text), "burst: %u threads x %u rounds, message '%s' (%zu bytes); %s; median (min-max)",
                      o.threads, o.rounds, o.message.c_str(), o.message.size(), runs.c_str());
    } else if (o.workload == "pingpong") {
        std::snprintf(text, sizeof(text),
                      "pingpong: %u connections x %zu B, pipeline %u, %.1f s measured after %.1f s warmup, %s client; "
                      "%s; median (min-max)",
                      o.connections, message_size(o), o.pipeline, o.duration, o.warmup, o.client.c_str(), runs.c_str());
    } else {
        std::snprintf(text, sizeof(text),
                      "stream: %u connections, %zu B writes, window %s per connection, %.1f s measured after %.1f s "
                      "warmup; %s; median (min-max)",
                      o.connections, message_size(o), o.window.c_str(), o.duration, o.warmup, runs.c_str());
    }
    return text;
}

int run_compare_workload(const Options& o, const std::vector<Target>& reachable,
                         const std::vector<std::pair<Target, std::string>>& skipped) {
    const bool many = reachable.size() + skipped.size() > 1;
    const unsigned repeat = o.repeat ? o.repeat : (many ? 3 : 1);
    Report report;
    report.workload = workload_def(o.workload);
    report.baseline = o.baseline;
    report.title = describe_run(o, reachable.size(), repeat);
    if (o.workload == "burst") {
        report.config = {{"threads", o.threads}, {"rounds", o.rounds}, {"message_bytes", o.message.size()},
                         {"repeat", repeat}};
    } else {
        report.config = {{"connections", o.connections}, {"size", message_size(o)}, {"duration_s", o.duration},
                         {"warmup_s", o.warmup}, {"repeat", repeat}};
        if (o.workload == "pingpong") {
            report.config["pipeline"] = o.pipeline;
            report.config["client"] = o.client;
        } else {
            report.config["window"] = parse_bytes(o.window);
        }
    }
    for (const auto& [t, why] : skipped) report.skipped.emplace_back(mode_name(t.mode), why);
    for (const Target& t : reachable) report.modes.push_back({t, {}, {}});

    LoadOptions lo;
    lo.connections = o.connections;
    lo.size = message_size(o);
    lo.duration = o.duration;
    lo.warmup = o.warmup;
    lo.workers = o.workers;
    lo.engine = o.client == "blocking" ? ClientEngine::blocking : ClientEngine::epoll;
    lo.in_flight = o.workload == "stream" ? static_cast<std::uint32_t>(parse_bytes(o.window) / lo.size) : o.pipeline;
    BurstOptions bo{o.threads, o.rounds, o.message};

    Progress progress;
    int exit_code = cli::exit_ok;
    const std::size_t total_runs = repeat * report.modes.size();
    std::size_t done = 0;
    for (unsigned r = 0; r < repeat; ++r) {
        for (auto& mode : report.modes) {
            const std::string name = mode_name(mode.target.mode);
            const std::string label = "[" + std::to_string(++done) + "/" + std::to_string(total_runs) + "] " + name +
                                      " " + o.workload;
            progress.show(label);
            std::uint64_t errors = 0;
            std::string first_error;
            try {
                if (o.workload == "burst") {
                    BurstResult b = run_burst(mode.target.address, bo);
                    mode.runs.push_back(burst_metrics(b));
                    report.burst_series[name] = b.per_thread_us;
                    if (!o.out_path.empty()) write_burst_file(per_mode_path(o.out_path, name, many), b);
                    errors = b.errors;
                    first_error = b.first_error;
                } else {
                    LoadResult l = run_load(mode.target.address, lo, [&](double f) {
                        progress.show(label + " " + std::to_string(static_cast<int>(f * 100)) + "%");
                    });
                    mode.runs.push_back(load_metrics(o.workload, l));
                    errors = l.errors;
                    first_error = l.first_error;
                }
            } catch (const Error& e) {
                errors = 1;
                first_error = e.what();
            }
            if (errors) {
                progress.clear();
                std::cerr << "bench: " << mode.target.describe() << ", run " << r + 1 << ": " << errors
                          << (errors == 1 ? " error" : " errors") << "; first: " << first_error << "\n";
                mode.errors.push_back(first_error);
                exit_code = cli::exit_failure;
            }
        }
    }
    progress.clear();
    std::cout << report.title << "\n" << format_table(report);
    std::cout.flush();
    if (!o.json_path.empty()) write_json(o.json_path, report_json(report));
    if (!o.csv_path.empty()) write_text(o.csv_path, report_csv(report));
    if (!o.plot_path.empty()) plot_report(report, o.plot_path);
    return exit_code;
}

std::vector<Target> targets_for(const Options& o) {
    std::map<Mode, std::uint16_t> ports;
    for (const auto& spec : o.mode_ports) {
        auto eq = spec.find('=');
        ports[*parse_mode(spec.substr(0, eq))] = parse_port(spec.substr(eq + 1));
    }
    std::vector<Target> targets;
    for (Mode m : selected_modes(o)) {
        std::uint16_t port = ports.count(m) ? ports[m] : default_port(m);
        if (o.port) port = static_cast<std::uint16_t>(o.port);
        targets.push_back({m, parse_address(o.host, port)});
    }
    return targets;
}

int run_verify_workload(const Options& o, const std::vector<Target>& reachable,
                        const std::vector<std::pair<Target, std::string>>& skipped) {
    VerifyOptions vo;
    vo.quick = o.quick;
    vo.cases = o.cases;
    const bool many = reachable.size() + skipped.size() > 1;
    nlohmann::json all_cases = nlohmann::json::array();
    int passed = 0, failed = 0;
    for (const auto& [target, why] : skipped) std::cout << "skipped " << mode_name(target.mode) << ": " << why << "\n";
    for (const Target& target : reachable) {
        if (many) std::cout << "== " << target.describe() << "\n";
        std::cout.flush();
        auto results = run_verify(target.address, vo, [](const CaseResult& r) {
            std::cout << format_case_line(r) << std::endl;
        });
        nlohmann::json doc = verify_json(results);
        for (auto& c : doc["cases"]) {
            if (many) c["mode"] = mode_name(target.mode);
            all_cases.push_back(c);
        }
        for (const auto& r : results) (r.passed ? passed : failed)++;
    }
    std::cout << "verify: " << passed << " passed, " << failed << " failed" << std::endl;
    if (!o.json_path.empty()) {
        nlohmann::json doc = {{"cases", all_cases}, {"passed", passed}, {"failed", failed}};
        if (many) {
            nlohmann::json skip = nlohmann::json::array();
            for (const auto& [target, why] : skipped) skip.push_back({{"mode", mode_name(target.mode)}, {"reason", why}});
            doc["skipped"] = skip;
        }
        write_json(o.json_path, doc);
    }
    return failed == 0 && !reachable.empty() ? cli::exit_ok : cli::exit_failure;
}

// One reliability workload against one server: PASS/FAIL lines like verify, JSON in the same shape.
int run_stress_workload(const Options& o, const Target& target) {
    StressOptions so = o.stress;
    so.quick = o.quick;
    if (o.workload == "slow") so.duration = o.duration;
    if (o.workload == "held") so.connections = o.connections;
    auto results = run_stress(o.workload, target.address, so);
    int passed = 0, failed = 0;
    for (const auto& r : results) {
        std::cout << format_case_line(r) << "\n";
        (r.passed ? passed : failed)++;
    }
    std::cout << o.workload << ": " << passed << " passed, " << failed << " failed" << std::endl;
    if (!o.json_path.empty()) {
        nlohmann::json doc = verify_json(results);
        doc["mode"] = mode_name(target.mode);
        doc["workload"] = o.workload;
        write_json(o.json_path, doc);
    }
    return failed == 0 ? cli::exit_ok : cli::exit_failure;
}

}  // namespace

int main(int argc, char** argv) {
    Options o;
    CLI::App app{"bench: drives the kecho echo servers (bpf, kmod, user, uring, floor) with one client engine"};
    app.name("bench");
    app.add_option("--mode", o.mode,
                   "server to drive: bpf, kmod, user, uring, floor; all = every reachable one; or a list "
                   "(user,uring): several run interleaved, unreachable ones are skipped")
        ->check(check_mode_list)
        ->capture_default_str();
    app.add_option("--mode-port", o.mode_ports, "MODE=PORT: that mode's port when several modes run (repeatable)")
        ->check([](const std::string& spec) -> std::string {
            auto eq = spec.find('=');
            if (eq == std::string::npos || !parse_mode(spec.substr(0, eq)))
                return "expected MODE=PORT with MODE one of bpf, kmod, user, uring, floor, got '" + spec + "'";
            try {
                parse_port(spec.substr(eq + 1));
            } catch (const Error& e) {
                return e.what();
            }
            return {};
        });
    app.add_option("--host", o.host, "server address (numeric IPv4/IPv6)")->capture_default_str();
    app.add_option("--port", o.port, "server port (default: the mode's port: kmod 12345, user 12346, bpf 12347, "
                                     "uring 12348, floor 12349)")
        ->check(CLI::Range(1, 65535));
    app.add_option("--workload", o.workload, "what to run")
        ->check(CLI::IsMember({"pingpong", "burst", "stream", "verify", "held", "churn", "half-close", "resets", "slow",
                               "bad-input"}))
        ->capture_default_str();
    app.add_flag("--quick", o.quick, "verify: the seconds-long subset (every case but size-16MiB), shorter bounds");
    app.add_option("--case", o.cases, "verify: run only this case (repeatable)")->check([](const std::string& name) {
        if (is_verify_case(name)) return std::string();
        std::string list;
        for (const auto& n : verify_case_names()) list += (list.empty() ? "" : ", ") + n;
        return "unknown case '" + name + "' (cases: " + list + ")";
    });
    app.add_option("--connections", o.connections, "pingpong/stream: connections")
        ->check(CLI::Range(1, 100000))
        ->capture_default_str();
    app.add_option("--size", o.size, "pingpong: bytes per message (default 64); stream: bytes per write (default 64K)")
        ->check(cli::bytes_validator());
    app.add_option("--duration", o.duration, "pingpong/stream: measured seconds")
        ->check(CLI::Range(0.1, 3600.0))
        ->capture_default_str();
    app.add_option("--warmup", o.warmup, "pingpong/stream: seconds before measuring")
        ->check(CLI::Range(0.0, 600.0))
        ->capture_default_str();
    app.add_option("--pipeline", o.pipeline, "pingpong: messages in flight per connection")
        ->check(CLI::Range(1, 1024))
        ->capture_default_str();
    app.add_option("--window", o.window, "stream: bytes in flight per connection")
        ->check(cli::bytes_validator())
        ->capture_default_str();
    app.add_option("--workers", o.workers, "pingpong/stream: epoll threads (default: max(4, cores), at most 16 and one per connection)")
        ->check(CLI::Range(1, 64));
    app.add_option("--client", o.client,
                   "pingpong: epoll (a few threads), blocking (one thread per connection) or auto: blocking "
                   "up to 4 connections without --pipeline (one recv+send per request, no epoll_wait), epoll above")
        ->check(CLI::IsMember({"auto", "epoll", "blocking"}))
        ->capture_default_str();
    app.add_option("--threads", o.threads, "burst: threads released together")
        ->check(CLI::Range(1, 10000))
        ->capture_default_str();
    app.add_option("--rounds", o.rounds, "burst: rounds")->check(CLI::Range(1, 10000))->capture_default_str();
    app.add_option("--message", o.message, "burst: the message each thread sends")->capture_default_str();
    app.add_option("--out", o.out_path, "burst: write kecho's 'index microseconds' file (one per mode with --mode all)");
    app.add_option("--repeat", o.repeat, "runs per mode (default 3 with --mode all, else 1)")->check(CLI::Range(1, 100));
    app.add_option("--baseline", o.baseline, "mode the ratio column compares with")
        ->check(CLI::IsMember({"bpf", "kmod", "user", "uring", "floor"}))
        ->capture_default_str();
    app.add_option("--hold", o.stress.hold, "held: seconds every connection stays open between two echo rounds")
        ->check(CLI::Range(0.0, 3600.0))
        ->capture_default_str();
    app.add_option("--cycles", o.stress.cycles, "churn: connect/echo/close cycles")
        ->check(CLI::Range(1ull, 100000000ull))
        ->capture_default_str();
    app.add_option("--duration-limit", o.stress.duration_limit, "churn: stop after SEC seconds (the rate is reported)")
        ->check(CLI::Range(1.0, 86400.0))
        ->capture_default_str();
    app.add_option("--retry", o.stress.retry, "churn: seconds a failed cycle is retried (a server restarting)")
        ->check(CLI::Range(0.0, 600.0))
        ->capture_default_str();
    app.add_option("--clients", o.stress.clients, "half-close: clients; slow: clients, half never reading")
        ->check(CLI::Range(1, 100000))
        ->capture_default_str();
    app.add_option("--count", o.stress.count, "resets: connections reset mid-stream")
        ->check(CLI::Range(1, 10000000))
        ->capture_default_str();
    app.add_option("--client-threads", o.stress.threads, "churn, resets: client threads")
        ->check(CLI::Range(1, 256))
        ->capture_default_str();
    app.add_option("--json", o.json_path, "write the results as JSON to this file");
    app.add_option("--csv", o.csv_path, "write one CSV row per run to this file");
    app.add_option("--plot", o.plot_path, "draw the results with gnuplot into this .png or .svg file")
        ->check([](const std::string& path) {
            auto ext = std::filesystem::path(path).extension().string();
            return ext == ".png" || ext == ".svg" ? std::string() : "'" + path + "' must end in .png or .svg";
        });

    if (int rc = cli::parse(app, argc, argv); rc >= 0) return rc;
    auto usage = [](const std::string& message) {
        std::cerr << "bench: " << message << "\nrun 'bench --help' for usage\n";
        return cli::exit_usage;
    };
    const bool several = o.mode == "all" || o.mode.find(',') != std::string::npos;
    if (several && o.port != 0)
        return usage("--port picks one server's port; with several modes use --mode-port MODE=PORT");
    if (!o.cases.empty() && o.workload != "verify") return usage("--case applies to --workload verify only");
    if (o.quick && o.workload != "verify" && o.workload != "bad-input")
        return usage("--quick applies to --workload verify and bad-input only");
    if (is_stress_workload(o.workload) && (several || !o.csv_path.empty() || !o.plot_path.empty()))
        return usage("--workload " + o.workload + " drives one server (one --mode) and writes --json only");
    if (o.workload == "verify" && (!o.csv_path.empty() || !o.plot_path.empty()))
        return usage("--csv and --plot apply to pingpong, stream and burst; verify writes --json");
    if (o.message.empty()) return usage("--message must not be empty");
    if (o.workload == "pingpong" || o.workload == "stream") {
        std::uint64_t size = message_size(o);
        if (size == 0 || size > (1ull << 30)) return usage("--size must be from 1 byte to 1G");
        if (o.workload == "stream") {
            std::uint64_t window = parse_bytes(o.window);
            if (window < size) return usage("--window (" + o.window + ") must hold at least one --size write");
            if (window / size > 65536) return usage("--window / --size must be at most 65536 writes in flight");
        }
        if (o.workload == "stream" && o.client == "blocking")
            return usage("--client blocking applies to pingpong only");
    }
    // Few connections: a thread each costs nothing and saves the epoll_wait per request, so the
    // client is never the reason a server looks slow (measured against the busypoll floor).
    if (o.client == "auto")
        o.client = (o.workload == "pingpong" && o.connections <= 4 && o.pipeline == 1) ? "blocking" : "epoll";

    try {
        raise_fd_limit();
        auto targets = targets_for(o);
        std::vector<Target> reachable;
        std::vector<std::pair<Target, std::string>> skipped;
        for (const Target& t : targets) {
            if (auto why = probe(t)) skipped.emplace_back(t, *why);
            else reachable.push_back(t);
        }
        if (targets.size() == 1 && reachable.empty()) {
            std::cerr << "bench: " << skipped.front().second << "\n";
            return cli::exit_failure;
        }
        if (reachable.empty()) {
            std::cerr << "bench: no server is reachable:\n";
            for (const auto& [t, why] : skipped) std::cerr << "  " << why << "\n";
            return cli::exit_failure;
        }
        if (o.workload == "verify") return run_verify_workload(o, reachable, skipped);
        if (is_stress_workload(o.workload)) return run_stress_workload(o, reachable.front());
        return run_compare_workload(o, reachable, skipped);
    } catch (const Error& e) {
        std::cerr << "bench: " << e.what() << "\n";
        return cli::exit_failure;
    }
}
