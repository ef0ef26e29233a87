// SPDX-License-Identifier: GPL-2.0-only
#include "bench/cpu.h"

#include <dirent.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>

namespace kecho::bench {
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

}  // namespace

CpuSample sample_cpu(bool with_tasks) {
    CpuSample s;
    if (with_tasks) s.tasks = read_tasks();
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
    if (::getrusage(RUSAGE_SELF, &ru) == 0) {
        s.self_seconds = static_cast<double>(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
                         static_cast<double>(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
        s.self_user_seconds = static_cast<double>(ru.ru_utime.tv_sec) + static_cast<double>(ru.ru_utime.tv_usec) / 1e6;
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

}  // namespace kecho::bench
