// SPDX-License-Identifier: GPL-2.0-only
// echo-loader: loads the in-kernel sockmap echo, runs it in the foreground, and inspects or stops a
// running instance (stats, status, detach); `trace` times the exchanges on any server's port.
#include <cstdio>
#include <string>

#include "commands.h"
#include "echo.h"
#include "echo_server.h"
#include "instance.h"
#include "kecho/cli.h"
#include "kecho/error.h"
#include "kecho/net.h"
#include "kecho/servers.h"
#include "trace.h"

namespace {

// The limits `attach` enforces on peers.
void add_attach_limits(CLI::App* cmd, kecho::loader::AttachOptions& attach) {
    cmd->add_option(
           "--max-pending", attach.max_pending,
           "reset a connection whose peer leaves more than this many echoed bytes unacknowledged (a client "
           "that does not read); keep it above the peers' receive buffers (tcp_rmem max, 6 MiB by default); at least "
           "64K")
        ->transform(kecho::cli::bytes_transformer(64 * 1024))
        ->default_str("16M");
    static_assert(ECHO_DEFAULT_MAX_PENDING == 16 << 20, "the default --help shows");
    cmd->add_option("--max-connections", attach.max_connections, "size of the socket hash")
        ->check(CLI::Range(1, 1 << 24))
        ->capture_default_str();
    cmd->add_option("--drain-timeout", attach.drain_timeout,
                    "seconds to wait for the last echo bytes after a peer closes before resetting")
        ->check(CLI::Range(0.0, 3600.0))
        ->capture_default_str();
}

CLI::App* add_attach(CLI::App& app, kecho::loader::AttachOptions& attach) {
    using kecho::loader::default_accept_threads;
    attach.port = kecho::default_port("bpf");
    auto* cmd = app.add_subcommand("attach", "load and attach the echo, listen, run until SIGINT/SIGTERM");
    cmd->add_option("--address", attach.address, "address to listen on (IPv4 or IPv6; '::' is dual stack)")
        ->check(kecho::cli::validator([](const std::string& text) { kecho::parse_address(text, 1); }, "ADDR"))
        ->capture_default_str();
    cmd->add_option("--port", attach.port, "TCP port to echo on")
        ->transform(kecho::cli::port_transformer())
        ->capture_default_str();
    cmd->add_option("--backlog", attach.backlog, "listen backlog")
        ->check(CLI::Range(1, 1 << 20))
        ->capture_default_str();
    cmd->add_option("--cgroup", attach.cgroup,
                    "cgroup v2 directory to run in (default: kecho-bpf under the cgroup v2 root, or inside this "
                    "process's own cgroup when its service manager delegated that one: systemd's Delegate=yes)");
    cmd->add_option("--stats-interval", attach.stats_interval, "print the counters every SEC seconds (0: never)")
        ->check(CLI::Range(0, 86400))
        ->capture_default_str();
    cmd->add_flag("--no-meter", attach.no_meter, "do not attach the sk_msg program that meters echoed bytes");
    cmd->add_option("--insert", attach.insert,
                    "who puts sockets in the map: sockops, loader (after accept) or none (echo in user space); "
                    "the last two are for diagnosis")
        ->check(CLI::IsMember({"sockops", "loader", "none"}))
        ->capture_default_str();
    cmd->add_option("--seq-read", attach.seq_read,
                    "how the verdict reads each segment's sequence number: kfunc (bpf_cast_to_kern_ctx, kernels "
                    "6.2+), probe-read (bpf_probe_read_kernel) or auto (the kfunc where the kernel has it)")
        ->check(CLI::IsMember({"auto", "kfunc", "probe-read"}))
        ->capture_default_str();
    attach.threads = default_accept_threads();
    cmd->add_option("--threads", attach.threads,
                    "accept threads: one SO_REUSEPORT listener and epoll loop each (the echo itself runs in the "
                    "kernel; these accept, drain and close connections); default: the online CPUs, at most 8")
        ->check(CLI::Range(1, ECHO_MAX_THREADS))
        ->capture_default_str();
    cmd->add_flag("--verbose", attach.verbose, "print libbpf's debug output");

    add_attach_limits(cmd, attach);
    return cmd;
}

CLI::App* add_trace(CLI::App& app, kecho::loader::TraceOptions& trace) {
    trace.port = kecho::default_port("bpf");
    auto* cmd = app.add_subcommand(
        "trace",
        "time each exchange on a port, whichever server listens there (bpf, kmod, user): from the bytes' arrival "
        "through accept, the server's read or the sockmap's kworker, to the echo's arrival and the client's read; "
        "one message in flight per connection (ping-pong, burst) makes every exchange one; needs root");
    cmd->add_option("--port", trace.port, "the server's TCP port")
        ->transform(kecho::cli::port_transformer())
        ->capture_default_str();
    cmd->add_option("--seconds", trace.seconds, "stop after SEC seconds (default: at SIGINT/SIGTERM)")
        ->check(CLI::Range(0.1, 86400.0));
    cmd->add_flag("--json", trace.json, "print the phases as JSON");
    cmd->add_option("--records", trace.records_csv, "also write every exchange's timestamps (ns) to FILE as CSV");
    cmd->add_flag("--verbose", trace.verbose, "print libbpf's debug output");
    return cmd;
}

}  // namespace

int main(int argc, char** argv) {
    using namespace kecho::loader;
    CLI::App app{"echo-loader: TCP echo inside the kernel through an eBPF sockmap", "echo-loader"};
    app.require_subcommand(1);
    std::string run_dir = default_run_dir;
    app.add_option("--run-dir", run_dir, "where the running instance keeps its lock and state")->capture_default_str();

    AttachOptions attach;
    auto* attach_cmd = add_attach(app, attach);

    StatsOptions stats;
    auto* stats_cmd = app.add_subcommand("stats", "print the counters of the running instance");
    stats_cmd->add_flag("--json", stats.json, "print JSON (one object per reading)");
    stats_cmd->add_option("--watch", stats.watch, "print a reading every SEC seconds until Ctrl-C")
        ->check(CLI::Range(0.05, 86400.0));
    stats_cmd->add_option("--count", stats.count, "with --watch: stop after N readings")->check(CLI::Range(1, 1 << 30));

    StatusOptions status;
    auto* status_cmd =
        app.add_subcommand("status", "is it running: pid, port, cgroup, program and map ids (exit 3: not running)");
    status_cmd->add_flag("--json", status.json, "print JSON");

    DetachOptions detach;
    auto* detach_cmd = app.add_subcommand("detach", "stop the running instance and confirm nothing is left attached");
    detach_cmd->add_option("--timeout", detach.timeout, "seconds to wait for it to stop")
        ->check(CLI::Range(0.1, 600.0))
        ->capture_default_str();

    TraceOptions trace;
    auto* trace_cmd = add_trace(app, trace);

    int code = kecho::cli::parse(app, argc, argv);
    if (code >= 0) return code;
    try {
        if (attach_cmd->parsed()) return run_attach(attach, run_dir);
        if (stats_cmd->parsed()) return run_stats(stats, run_dir);
        if (status_cmd->parsed()) return run_status(status, run_dir);
        if (detach_cmd->parsed()) return run_detach(detach, run_dir);
        if (trace_cmd->parsed()) return run_trace(trace);
    } catch (const kecho::Error& e) {
        std::fprintf(stderr, "echo-loader: %s\n", e.what());
        return kecho::cli::exit_failure;
    } catch (const std::exception& e) {
        std::fprintf(stderr, "echo-loader: unexpected error: %s\n", e.what());
        return kecho::cli::exit_failure;
    }
    return kecho::cli::exit_usage;
}
