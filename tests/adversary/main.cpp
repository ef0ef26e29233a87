// SPDX-License-Identifier: GPL-2.0-only
// tcp-adversary: a hostile TCP peer for an echo server. It speaks TCP by hand from an address no
// kernel socket owns, sends each case's segments (overlapping and out of order, duplicated,
// urgent, into a closed window, a reset) and checks every echoed byte at its stream position.
// One "PASS|FAIL <case>/<phase> <detail>" line per case and phase, then "tcp-adversary: N passed,
// M failed"; exit 1 when any failed.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cstdio>
#include <random>
#include <string>
#include <vector>

#include "cases.h"
#include "kecho/cli.h"
#include "kecho/error.h"
#include "kecho/unique_fd.h"

namespace {

using namespace kecho;
using namespace kecho::adversary;

struct Options {
    std::string server = "127.0.0.1";
    std::uint16_t port = 0;
    std::string client = "192.0.2.2";
    std::string interface = "lo";
    pid_t pause_pid = 0;
    std::vector<std::string> cases;
    std::string phases = "both";
    unsigned rounds = 8;
    std::uint32_t seed = std::random_device{}();
    bool list = false;
    bool trace = false;
};

in_addr parse_ipv4(const std::string& text, const char* what) {
    in_addr a{};
    if (::inet_pton(AF_INET, text.c_str(), &a) != 1)
        throw Error(std::string("invalid ") + what + " address '" + text + "': an IPv4 address is needed");
    return a;
}

// The client's address must not be one of this host's: the kernel would answer the server's
// replies to it with resets.
void check_not_local(in_addr client, const std::string& text) {
    UniqueFd probe(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
    sockaddr_in at{};
    at.sin_family = AF_INET;
    at.sin_addr = client;
    if (probe && ::bind(probe.get(), reinterpret_cast<sockaddr*>(&at), sizeof(at)) == 0)
        throw Error("the client address " + text +
                    " is local here: the kernel would reset the server's replies to it; choose one routed "
                    "out of the capture interface instead (ip route add 192.0.2.2/32 dev lo, in a network "
                    "namespace of your own, and --client 192.0.2.2)");
}

std::vector<Phase> phases_of(const std::string& name) {
    if (name == "before") return {Phase::before_accept};
    if (name == "after") return {Phase::after_accept};
    return {Phase::before_accept, Phase::after_accept};
}

bool selected(const Options& o, const Case& c) {
    if (o.cases.empty()) return true;
    for (const auto& name : o.cases)
        if (name == c.name) return true;
    return false;
}

// One case in one phase and round: its PASS or FAIL line. A fatal failure is thrown on.
bool run_case(RawLink& link, const Options& o, const Case& c, Phase phase, std::uint32_t seed, bool rounds) {
    Session session(link, o.port, o.pause_pid, phase, seed);
    Outcome outcome;
    bool fatal = false;
    try {
        outcome = c.run(session);
    } catch (const CaseFailed& f) {
        outcome = {false, f.reason};
        fatal = f.fatal;
    }
    std::string name = std::string(c.name) + "/" + phase_name(phase);
    if (rounds) name += "/seed-" + std::to_string(seed);
    std::printf("%s %s %s\n", outcome.passed ? "PASS" : "FAIL", name.c_str(), outcome.detail.c_str());
    std::fflush(stdout);
    if (fatal) throw Error("stopped: no case can run against this server");
    return outcome.passed;
}

int run(const Options& o) {
    const in_addr client = parse_ipv4(o.client, "client"), server = parse_ipv4(o.server, "server");
    check_not_local(client, o.client);
    RawLink link(client, server, o.interface);
    link.set_trace(o.trace);
    std::printf("tcp-adversary: %s:%u from %s, seeds from %u (--seed %u repeats this run)\n", o.server.c_str(), o.port,
                o.client.c_str(), o.seed, o.seed);
    unsigned passed = 0, failed = 0;
    std::uint32_t seed = o.seed;
    for (const Case& c : all_cases()) {
        if (!selected(o, c)) continue;
        const unsigned rounds = std::string(c.name) == "overlap-shuffled" ? o.rounds : 1;
        for (Phase phase : phases_of(o.phases))
            for (unsigned round = 0; round < rounds; ++round, ++seed)
                ++(run_case(link, o, c, phase, seed, rounds > 1) ? passed : failed);
    }
    std::printf("tcp-adversary: %u passed, %u failed\n", passed, failed);
    return failed == 0 && passed > 0 ? cli::exit_ok : cli::exit_failure;
}

}  // namespace

int main(int argc, char** argv) {
    Options o;
    CLI::App app{
        "tcp-adversary: a hostile TCP peer for an echo server. It speaks TCP by hand from --client, an "
        "address that must be routed out of --interface without being local (ip route add 192.0.2.2/32 "
        "dev lo, in a network namespace of your own, where the server listens too), and checks every "
        "echoed byte at its stream position. Needs root (raw and packet sockets).",
        "tcp-adversary"};
    app.add_option("--port", o.port, "the echo server's TCP port (required but with --list)")
        ->transform(cli::port_transformer());
    app.add_option("--server", o.server, "the echo server's IPv4 address")->capture_default_str();
    app.add_option("--client", o.client, "the client's IPv4 address (not local, routed out of --interface)")
        ->capture_default_str();
    app.add_option("--interface", o.interface, "where the server's replies leave (captured there)")
        ->capture_default_str();
    app.add_option("--pause-pid", o.pause_pid,
                   "the server's pid: stopped while a case queues its segments before accept "
                   "(without it, they race the server's accept)")
        ->check(CLI::PositiveNumber);
    app.add_option("--case", o.cases, "run only these cases (repeatable; --list names them)");
    app.add_option("--phases", o.phases, "before (accept), after or both")
        ->check(CLI::IsMember({"before", "after", "both"}))
        ->capture_default_str();
    app.add_option("--rounds", o.rounds, "seeds of overlap-shuffled per phase")
        ->check(CLI::Range(1u, 10000u))
        ->capture_default_str();
    app.add_option("--seed", o.seed, "the first seed (streams, ports, shuffles); random by default, printed");
    app.add_flag("--list", o.list, "list the cases and exit");
    app.add_flag("--trace", o.trace, "print every segment sent (->) and received (<-) to stderr");
    if (int rc = cli::parse(app, argc, argv); rc >= 0) return rc;
    if (o.list) {
        for (const Case& c : all_cases()) std::printf("%-24s %s\n", c.name, c.what);
        return cli::exit_ok;
    }
    if (o.port == 0) {
        std::fprintf(stderr, "tcp-adversary: --port is required: the echo server's port (see --help)\n");
        return cli::exit_usage;
    }
    for (const auto& name : o.cases) {
        bool known = false;
        for (const Case& c : all_cases()) known = known || name == c.name;
        if (!known) {
            std::fprintf(stderr, "tcp-adversary: unknown case '%s' (see --list)\n", name.c_str());
            return cli::exit_usage;
        }
    }
    try {
        return run(o);
    } catch (const std::exception& e) {
        std::fprintf(stderr, "tcp-adversary: %s\n", e.what());
        return cli::exit_failure;
    }
}
