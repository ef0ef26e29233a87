// SPDX-License-Identifier: GPL-2.0-only
// user-echo-server: the user-space TCP echo the eBPF sockmap echo is compared against.
#include <malloc.h>
#include <poll.h>

#include <algorithm>
#include <cerrno>
#include <exception>
#include <functional>
#include <iostream>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "config.h"
#include "kecho/cli.h"
#include "kecho/cpu_set.h"
#include "kecho/error.h"
#include "kecho/net.h"
#include "kecho/servers.h"
#include "kecho/signals.h"
#include "kecho/worker_group.h"
#include "log.h"
#include "loop.h"

namespace kecho::userserver {

namespace {

// Each engine's code. Its name, default port and description are its entry in the server
// registry (kecho/servers.def, program user-echo-server); the registry's order is --help's.
struct EngineCode {
    std::string_view name;
    Engine engine;
    std::unique_ptr<Loop> (*make)(LoopContext context);
};
constexpr EngineCode engine_code[] = {
    {"epoll", Engine::epoll, make_epoll_loop},
    {"uring", Engine::uring, make_uring_loop},
    {"floor", Engine::floor, make_floor_loop},
    {"splice", Engine::splice, make_splice_loop},
};

const EngineCode& code_of(Engine engine) {
    for (const auto& code : engine_code)
        if (code.engine == engine) return code;
    throw Error("unknown engine");
}

// This program's entries of the server registry, in its order but the busy-poll references last
// (how --help and its errors list the engines); each must have its code.
std::vector<const ServerEntry*> registry_engines() {
    std::vector<const ServerEntry*> entries;
    for (const auto& s : servers)
        if (s.program == "user-echo-server") entries.push_back(&s);
    std::stable_partition(entries.begin(), entries.end(),
                          [](const ServerEntry* s) { return s->role != ServerRole::reference; });
    return entries;
}

const ServerEntry& registry_entry(Engine engine) {
    for (const ServerEntry* s : registry_engines())
        if (s->engine == code_of(engine).name) return *s;
    throw Error("the server registry has no user-echo-server entry for engine " + std::string(code_of(engine).name));
}

}  // namespace

const char* engine_name(Engine engine) {
    return code_of(engine).name.data();
}

namespace {

constexpr unsigned max_threads = 256;

// The command line, bound by CLI11 (each value converted and checked once, while parsing).
struct Options {
    std::string address = "0.0.0.0";
    std::uint16_t port = 0;  // 0: the engine's default
    unsigned threads = 1;
    std::vector<int> cpus;  // empty: not pinned
    Config config;
};

// A CLI11 CheckedTransformer over `names`, whose failure reads "unknown <what> 'x': expected a, b
// or c" rather than CLI11's dump of the map (and which takes only the names, not their numbers).
template <class Enum>
CLI::Validator choice(const std::vector<std::pair<std::string, Enum>>& names, const std::string& what) {
    std::string expected;
    for (std::size_t i = 0; i < names.size(); ++i)
        expected += (i == 0 ? "" : i + 1 == names.size() ? " or " : ", ") + names[i].first;
    std::map<std::string, Enum> map(names.begin(), names.end());
    CLI::CheckedTransformer transform(map);
    return CLI::Validator(
        [map, transform, what, expected](std::string& value) mutable -> std::string {
            if (map.count(value) == 0) return "unknown " + what + " '" + value + "': expected " + expected;
            return transform(value);
        },
        expected);
}

std::unique_ptr<Loop> make_loop(LoopContext context) {
    return code_of(context.config->engine).make(std::move(context));
}

// --engine's names (the registry's, each with its code) and its help: "epoll: ...; uring: ...".
std::vector<std::pair<std::string, Engine>> engine_choices() {
    std::vector<std::pair<std::string, Engine>> choices;
    for (const ServerEntry* s : registry_engines())
        for (const auto& code : engine_code)
            if (code.name == s->engine) choices.emplace_back(std::string(s->engine), code.engine);
    return choices;
}

std::string engines_help() {
    std::string help;
    for (const ServerEntry* s : registry_engines())
        help += (help.empty() ? "" : "; ") + std::string(s->engine) + ": " + std::string(s->description);
    return help;
}

// "epoll PORT, uring PORT, ...": each engine's default port, lowest first.
std::string default_ports_help() {
    auto entries = registry_engines();
    std::sort(entries.begin(), entries.end(), [](const auto* a, const auto* b) { return a->port < b->port; });
    std::string help;
    for (const ServerEntry* s : entries)
        help += (help.empty() ? "" : ", ") + std::string(s->engine) + " " + std::to_string(s->port);
    return help;
}

// Starts one loop per listener, thread i pinned to cpus[i % size] when cpus are given; each loop
// is made in its own thread (io_uring single issuer) before the next starts. Throws the first setup
// failure.
void start_loops(WorkerGroup& workers, const Config& config, std::vector<UniqueFd> listeners,
                 const std::vector<int>& cpus) {
    for (std::size_t i = 0; i < listeners.size(); ++i) {
        std::vector<int> pin;
        if (!cpus.empty()) pin = {cpus[i % cpus.size()]};
        auto context = std::make_shared<LoopContext>(LoopContext{&config, std::move(listeners[i]), workers.stop_fd()});
        workers.start([context, pin]() -> std::function<void()> {
            if (!pin.empty()) pin_current_thread(pin);
            std::shared_ptr<Loop> loop = make_loop(std::move(*context));
            return [loop] { loop->run(); };
        });
    }
}

int serve(const Options& options) {
    ShutdownSignal shutdown;  // first: threads inherit the blocked SIGINT/SIGTERM
    cli::raise_fd_limit();    // every connection costs a descriptor (splice: three)
    // A fixed threshold (no dynamic growth) so large echo buffers are mmap'ed and really given
    // back when a burst is over: the memory bound holds over time, not only for the first client.
    ::mallopt(M_MMAP_THRESHOLD, 128 * 1024);

    const Config& config = options.config;
    SocketAddress address =
        parse_address(options.address, options.port != 0 ? options.port : registry_entry(config.engine).port);
    std::vector<UniqueFd> listeners;
    try {
        listeners = make_listener_group(address, options.threads);  // one per thread
    } catch (const Error& e) {
        log_line(e.what());
        return cli::exit_usage;
    }
    WorkerGroup workers;
    try {
        start_loops(workers, config, std::move(listeners), options.cpus);
    } catch (const std::exception& e) {
        workers.stop();
        log_line(e.what());
        return cli::exit_failure;
    }
    std::cout << "echoing on " << address.to_string() << " (" << engine_name(config.engine) << ", " << options.threads
              << (options.threads == 1 ? " thread)" : " threads)") << std::endl;

    pollfd waits[2] = {{shutdown.fd(), POLLIN, 0}, {workers.stop_fd(), POLLIN, 0}};  // a loop failed
    while (::poll(waits, 2, -1) < 0 && errno == EINTR) {
    }
    workers.stop();

    if (AcceptErrors::pauses() > 1)
        log_line("accepting paused " + std::to_string(AcceptErrors::pauses()) +
                 " times for lack of descriptors or memory");
    if (!workers.failure().empty()) {
        log_line(workers.failure());
        return cli::exit_failure;
    }
    if (config.verbose) log_line("stopped");
    return cli::exit_ok;
}

void add_server_options(CLI::App& app, Options& options) {
    app.add_option("--port", options.port, "port to listen on (default by engine: " + default_ports_help() + ")")
        ->transform(cli::port_transformer(""))
        ->type_name("PORT");
    app.add_option("--address", options.address, "address to listen on, IPv4 or IPv6 (default 0.0.0.0)")
        ->check(cli::validator([](const std::string& text) { parse_address(text, 1); }, ""))
        ->type_name("ADDR");
    app.add_option("--engine", options.config.engine, engines_help())
        ->transform(choice<Engine>(engine_choices(), "engine"))
        ->type_name("ENGINE");
    app.add_option("--threads", options.threads,
                   "independent event loops, each with its own SO_REUSEPORT listener (default 1)")
        ->check(CLI::Range(1u, max_threads))
        ->type_name("N");
    app.add_option_function<std::string>(
           "--cpus",
           [&options](const std::string& text) {
               try {
                   options.cpus = parse_cpu_list(text);
               } catch (const Error& e) {
                   throw CLI::ValidationError("--cpus", e.what());
               }
           },
           "pin the loops to these CPUs, e.g. 0, 1-3 or 0,2: thread i runs on the i-th CPU of the list "
           "(round robin when there are more threads than CPUs); default: not pinned")
        ->type_name("LIST");
    app.add_option("--max-buffer", options.config.max_buffer,
                   "unsent bytes per connection before the server stops reading it until they drain "
                   "(K/M/G suffixes, default 4M; splice: the size of the connection's pipe)")
        ->transform(cli::bytes_transformer(1, UINT64_MAX, ""))
        ->type_name("BYTES");
    app.add_flag("--verbose", options.config.verbose,
                 "a line on stderr per connection opened and closed (never per message)");
}

// Knobs for tests and measurements (docs/performance.md), not for running a server.
void add_knob_options(CLI::App& app, Options& options) {
    app.add_option("--uring-features", options.config.uring_features,
                   "test knob: io_uring features (auto, the default: the best the kernel has, receive bundles "
                   "of at most 256 KiB included where it takes them; bundle: the same, named for A/B runs; "
                   "fallbacks: no-bundle, single-shot, no-buffer-ring)")
        ->transform(choice<UringFeatures>({{"auto", UringFeatures::automatic},
                                           {"bundle", UringFeatures::bundle},
                                           {"no-bundle", UringFeatures::no_bundle},
                                           {"single-shot", UringFeatures::single_shot},
                                           {"no-buffer-ring", UringFeatures::no_buffer_ring}},
                                          "io_uring feature set"))
        ->group("Measuring and test knobs");
    app.add_option("--uring-submit", options.config.uring_submit,
                   "measuring knob: batch (default) or each (one io_uring_enter per operation)")
        ->transform(choice<UringSubmit>({{"batch", UringSubmit::batch}, {"each", UringSubmit::each}},
                                        "io_uring submission mode"))
        ->group("Measuring and test knobs");
}

}  // namespace
}  // namespace kecho::userserver

int main(int argc, char** argv) {
    using namespace kecho::userserver;
    Options options;
    CLI::App app{
        "TCP echo server in user space: echoes every byte back on the same connection.\n"
        "The baseline the eBPF sockmap echo (echo-loader) and the kernel module are measured against.",
        "user-echo-server"};
    add_server_options(app, options);
    add_knob_options(app, options);
    int parsed = kecho::cli::parse(app, argc, argv);
    if (parsed >= 0) return parsed;
    try {
        return serve(options);
    } catch (const std::exception& e) {
        log_line(e.what());
        return kecho::cli::exit_failure;
    }
}
