// SPDX-License-Identifier: GPL-2.0-only
#include "commands.h"

#include <poll.h>
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <ctime>
#include <iostream>
#include <nlohmann/json.hpp>
#include <thread>

#include "bpf_objects.h"
#include "cgroup.h"
#include "echo_program.h"
#include "echo_server.h"
#include "instance.h"
#include "kecho/cli.h"
#include "kecho/error.h"
#include "kecho/net.h"
#include "kecho/signals.h"
#include "system_checks.h"

namespace kecho::loader {
namespace {

using Clock = std::chrono::steady_clock;

InsertMode parse_insert(const std::string& text) {
    if (text == "sockops") return InsertMode::sockops;
    if (text == "loader") return InsertMode::loader;
    return InsertMode::none;
}

// Runs and nanoseconds per run: counted by the kernel only while kernel.bpf_stats_enabled=1.
nlohmann::json program_runs(const StatsSnapshot::ProgramRuns& r) {
    return {{"runs", r.runs},
            {"run_time_ns", r.run_time_ns},
            {"ns_per_run", r.runs ? static_cast<double>(r.run_time_ns) / static_cast<double>(r.runs) : 0.0}};
}

nlohmann::json stats_json(const InstanceState& state, const StatsSnapshot& s) {
    const auto& b = s.bpf;
    const auto& l = s.loader;
    return {{"pid", state.pid},
            {"address", state.address},
            {"meter", state.meter},
            {"connections",
             {{"accepted", l.accepted},
              {"active", l.active},
              {"in_map", s.in_map},
              {"inserted_by_sockops", b[ECHO_INSERTED]},
              {"inserted_by_loader", l.inserted_by_loader},
              {"insert_failed", b[ECHO_INSERT_FAILED]},
              {"echoed_in_user_space", l.fallback},
              {"guard_resets", l.guard_resets},
              {"drain_timeouts", l.drain_timeouts},
              {"drain_checks", l.drain_checks},
              {"closed", l.closed}}},
            {"bytes",
             {{"received", b[ECHO_RX_BYTES]},
              {"dropped_by_guard", b[ECHO_OVER_LIMIT_BYTES]},
              {"retransmitted_not_echoed", b[ECHO_DUPLICATE_BYTES]},
              {"echoed", b[ECHO_ECHOED_BYTES]},
              {"echoed_in_user_space", l.fallback_bytes}}},
            {"redirect_failures", b[ECHO_REDIRECT_FAILED]},
            {"over_limit_drops", b[ECHO_OVER_LIMIT]},
            {"unplaced_resets", b[ECHO_UNPLACED]},
            {"events_lost", b[ECHO_EVENTS_LOST]},
            {"programs",
             {{"echo_sockops", program_runs(s.sockops)},
              {"echo_verdict", program_runs(s.verdict)},
              {"echo_meter", program_runs(s.meter)}}}};
}

void print_stats_text(const InstanceState& state, const StatsSnapshot& s) {
    const auto& b = s.bpf;
    const auto& l = s.loader;
    std::printf("echo-loader pid %d on %s\n", static_cast<int>(state.pid), state.address.c_str());
    std::printf("  connections   active %llu (in map %llu), accepted %llu, closed %llu (drain checks %llu)\n",
                static_cast<unsigned long long>(l.active), static_cast<unsigned long long>(s.in_map),
                static_cast<unsigned long long>(l.accepted), static_cast<unsigned long long>(l.closed),
                static_cast<unsigned long long>(l.drain_checks));
    std::printf("  inserted      by sockops %llu, by the loader %llu, failed %llu, echoed in user space %llu\n",
                static_cast<unsigned long long>(b[ECHO_INSERTED]),
                static_cast<unsigned long long>(l.inserted_by_loader),
                static_cast<unsigned long long>(b[ECHO_INSERT_FAILED]), static_cast<unsigned long long>(l.fallback));
    std::printf(
        "  bytes         received %llu, echoed %s, echoed in user space %llu, dropped by the guard %llu, "
        "retransmitted and not echoed again %llu\n",
        static_cast<unsigned long long>(b[ECHO_RX_BYTES]),
        state.meter ? std::to_string(b[ECHO_ECHOED_BYTES]).c_str() : "(meter off)",
        static_cast<unsigned long long>(l.fallback_bytes), static_cast<unsigned long long>(b[ECHO_OVER_LIMIT_BYTES]),
        static_cast<unsigned long long>(b[ECHO_DUPLICATE_BYTES]));
    std::printf(
        "  problems      redirect failures %llu, over-limit drops %llu, unplaced bytes %llu, guard resets %llu, "
        "drain timeouts %llu, events lost %llu\n",
        static_cast<unsigned long long>(b[ECHO_REDIRECT_FAILED]), static_cast<unsigned long long>(b[ECHO_OVER_LIMIT]),
        static_cast<unsigned long long>(b[ECHO_UNPLACED]), static_cast<unsigned long long>(l.guard_resets),
        static_cast<unsigned long long>(l.drain_timeouts), static_cast<unsigned long long>(b[ECHO_EVENTS_LOST]));
    if (s.verdict.runs > 0) {
        auto per = [](const StatsSnapshot::ProgramRuns& r) {
            return r.runs ? static_cast<double>(r.run_time_ns) / static_cast<double>(r.runs) : 0.0;
        };
        std::printf("  bpf time      verdict %.0f ns x %llu, meter %.0f ns x %llu, sockops %.0f ns x %llu\n",
                    per(s.verdict), static_cast<unsigned long long>(s.verdict.runs), per(s.meter),
                    static_cast<unsigned long long>(s.meter.runs), per(s.sockops),
                    static_cast<unsigned long long>(s.sockops.runs));
    }
    std::fflush(stdout);
}

// The running instance's state, or Error saying how to start one.
InstanceState running_instance(const std::string& run_dir) {
    auto state = read_instance_state(run_dir);
    if (!instance_running(run_dir) || !state)
        throw Error("echo-loader is not running (start it with 'echo-loader attach')");
    return *state;
}

std::vector<std::string> leftovers(const InstanceState& state) {
    std::vector<std::string> left;
    for (const auto& field : object_fields) {
        std::uint32_t id = state.ids.*field.id;
        if (!object_exists(field.kind, id)) continue;
        const char* kind = field.kind == ObjectKind::program ? "program "
                           : field.kind == ObjectKind::map   ? "map "
                                                             : "link ";
        left.push_back(kind + std::string(field.name) + " (id " + std::to_string(id) + ")");
    }
    return left;
}

std::string join(const std::vector<std::string>& items) {
    std::string out;
    for (const auto& i : items) out += (out.empty() ? "" : ", ") + i;
    return out;
}

ProgramSettings program_settings(const AttachOptions& options) {
    ProgramSettings settings;
    settings.port = options.port;
    settings.max_pending = options.max_pending;
    settings.max_sockets = options.max_connections;
    settings.meter = !options.no_meter;
    settings.sockops = options.insert != "none";
    settings.sockops_inserts = options.insert == "sockops";
    settings.seq_read = options.seq_read == "kfunc"        ? SeqRead::kfunc
                        : options.seq_read == "probe-read" ? SeqRead::probe_read
                                                           : SeqRead::automatic;
    settings.verbose = options.verbose;
    return settings;
}

// What `status` and `stats` show of this instance (the cgroup is filled in by the caller).
InstanceState instance_state(const AttachOptions& options, const SocketAddress& address, const ObjectIds& ids) {
    InstanceState state;
    state.pid = ::getpid();
    state.address = address.to_string();
    state.port = options.port;
    state.meter = !options.no_meter;
    state.insert = options.insert;
    state.max_pending = options.max_pending;
    state.threads = options.threads;
    state.started = static_cast<std::int64_t>(std::time(nullptr));
    state.ids = ids;
    return state;
}

}  // namespace

int run_attach(const AttachOptions& options, const std::string& run_dir) {
    SocketAddress address = parse_address(options.address, options.port);
    require_privileges();
    auto root = find_cgroup2_root();
    if (!root)
        throw Error(
            "no cgroup v2 hierarchy is mounted (see /proc/self/mountinfo): mount one, e.g. "
            "'mount -t cgroup2 none /sys/fs/cgroup', or pass --cgroup");
    set_libbpf_verbosity(options.verbose);
    require_sockmap_support();

    ShutdownSignal shutdown;  // before anything attaches: a signal now still cleans up
    InstanceLock lock(run_dir);
    cli::raise_fd_limit();  // every connection costs a descriptor

    // sockops is per cgroup: the echo cgroup holds only this process, so only its sockets are seen.
    const bool default_cgroup = options.cgroup.empty();
    std::string cgroup_path = default_cgroup ? default_echo_cgroup(*root) : options.cgroup;
    while (cgroup_path.size() > 1 && cgroup_path.back() == '/') cgroup_path.pop_back();
    // A cgroup an earlier instance created and could not remove (it was killed) is ours as well.
    auto stale = read_instance_state(run_dir);
    bool inherited = stale && stale->cgroup_owned && stale->cgroup == cgroup_path;
    CgroupMembership membership(cgroup_path, *root, default_cgroup || inherited);

    ProgramSettings settings = program_settings(options);
    EchoProgram program(settings);
    if (settings.sockops) program.attach_sockops(membership.fd(), cgroup_path);

    ServerSettings server_settings{parse_insert(options.insert),
                                   std::chrono::milliseconds(static_cast<long>(options.drain_timeout * 1000)),
                                   std::chrono::seconds(options.stats_interval)};
    EchoMaps maps{program.sockets_fd(), program.events_fd(), program.sockops_insert_failures()};
    EchoServer server(make_reuseport_listeners(address, options.backlog, options.threads), maps, program.loader_stats(),
                      server_settings);

    InstanceState state = instance_state(options, address, program.ids());
    state.seq_read = program.seq_read();
    state.cgroup = cgroup_path;
    state.cgroup_owned = default_cgroup || inherited || membership.created();
    lock.publish(state);

    std::printf("echoing on %s (bpf sockmap, %d accept thread%s, cgroup %s)\n", state.address.c_str(), options.threads,
                options.threads == 1 ? "" : "s", cgroup_path.c_str());
    std::fflush(stdout);

    server.run(shutdown, [&] {
        try {
            print_stats_text(state, read_stats(state.ids));
        } catch (const Error& e) {
            std::fprintf(stderr, "echo-loader: %s\n", e.what());
        }
    });
    std::fprintf(stderr, "echo-loader: stopping: connections closed, programs detached, cgroup %s\n",
                 state.cgroup_owned ? "removed" : "left as it was");
    return 0;
}

int run_stats(const StatsOptions& options, const std::string& run_dir) {
    InstanceState state = running_instance(run_dir);
    require_privileges();
    if (options.watch <= 0) {
        StatsSnapshot snap = read_stats(state.ids);
        if (options.json)
            std::cout << stats_json(state, snap).dump(2) << std::endl;
        else
            print_stats_text(state, snap);
        return 0;
    }
    ShutdownSignal shutdown;
    auto interval = std::chrono::milliseconds(static_cast<long>(options.watch * 1000));
    StatsSnapshot previous = read_stats(state.ids);
    for (int reading = 0; options.count == 0 || reading < options.count; ++reading) {
        pollfd p{shutdown.fd(), POLLIN, 0};
        int n = ::poll(&p, 1, static_cast<int>(interval.count()));
        if (n > 0 && shutdown.requested()) break;
        if (!instance_running(run_dir)) throw Error("echo-loader stopped");
        StatsSnapshot now = read_stats(state.ids);
        double seconds = options.watch;
        auto rate = [&](int counter) {
            return static_cast<double>(now.bpf[counter] - previous.bpf[counter]) / seconds;
        };
        if (options.json) {
            auto j = stats_json(state, now);
            j["interval_seconds"] = seconds;
            j["rates"] = {{"received_bytes_per_second", rate(ECHO_RX_BYTES)},
                          {"echoed_bytes_per_second", rate(ECHO_ECHOED_BYTES)}};
            std::cout << j.dump() << std::endl;
        } else {
            std::printf("active %llu  in map %llu  received %.1f MB/s  echoed %.1f MB/s  accepted %llu  resets %llu\n",
                        static_cast<unsigned long long>(now.loader.active), static_cast<unsigned long long>(now.in_map),
                        rate(ECHO_RX_BYTES) / 1e6, rate(ECHO_ECHOED_BYTES) / 1e6,
                        static_cast<unsigned long long>(now.loader.accepted),
                        static_cast<unsigned long long>(now.loader.guard_resets));
            std::fflush(stdout);
        }
        previous = now;
    }
    return 0;
}

int run_status(const StatusOptions& options, const std::string& run_dir) {
    auto state = read_instance_state(run_dir);
    bool running = instance_running(run_dir) && state;
    if (options.json) {
        nlohmann::json j = {{"running", running}};
        if (state) {
            j["pid"] = state->pid;
            j["address"] = state->address;
            j["port"] = state->port;
            j["cgroup"] = state->cgroup;
            j["meter"] = state->meter;
            j["insert"] = state->insert;
            j["seq_read"] = state->seq_read;
            j["max_pending"] = state->max_pending;
            j["threads"] = state->threads;
            ids_to_json(j, state->ids);
            j["stale"] = !running;
        }
        std::cout << j.dump(2) << std::endl;
        return running ? 0 : exit_not_running;
    }
    if (!running) {
        if (state)
            std::printf(
                "echo-loader is not running (pid %d ended without cleaning up: 'echo-loader detach' removes "
                "what it left)\n",
                static_cast<int>(state->pid));
        else
            std::printf("echo-loader is not running\n");
        return exit_not_running;
    }
    const auto& ids = state->ids;
    std::printf("echo-loader is running: pid %d, echoing on %s, cgroup %s\n", static_cast<int>(state->pid),
                state->address.c_str(), state->cgroup.c_str());
    auto id_or_off = [](std::uint32_t id) { return id ? "id " + std::to_string(id) : std::string("off"); };
    std::printf("  programs  echo_sockops %s (link %u), echo_verdict id %u, echo_meter %s\n",
                id_or_off(ids.sockops).c_str(), ids.sockops_link, ids.verdict, id_or_off(ids.meter).c_str());
    std::printf(
        "  maps      echo_sockets id %u, echo_positions id %u, echo_counters id %u, echo_events id %u, bss id %u\n",
        ids.sockets, ids.positions, ids.counters, ids.events, ids.bss);
    std::printf("  verdict   places each skb by its sequence number, read with %s\n", state->seq_read.c_str());
    std::printf("  limits    max pending %llu bytes, insert by %s, %d accept threads\n",
                static_cast<unsigned long long>(state->max_pending), state->insert.c_str(), state->threads);
    return 0;
}

int run_detach(const DetachOptions& options, const std::string& run_dir) {
    auto state = read_instance_state(run_dir);
    if (!instance_running(run_dir)) {
        if (!state) {
            std::printf("echo-loader is not running: nothing to detach\n");
            return 0;
        }
        // Killed without cleanup: the kernel already dropped its programs with its fds; the state
        // file and an empty cgroup directory may remain.
        require_privileges();
        auto left = leftovers(*state);
        if (!left.empty()) throw Error("pid " + std::to_string(state->pid) + " is gone but left " + join(left));
        if (state->cgroup_owned) ::rmdir(state->cgroup.c_str());
        remove_stale_state(run_dir);
        std::printf("echo-loader (pid %d) was not running: removed its leftover state; nothing is attached\n",
                    static_cast<int>(state->pid));
        return 0;
    }
    if (!state) throw Error("echo-loader is starting (no state published yet): try again in a second");
    require_privileges();
    if (::kill(state->pid, SIGTERM) != 0)
        throw_errno("cannot stop echo-loader (pid " + std::to_string(state->pid) + ")", errno);
    auto deadline = Clock::now() + std::chrono::milliseconds(static_cast<long>(options.timeout * 1000));
    while (instance_running(run_dir)) {
        if (Clock::now() >= deadline)
            throw Error("echo-loader (pid " + std::to_string(state->pid) + ") did not stop within " +
                        std::to_string(static_cast<int>(options.timeout)) + " s (kill -9 it, then run detach again)");
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    // The kernel frees programs and maps shortly after the last reference goes (RCU): allow a moment.
    std::vector<std::string> left;
    for (int attempt = 0; attempt < 100; ++attempt) {
        left = leftovers(*state);
        if (left.empty()) break;
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    if (!left.empty()) throw Error("echo-loader stopped but left " + join(left));
    bool cgroup_gone = !state->cgroup_owned || ::access(state->cgroup.c_str(), F_OK) != 0;
    if (!cgroup_gone) throw Error("echo-loader stopped but its cgroup " + state->cgroup + " remains");
    std::printf("detached: echo-loader (pid %d) stopped; no program, map or link of it is left%s\n",
                static_cast<int>(state->pid), state->cgroup_owned ? ", its cgroup is removed" : "");
    return 0;
}

}  // namespace kecho::loader
