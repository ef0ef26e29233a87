// SPDX-License-Identifier: GPL-2.0-only
// CPU accounting over a run: system-wide busy time from /proc/stat, the client's own time from
// getrusage, and where the rest went: the servers' processes, kernel threads (kworkers running the
// in-kernel echo's egress, ksoftirqd) and every other process, read from /proc/<pid>/stat.
//
// With tick accounting (CONFIG_TICK_CPU_ACCOUNTING, no IRQ_TIME_ACCOUNTING: Debian's kernels), a
// softirq is charged to the task it interrupted: on loopback the receive path of a message runs in
// the sender's context, so it lands in the client or the server, and the kernel-thread share is
// what ran deferred (kworkers, ksoftirqd). softirq_seconds (from /proc/stat) says how much of all
// the time was softirq, wherever it was charged.
#pragma once

#include <cstdint>
#include <map>
#include <vector>

namespace kecho::bench {

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
    std::map<int, TaskTicks> tasks;   // every process (only when sampled with tasks)
};

// Reads /proc/stat and this process's usage; with_tasks also scans /proc/<pid>/stat (a few ms).
CpuSample sample_cpu(bool with_tasks = false);

struct CpuUsage {
    double busy_percent = 0;         // of all CPUs, system-wide
    double busy_seconds = 0;         // CPU-seconds busy, system-wide
    double client_seconds = 0;       // CPU-seconds the bench itself used (its syscalls include the
                                     // loopback stack work done in its context)
    double client_user_seconds = 0;  // of which in user space: the bench's own code
    // Attribution (with task samples): these add up to tasks_seconds.
    double server_seconds = 0;         // the given server processes
    double kernel_thread_seconds = 0;  // kworkers, ksoftirqd, ...: kernel work outside both
    double other_seconds = 0;          // every other process (other users of the machine)
    double tasks_seconds = 0;          // every task's time, measured independently of busy_seconds
    double softirq_seconds = 0;        // /proc/stat softirq (already inside the above)
    double steal_seconds = 0;
};

// server_pids: the processes to count as servers (their threads included).
CpuUsage cpu_between(const CpuSample& start, const CpuSample& end, const std::vector<int>& server_pids = {});

}  // namespace kecho::bench
