// SPDX-License-Identifier: GPL-2.0-only
// pingpong and stream: the load, its open-loop timetable and the CPU accounting around it.
#include <dirent.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <sstream>
#include <thread>

#include "bench/workloads.h"

namespace kecho::bench {
// A named namespace, not an anonymous one: CpuMeter::Start (external linkage) holds a CpuSample.
namespace cpu_ticks {

// CPU ticks (USER_HZ) of every task at one instant.
struct TaskTicks {
    std::uint64_t own = 0;       // utime + stime of the process (all its threads)
    std::uint64_t children = 0;  // cutime + cstime: reaped children
    bool kernel_thread = false;  // PF_KTHREAD
};

struct CpuSample {
    std::uint64_t busy_ticks = 0;     // every CPU: user+nice+system+irq+softirq+steal
    std::uint64_t total_ticks = 0;    // ... + idle + iowait
    std::uint64_t softirq_ticks = 0;  // of busy: softirq
    std::uint64_t steal_ticks = 0;    // of busy: stolen by the hypervisor (no task's time)
    double self_seconds = 0;          // this process, user + system, every thread
    double self_user_seconds = 0;     // this process, user space only
    std::map<int, TaskTicks> tasks;   // every process
};

}  // namespace cpu_ticks
using cpu_ticks::CpuSample;
using cpu_ticks::TaskTicks;

namespace {

constexpr unsigned long kPfKthread = 0x00200000;  // include/linux/sched.h

// /proc/<pid>/stat: "pid (comm) state ppid ... flags(9) ... utime(14) stime(15) cutime(16) cstime(17)".
bool read_task(int pid, TaskTicks& out) {
    std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
    std::string line;
    if (!std::getline(in, line)) return false;
    auto paren = line.rfind(')');
    if (paren == std::string::npos) return false;
    std::istringstream fields(line.substr(paren + 2));
    std::string value;
    std::vector<std::string> f;  // f[0] = field 3 (state)
    while (f.size() < 15 && fields >> value) f.push_back(value);
    if (f.size() < 15) return false;
    auto num = [&](int field) { return std::strtoull(f[static_cast<std::size_t>(field - 3)].c_str(), nullptr, 10); };
    out.kernel_thread = (num(9) & kPfKthread) != 0;
    out.own = num(14) + num(15);
    out.children = num(16) + num(17);
    return true;
}

std::map<int, TaskTicks> read_tasks() {
    std::map<int, TaskTicks> tasks;
    std::unique_ptr<DIR, int (*)(DIR*)> dir(::opendir("/proc"), ::closedir);
    if (!dir) return tasks;
    while (dirent* e = ::readdir(dir.get())) {
        if (!std::isdigit(static_cast<unsigned char>(e->d_name[0]))) continue;
        int pid = std::atoi(e->d_name);
        TaskTicks t;
        if (read_task(pid, t)) tasks[pid] = t;
    }
    return tasks;
}

double ticks_to_seconds(double ticks) {
    return ticks / static_cast<double>(::sysconf(_SC_CLK_TCK));
}

// Splits every task's time over the interval into classes. Time of processes that ended in the
// interval is found in their parent's children counters (when the parent reaped them).
void attribute(const CpuSample& start, const CpuSample& end, const std::vector<int>& server_pids, CpuUsage& u) {
    double total = 0, servers = 0, kthreads = 0, self = 0;
    auto delta = [&](int pid, const TaskTicks& now) {
        auto before = start.tasks.find(pid);
        std::uint64_t own0 = before == start.tasks.end() ? 0 : before->second.own;
        std::uint64_t kids0 = before == start.tasks.end() ? 0 : before->second.children;
        return std::pair{static_cast<double>(now.own - std::min(now.own, own0)),
                         static_cast<double>(now.children - std::min(now.children, kids0))};
    };
    // Processes gone at the end: what they had at the start (their own and their reaped children's
    // time) is inside their parent's children counter at the end, already counted.
    double vanished = 0;
    for (const auto& [pid, t] : start.tasks)
        if (!end.tasks.count(pid)) vanished += static_cast<double>(t.own + t.children);
    for (const auto& [pid, t] : end.tasks) {
        auto [own, kids] = delta(pid, t);
        total += own + kids;
        if (t.kernel_thread)
            kthreads += own;
        else if (std::find(server_pids.begin(), server_pids.end(), pid) != server_pids.end())
            servers += own + kids;
        else if (pid == ::getpid())
            self += own;
    }
    total = std::max(0.0, total - vanished);
    u.tasks_seconds = ticks_to_seconds(total);
    u.server_seconds = ticks_to_seconds(servers);
    u.kernel_thread_seconds = ticks_to_seconds(kthreads);
    u.other_seconds = std::max(0.0, ticks_to_seconds(total - servers - kthreads - self));
}

// Reads /proc/stat, this process's usage and every task's /proc/<pid>/stat (a few ms).
CpuSample sample_cpu() {
    CpuSample s;
    s.tasks = read_tasks();
    std::ifstream stat("/proc/stat");
    std::string line;
    if (std::getline(stat, line) && line.rfind("cpu ", 0) == 0) {
        std::istringstream in(line.substr(4));
        std::uint64_t user = 0, nice = 0, system = 0, idle = 0, iowait = 0, irq = 0, softirq = 0, steal = 0;
        in >> user >> nice >> system >> idle >> iowait >> irq >> softirq >> steal;
        s.busy_ticks = user + nice + system + irq + softirq + steal;
        s.total_ticks = s.busy_ticks + idle + iowait;
        s.softirq_ticks = softirq;
        s.steal_ticks = steal;
    }
    rusage ru{};
    auto seconds = [](const timeval& t) {
        return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_usec) / 1e6;
    };
    if (::getrusage(RUSAGE_SELF, &ru) == 0) {
        s.self_user_seconds = seconds(ru.ru_utime);
        s.self_seconds = s.self_user_seconds + seconds(ru.ru_stime);
    }
    return s;
}

CpuUsage cpu_between(const CpuSample& start, const CpuSample& end, const std::vector<int>& server_pids) {
    CpuUsage u;
    const auto busy = static_cast<double>(end.busy_ticks - start.busy_ticks);
    const auto total = static_cast<double>(end.total_ticks - start.total_ticks);
    u.busy_percent = total > 0 ? 100.0 * busy / total : 0;
    u.busy_seconds = ticks_to_seconds(busy);
    u.softirq_seconds = ticks_to_seconds(static_cast<double>(end.softirq_ticks - start.softirq_ticks));
    u.steal_seconds = ticks_to_seconds(static_cast<double>(end.steal_ticks - start.steal_ticks));
    u.client_seconds = end.self_seconds - start.self_seconds;
    u.client_user_seconds = end.self_user_seconds - start.self_user_seconds;
    if (!start.tasks.empty() && !end.tasks.empty()) attribute(start, end, server_pids, u);
    return u;
}

}  // namespace

struct CpuMeter::Start {
    CpuSample sample;
};

CpuMeter::CpuMeter(std::vector<int> server_pids)
    : start_(std::make_unique<Start>(Start{sample_cpu()})), server_pids_(std::move(server_pids)) {}

CpuMeter::~CpuMeter() = default;

CpuUsage CpuMeter::read() const {
    return cpu_between(start_->sample, sample_cpu(), server_pids_);
}

Metrics cpu_metrics(const CpuUsage& cpu, double seconds, double units, const std::string& unit) {
    auto per_unit = [&](double s) { return units > 0 ? s * 1e6 / units : NAN; };
    const std::string per = "_per_" + unit;
    // Interference: the share of the machine that processes other than the client and the servers
    // (and kernel threads) used while this run was measured.
    const double cpu_seconds = seconds * static_cast<double>(::sysconf(_SC_NPROCESSORS_ONLN));
    return {{"cpu_busy_percent", cpu.busy_percent},
            {"server_cpu_percent", seconds > 0 ? 100.0 * cpu.server_seconds / seconds : 0.0},
            {"other_cpu_percent", cpu_seconds > 0 ? 100.0 * cpu.other_seconds / cpu_seconds : 0.0},
            {"cpu_us" + per, per_unit(cpu.busy_seconds)},
            {"client_cpu_us" + per, per_unit(cpu.client_seconds)},
            {"client_user_us" + per, per_unit(cpu.client_user_seconds)},
            {"server_cpu_us" + per, per_unit(cpu.server_seconds)},
            {"kernel_thread_us" + per, per_unit(cpu.kernel_thread_seconds)},
            {"other_cpu_us" + per, per_unit(cpu.other_seconds)},
            {"softirq_us" + per, per_unit(cpu.softirq_seconds)},
            // every task's time: checks the split against the machine's
            {"cpu_tasks_seconds", cpu.tasks_seconds},
            {"cpu_busy_seconds", cpu.busy_seconds - cpu.steal_seconds},
            {"work_units", units}};
}

void add_latency_metrics(Metrics& metrics, const LatencyHistogram& latency_ns) {
    for (auto [key, p] : {std::pair{"p50_us", 50.0}, {"p90_us", 90.0}, {"p99_us", 99.0}, {"p999_us", 99.9}})
        metrics[key] = static_cast<double>(latency_ns.percentile(p)) * 1e-3;
    metrics["max_us"] = static_cast<double>(latency_ns.max()) * 1e-3;
}

namespace {

// What every client thread shares: the phase flags, the tallies and the errors.
struct Shared {
    std::atomic<bool> measuring{false}, stopping{false};
    Clock::time_point start = Clock::now();  // the open loop's timetable starts here
    std::mutex mutex;
    LoadResult& result;

    void add(const Tally& t) {
        std::lock_guard lock(mutex);
        result.tally.merge(t);
    }
};

// One thread, one connection, blocking calls: one send and one recv per request, no epoll_wait.
void blocking_client(UniqueFd fd, std::uint32_t id, std::size_t size, Shared& shared) {
    Tally tally;
    try {
        BlockingConnection c(std::move(fd), id, std::chrono::milliseconds(200));
        c.keep_waiting([&] { return !shared.stopping.load(); });  // wake up to notice the end of the run
        while (!shared.stopping.load(std::memory_order_relaxed)) {
            const auto start = Clock::now();
            if (!c.send(size) || !c.expect(size)) break;
            if (!shared.measuring.load(std::memory_order_relaxed)) continue;
            tally.latency_ns.record(static_cast<std::uint64_t>(
                std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() - start).count()));
            ++tally.messages;
            tally.bytes_sent += size;
            tally.bytes_received += size;
        }
    } catch (const Error& e) {
        shared.result.errors.add("connection " + std::to_string(id) + ": " + e.what());
    }
    shared.add(tally);
}

// One epoll thread driving its share of the connections until the run stops.
using Shard = std::vector<std::pair<std::uint32_t, UniqueFd>>;  // connection ids and sockets

void epoll_client(const SocketAddress& address, Shard conns, const LoadOptions& options, Shared& shared) {
    DriverOptions o;
    o.measuring = &shared.measuring;
    std::vector<Timetable> timetables;  // open loop: one per connection, in the driver's order
    if (options.rate > 0) {
        for (const auto& conn : conns)
            timetables.emplace_back(options.rate, options.connections, conn.first - 1, shared.start);
        o.send_at = [&timetables](std::size_t index, std::uint64_t message) { return timetables[index].due(message); };
    }
    Driver driver(address, o);
    Plan plan;
    plan.bytes = unbounded;
    plan.message = options.size;
    plan.in_flight = options.in_flight;
    for (auto& [id, fd] : conns) {
        plan.id = id;
        driver.adopt(plan, std::move(fd));
    }
    driver.run(Clock::time_point::max(), [&] { return shared.stopping.load(std::memory_order_relaxed); });
    for (const auto& out : driver.outcomes())
        if (!out.error.empty()) shared.result.errors.add(out.error);
    shared.add(driver.tally());
}

unsigned epoll_threads(const LoadOptions& options) {
    // At least 4 even on 2 cores: measured against the spinning floor server on a shared 2-core
    // host, 2 workers reached about half the rate of a thread-per-connection client at 64
    // connections, 4 workers beat it (a worker that is descheduled stalls all its connections).
    unsigned n = options.workers;
    if (n == 0) n = std::min({std::max(4u, std::thread::hardware_concurrency()), 16u, options.connections});
    return std::min(n, options.connections);
}

std::vector<SmallThread> start_clients(const SocketAddress& address, const LoadOptions& options, Shared& shared) {
    std::vector<UniqueFd> fds;
    for (std::uint32_t i = 0; i < options.connections; ++i) {
        try {
            fds.push_back(connect_to(address));
        } catch (const Error& e) {
            throw Error("cannot open connection " + std::to_string(i + 1) + " of " +
                        std::to_string(options.connections) + ": " + e.what());
        }
        set_nodelay(fds.back().get());
        set_nonblocking(fds.back().get());
    }
    shared.start = Clock::now();  // every connection is open: the timetable starts now
    std::vector<SmallThread> threads;
    if (options.engine == ClientEngine::blocking) {
        for (std::uint32_t i = 0; i < options.connections; ++i)
            threads.emplace_back([&, i, fd = std::make_shared<UniqueFd>(std::move(fds[i]))] {
                blocking_client(std::move(*fd), i + 1, options.size, shared);
            });
        return threads;
    }
    const unsigned n = epoll_threads(options);
    std::vector<Shard> shards(n);
    for (std::uint32_t i = 0; i < options.connections; ++i) shards[i % n].emplace_back(i + 1, std::move(fds[i]));
    for (auto& shard : shards)
        threads.emplace_back([&, conns = std::make_shared<Shard>(
                                     std::move(shard))] { epoll_client(address, std::move(*conns), options, shared); },
                             1 << 20);
    return threads;
}

}  // namespace

void run_load(const SocketAddress& address, const LoadOptions& options, LoadResult& result,
              const std::function<void(double)>& progress) {
    Shared shared{.result = result};
    std::vector<SmallThread> threads = start_clients(address, options, shared);
    const auto start = Clock::now();
    const auto total = options.warmup + options.duration;
    auto sleep_until = [&](double at) {
        for (double elapsed = seconds_since(start); elapsed < at; elapsed = seconds_since(start)) {
            if (progress) progress(elapsed / total);
            std::this_thread::sleep_for(std::chrono::duration<double>(std::min(0.2, at - elapsed)));
        }
    };
    sleep_until(options.warmup);
    const CpuMeter cpu(options.server_pids);
    const auto measure_start = Clock::now();
    shared.measuring.store(true);
    sleep_until(total);
    shared.measuring.store(false);
    shared.stopping.store(true);
    result.seconds = seconds_since(measure_start);
    result.cpu = cpu.read();
    for (auto& t : threads) t.join();
    if (progress) progress(1.0);
    result.workers = options.engine == ClientEngine::blocking ? options.connections : epoll_threads(options);
}

Timetable::Timetable(double rate, std::uint32_t connections, std::uint32_t index, Clock::time_point start)
    : interval_s_(static_cast<double>(connections) / rate),
      offset_s_(static_cast<double>(index) / rate),
      start_(start) {}

Clock::time_point Timetable::due(std::uint64_t k) const {
    const double at = offset_s_ + static_cast<double>(k) * interval_s_;
    return start_ + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(at));
}

std::string RateCheck::describe() const {
    char text[160];
    if (kept)
        std::snprintf(text, sizeof(text), "kept %.0f req/s (%.0f achieved)", target, achieved);
    else
        std::snprintf(text, sizeof(text), "could not keep %.0f req/s: %.0f achieved (%.0f%%)", target, achieved,
                      target > 0 ? 100 * achieved / target : 0);
    return text;
}

RateCheck check_rate(double target, std::uint64_t completed, double seconds) {
    RateCheck r;
    r.target = target;
    r.achieved = seconds > 0 ? static_cast<double>(completed) / seconds : 0;
    r.kept = r.achieved >= 0.95 * target;
    return r;
}

}  // namespace kecho::bench
