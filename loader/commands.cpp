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

// A counter of the BPF side (enum echo_counter), summed over CPUs; one of the loader's own (its
// threads' slots summed); the sockets in the map now.
template <int counter>
std::uint64_t bpf(const StatsSnapshot& s) {
    return s.bpf[counter];
}
template <__u64 echo_loader_stats::*counter>
std::uint64_t loader(const StatsSnapshot& s) {
    return s.loader.*counter;
}
std::uint64_t in_map(const StatsSnapshot& s) {
    return s.in_map;
}

// Every counter `stats` shows, in the order it shows them: its JSON object and key (group "" is the
// top level), its text line and label, and how it is read. Text and JSON both come from this list:
// a new counter is one row.
struct CounterRow {
    const char* group;
    const char* key;
    const char* line;
    const char* label;
    std::uint64_t (*read)(const StatsSnapshot& s);
    bool metered = false;  // counted by the sk_msg meter: "(meter off)" in the text without it
};
constexpr CounterRow counter_rows[] = {
    {"connections", "active", "connections", "active", loader<&echo_loader_stats::active>},
    {"connections", "in_map", "connections", "in map", in_map},
    {"connections", "accepted", "connections", "accepted", loader<&echo_loader_stats::accepted>},
    {"connections", "closed", "connections", "closed", loader<&echo_loader_stats::closed>},
    {"connections", "drain_checks", "connections", "drain checks", loader<&echo_loader_stats::drain_checks>},
    {"connections", "inserted_by_sockops", "inserted", "by sockops", bpf<ECHO_INSERTED>},
    {"connections", "inserted_by_loader", "inserted", "by the loader", loader<&echo_loader_stats::inserted_by_loader>},
    {"connections", "insert_failed", "inserted", "failed", bpf<ECHO_INSERT_FAILED>},
    {"connections", "echoed_in_user_space", "inserted", "echoed in user space", loader<&echo_loader_stats::fallback>},
    {"bytes", "received", "bytes", "received", bpf<ECHO_RX_BYTES>},
    {"bytes", "echoed", "bytes", "echoed", bpf<ECHO_ECHOED_BYTES>, true},
    {"bytes", "echoed_in_user_space", "bytes", "echoed in user space", loader<&echo_loader_stats::fallback_bytes>},
    {"bytes", "dropped_by_guard", "bytes", "dropped by the guard", bpf<ECHO_OVER_LIMIT_BYTES>},
    {"bytes", "retransmitted_not_echoed", "bytes", "retransmitted and not echoed again", bpf<ECHO_DUPLICATE_BYTES>},
    {"", "redirect_failures", "problems", "redirect failures", bpf<ECHO_REDIRECT_FAILED>},
    {"", "over_limit_drops", "problems", "over-limit drops", bpf<ECHO_OVER_LIMIT>},
    {"", "unplaced_resets", "problems", "unplaced bytes", bpf<ECHO_UNPLACED>},
    {"connections", "guard_resets", "problems", "guard resets", loader<&echo_loader_stats::guard_resets>},
    {"connections", "drain_timeouts", "problems", "drain timeouts", loader<&echo_loader_stats::drain_timeouts>},
    {"", "events_lost", "problems", "events lost", bpf<ECHO_EVENTS_LOST>},
};

// Runs and nanoseconds per run: counted by the kernel only while kernel.bpf_stats_enabled=1.
double ns_per_run(const StatsSnapshot::ProgramRuns& r) {
    return r.runs ? static_cast<double>(r.run_time_ns) / static_cast<double>(r.runs) : 0.0;
}

nlohmann::json program_runs(const StatsSnapshot::ProgramRuns& r) {
    return {{"runs", r.runs}, {"run_time_ns", r.run_time_ns}, {"ns_per_run", ns_per_run(r)}};
}

nlohmann::json stats_json(const InstanceState& state, const StatsSnapshot& s) {
    nlohmann::json j = {{"pid", state.pid}, {"address", state.address}, {"meter", state.meter}};
    for (const auto& row : counter_rows) (*row.group ? j[row.group][row.key] : j[row.key]) = row.read(s);
    j["programs"] = {{"echo_sockops", program_runs(s.sockops)},
                     {"echo_verdict", program_runs(s.verdict)},
                     {"echo_meter", program_runs(s.meter)}};
    return j;
}

void print_stats_text(const InstanceState& state, const StatsSnapshot& s) {
    std::printf("echo-loader pid %d on %s\n", static_cast<int>(state.pid), state.address.c_str());
    std::string line, text;  // the line being written, and its items
    for (const auto& row : counter_rows) {
        if (line != row.line) {
            if (!line.empty()) std::printf("  %-13s %s\n", line.c_str(), text.c_str());
            line = row.line;
            text.clear();
        }
        const std::string value = row.metered && !state.meter ? "(meter off)" : std::to_string(row.read(s));
        text += (text.empty() ? "" : ", ") + std::string(row.label) + " " + value;
    }
    std::printf("  %-13s %s\n", line.c_str(), text.c_str());
    if (s.verdict.runs > 0)
        std::printf("  bpf time      verdict %.0f ns x %llu, meter %.0f ns x %llu, sockops %.0f ns x %llu\n",
                    ns_per_run(s.verdict), static_cast<unsigned long long>(s.verdict.runs), ns_per_run(s.meter),
                    static_cast<unsigned long long>(s.meter.runs), ns_per_run(s.sockops),
                    static_cast<unsigned long long>(s.sockops.runs));
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
    // One SO_REUSEPORT listener per accept thread, the port checked first against any other listener.
    auto listeners = make_listener_group(address, static_cast<unsigned>(options.threads),
                                         {.backlog = options.backlog, .reuse_port = true, .nodelay = true});
    EchoServer server(std::move(listeners), maps, program.loader_stats(), server_settings);

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
        // The state file's JSON, with whether it is running (stale: its process ended uncleanly).
        nlohmann::json j = state ? instance_json(*state) : nlohmann::json::object();
        j["running"] = running;
        if (state) j["stale"] = !running;
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
