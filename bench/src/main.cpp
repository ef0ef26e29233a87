// bench: one client engine for every echo server. See bench --help.
#include <sys/resource.h>
#include <unistd.h>

#include <fstream>
#include <iostream>
#include <string>
#include <vector>

#include "bench/target.h"
#include "bench/verify.h"
#include "kecho/cli.h"
#include "kecho/error.h"

namespace {

using namespace kecho;
using namespace kecho::bench;

struct Options {
    std::string mode = "user";
    std::string host = "127.0.0.1";
    int port = 0;
    std::string workload = "pingpong";
    // verify
    bool quick = false;
    std::vector<std::string> cases;
    // output
    std::string json_path;
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

void write_json(const std::string& path, const nlohmann::json& doc) {
    std::ofstream out(path);
    if (!out) throw Error("cannot write " + path + ": " + errno_message("open", errno).substr(6));
    out << doc.dump(2) << "\n";
    if (!out) throw Error("cannot write " + path + ": write failed");
}

std::vector<Target> targets_for(const Options& o) {
    std::vector<Target> targets;
    if (o.mode == "all") {
        for (Mode m : all_modes()) targets.push_back({m, parse_address(o.host, default_port(m))});
        return targets;
    }
    Mode m = *parse_mode(o.mode);
    auto port = o.port ? static_cast<std::uint16_t>(o.port) : default_port(m);
    targets.push_back({m, parse_address(o.host, port)});
    return targets;
}

int run_verify_workload(const Options& o, const std::vector<Target>& reachable,
                        const std::vector<std::pair<Target, std::string>>& skipped) {
    VerifyOptions vo;
    vo.quick = o.quick;
    vo.cases = o.cases;
    const bool many = o.mode == "all";
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

}  // namespace

int main(int argc, char** argv) {
    Options o;
    CLI::App app{"bench: drives the kecho echo servers (bpf, kmod, user, uring, floor) with one client engine"};
    app.name("bench");
    app.add_option("--mode", o.mode, "server to drive; all = every reachable one, interleaved")
        ->check(CLI::IsMember({"bpf", "kmod", "user", "uring", "floor", "all"}))
        ->capture_default_str();
    app.add_option("--host", o.host, "server address (numeric IPv4/IPv6)")->capture_default_str();
    app.add_option("--port", o.port, "server port (default: the mode's port: kmod 12345, user 12346, bpf 12347, "
                                     "uring 12348, floor 12349)")
        ->check(CLI::Range(1, 65535));
    app.add_option("--workload", o.workload, "what to run")
        ->check(CLI::IsMember({"pingpong", "burst", "stream", "verify"}))
        ->capture_default_str();
    app.add_flag("--quick", o.quick, "verify: the seconds-long subset (every case but size-16MiB), shorter bounds");
    app.add_option("--case", o.cases, "verify: run only this case (repeatable)")->check([](const std::string& name) {
        if (is_verify_case(name)) return std::string();
        std::string list;
        for (const auto& n : verify_case_names()) list += (list.empty() ? "" : ", ") + n;
        return "unknown case '" + name + "' (cases: " + list + ")";
    });
    app.add_option("--json", o.json_path, "write the results as JSON to this file");

    if (int rc = cli::parse(app, argc, argv); rc >= 0) return rc;
    auto usage = [](const std::string& message) {
        std::cerr << "bench: " << message << "\nrun 'bench --help' for usage\n";
        return cli::exit_usage;
    };
    if (o.mode == "all" && o.port != 0)
        return usage("--port picks one server's port; with --mode all every mode uses its default port");
    if ((o.quick || !o.cases.empty()) && o.workload != "verify")
        return usage("--quick and --case apply to --workload verify only");

    try {
        raise_fd_limit();
        auto targets = targets_for(o);
        std::vector<Target> reachable;
        std::vector<std::pair<Target, std::string>> skipped;
        for (const Target& t : targets) {
            if (auto why = probe(t)) skipped.emplace_back(t, *why);
            else reachable.push_back(t);
        }
        if (o.mode != "all" && reachable.empty()) {
            std::cerr << "bench: " << skipped.front().second << "\n";
            return cli::exit_failure;
        }
        if (reachable.empty()) {
            std::cerr << "bench: no server is reachable:\n";
            for (const auto& [t, why] : skipped) std::cerr << "  " << why << "\n";
            return cli::exit_failure;
        }
        if (o.workload == "verify") return run_verify_workload(o, reachable, skipped);
        std::cerr << "bench: workload '" << o.workload << "' is not built yet\n";
        return cli::exit_failure;
    } catch (const Error& e) {
        std::cerr << "bench: " << e.what() << "\n";
        return cli::exit_failure;
    }
}
