// user-echo-server: the user-space TCP echo the eBPF sockmap echo is compared against.
#include <malloc.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <exception>
#include <future>
#include <iostream>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "config.h"
#include "kecho/cli.h"
#include "kecho/error.h"
#include "kecho/net.h"
#include "kecho/ports.h"
#include "kecho/signals.h"
#include "log.h"
#include "loop.h"

namespace kecho::userserver {

const char* engine_name(Engine engine) {
    switch (engine) {
        case Engine::epoll:
            return "epoll";
        case Engine::uring:
            return "uring";
        case Engine::busypoll:
            return "busypoll";
    }
    return "?";
}

namespace {

constexpr unsigned max_threads = 256;

struct Arguments {
    std::string address = "0.0.0.0";
    std::string port;  // empty: the engine's default
    std::string engine = "epoll";
    unsigned threads = 1;
    std::string max_buffer = "4M";
    std::string uring_features = "auto";
    std::string uring_submit = "batch";
    bool verbose = false;
};

CLI::Validator check(std::function<void(const std::string&)> parse, const std::string& name) {
    return CLI::Validator(
        [parse](std::string& value) -> std::string {
            try {
                parse(value);
            } catch (const Error& e) {
                return e.what();
            }
            return {};
        },
        "", name);
}

Engine parse_engine(const std::string& text) {
    if (text == "epoll") return Engine::epoll;
    if (text == "uring") return Engine::uring;
    if (text == "busypoll") return Engine::busypoll;
    throw Error("unknown engine '" + text + "': expected epoll, uring or busypoll");
}

UringFeatures parse_uring_features(const std::string& text) {
    if (text == "auto") return UringFeatures::automatic;
    if (text == "single-shot") return UringFeatures::single_shot;
    if (text == "no-buffer-ring") return UringFeatures::no_buffer_ring;
    throw Error("unknown io_uring feature set '" + text + "': expected auto, single-shot or no-buffer-ring");
}

unsigned parse_threads(const std::string& text) {
    unsigned value = 0;
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (ec != std::errc() || end != text.data() + text.size() || value < 1 || value > max_threads)
        throw Error("invalid thread count '" + text + "': expected a number from 1 to " + std::to_string(max_threads));
    return value;
}

std::size_t parse_max_buffer(const std::string& text) {
    std::uint64_t value = parse_bytes(text);
    if (value == 0) throw Error("invalid size '" + text + "': the buffer limit must be at least 1 byte");
    return static_cast<std::size_t>(value);
}

std::uint16_t default_port(Engine engine) {
    switch (engine) {
        case Engine::epoll:
            return ports::user;
        case Engine::uring:
            return ports::uring;
        case Engine::busypoll:
            return ports::busypoll;
    }
    return ports::user;
}

// Many connections need many descriptors: take the whole hard limit.
void raise_fd_limit() {
    rlimit limit{};
    if (::getrlimit(RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur < limit.rlim_max) {
        limit.rlim_cur = limit.rlim_max;
        ::setrlimit(RLIMIT_NOFILE, &limit);
    }
}

std::unique_ptr<Loop> make_loop(LoopContext context) {
    switch (context.config->engine) {
        case Engine::epoll:
            return make_epoll_loop(std::move(context));
        case Engine::uring:
            return make_uring_loop(std::move(context));
        case Engine::busypoll:
            return make_busypoll_loop(std::move(context));
    }
    throw Error("unknown engine");
}

void signal_event(int fd) {
    std::uint64_t one = 1;
    ssize_t ignored = ::write(fd, &one, sizeof(one));
    (void)ignored;
}

int serve(const Arguments& args) {
    ShutdownSignal shutdown;  // first: threads inherit the blocked SIGINT/SIGTERM
    raise_fd_limit();
    // A fixed threshold (no dynamic growth) so large echo buffers are mmap'ed and really given
    // back when a burst is over: the memory bound holds over time, not only for the first client.
    ::mallopt(M_MMAP_THRESHOLD, 128 * 1024);

    Config config;
    config.engine = parse_engine(args.engine);
    config.uring_features = parse_uring_features(args.uring_features);
    config.uring_submit_each = args.uring_submit == "each";
    config.max_buffer = parse_max_buffer(args.max_buffer);
    config.verbose = args.verbose;
    std::uint16_t port = args.port.empty() ? default_port(config.engine) : parse_port(args.port);
    SocketAddress address = parse_address(args.address, port);

    std::vector<UniqueFd> listeners;
    try {
        bool shared = args.threads > 1;
        // Every SO_REUSEPORT socket of the same user may bind the port, including another
        // server's: check first with a plain bind that nobody else has it.
        if (shared) make_listener(address);
        for (unsigned i = 0; i < args.threads; ++i) listeners.push_back(make_listener(address, {.reuse_port = shared}));
    } catch (const Error& e) {
        log_line(e.what());
        return cli::exit_usage;
    }

    UniqueFd stop_event(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
    UniqueFd failure_event(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
    if (!stop_event || !failure_event) throw_errno("cannot create an eventfd", errno);
    std::mutex failure_mutex;
    std::string failure;

    std::vector<std::thread> threads;
    std::vector<std::future<void>> ready;
    for (auto& listener : listeners) {
        LoopContext context;
        context.config = &config;
        context.listener = std::move(listener);
        context.stop_fd = stop_event.get();
        std::promise<void> promise;
        ready.push_back(promise.get_future());
        threads.emplace_back([&, context = std::move(context), promise = std::move(promise)]() mutable {
            std::unique_ptr<Loop> loop;
            try {
                loop = make_loop(std::move(context));  // in the thread that runs it (io_uring single issuer)
                promise.set_value();
            } catch (...) {
                promise.set_exception(std::current_exception());
                return;
            }
            try {
                loop->run();
            } catch (const std::exception& e) {
                std::lock_guard lock(failure_mutex);
                if (failure.empty()) failure = e.what();
                signal_event(failure_event.get());
            }
        });
    }

    auto stop_threads = [&] {
        signal_event(stop_event.get());
        for (auto& thread : threads) thread.join();
    };

    for (auto& started : ready) {
        try {
            started.get();
        } catch (const std::exception& e) {
            stop_threads();
            log_line(e.what());
            return cli::exit_failure;
        }
    }

    std::cout << "echoing on " << address.to_string() << " (" << engine_name(config.engine) << ", " << args.threads
              << (args.threads == 1 ? " thread)" : " threads)") << std::endl;

    pollfd waits[2] = {{shutdown.fd(), POLLIN, 0}, {failure_event.get(), POLLIN, 0}};
    while (::poll(waits, 2, -1) < 0 && errno == EINTR) {
    }
    stop_threads();

    if (AcceptErrors::pauses() > 1)
        log_line("accepting paused " + std::to_string(AcceptErrors::pauses()) +
                 " times for lack of descriptors or memory");
    if (!failure.empty()) {
        log_line(failure);
        return cli::exit_failure;
    }
    if (config.verbose) log_line("stopped");
    return cli::exit_ok;
}

}  // namespace
}  // namespace kecho::userserver

int main(int argc, char** argv) {
    using namespace kecho::userserver;
    Arguments args;
    CLI::App app{
        "TCP echo server in user space: echoes every byte back on the same connection.\n"
        "The baseline the eBPF sockmap echo (echo-loader) and the kernel module are measured against.",
        "user-echo-server"};
    app.add_option("--port", args.port,
                   "port to listen on (default by engine: epoll 12346, uring 12348, busypoll 12349)")
        ->check(check([](const std::string& v) { kecho::parse_port(v); }, "PORT"))
        ->type_name("PORT");
    app.add_option("--address", args.address, "address to listen on, IPv4 or IPv6 (default 0.0.0.0)")
        ->check(check([](const std::string& v) { kecho::parse_address(v, 1); }, "ADDR"))
        ->type_name("ADDR");
    app.add_option("--engine", args.engine,
                   "epoll: edge-triggered epoll (default); uring: io_uring with multishot accept/recv and "
                   "provided buffers; busypoll: spins on non-blocking sockets and never sleeps, a measuring "
                   "reference for the floor of wakeup-free latency, NOT for production (burns a core per thread)")
        ->check(check([](const std::string& v) { parse_engine(v); }, "epoll|uring|busypoll"))
        ->type_name("ENGINE");
    app.add_option("--threads", args.threads,
                   "independent event loops, each with its own SO_REUSEPORT listener (default 1)")
        ->check(check([](const std::string& v) { parse_threads(v); }, "N"))
        ->type_name("N");
    app.add_option("--max-buffer", args.max_buffer,
                   "unsent bytes per connection before the server stops reading it until they drain "
                   "(K/M/G suffixes, default 4M)")
        ->check(check([](const std::string& v) { parse_max_buffer(v); }, "BYTES"))
        ->type_name("BYTES");
    app.add_flag("--verbose", args.verbose, "a line on stderr per connection opened and closed (never per message)");
    // Test knob: force the io_uring fallbacks on a kernel that has every feature.
    app.add_option("--uring-features", args.uring_features,
                   "test knob: force io_uring fallbacks (auto, single-shot, no-buffer-ring)")
        ->check(check([](const std::string& v) { parse_uring_features(v); }, "FEATURES"))
        ->group("Measuring and test knobs");
    // Measuring knob (docs/performance.md): `each` submits every operation with its own system
    // call, to show what the default batched submission saves.
    app.add_option("--uring-submit", args.uring_submit,
                   "measuring knob: batch (default) or each (one io_uring_enter per operation)")
        ->check(check(
            [](const std::string& v) {
                if (v != "batch" && v != "each")
                    throw kecho::Error("unknown io_uring submission mode '" + v + "': expected batch or each");
            },
            "MODE"))
        ->group("Measuring and test knobs");
    int parsed = kecho::cli::parse(app, argc, argv);
    if (parsed >= 0) return parsed;
    try {
        return serve(args);
    } catch (const std::exception& e) {
        log_line(e.what());
        return kecho::cli::exit_failure;
    }
}
