// CPU accounting over a run: system-wide busy time from /proc/stat (counts kernel workers and
// softirq, which a per-process figure misses) and the client's own time from getrusage.
#pragma once

#include <cstdint>

namespace kecho::bench {

struct CpuSample {
    std::uint64_t busy_ticks = 0;   // every CPU: user+nice+system+irq+softirq+steal
    std::uint64_t total_ticks = 0;  // ... + idle + iowait
    double self_seconds = 0;        // this process, user + system, every thread
    double self_user_seconds = 0;   // this process, user space only
};

CpuSample sample_cpu();

struct CpuUsage {
    double busy_percent = 0;         // of all CPUs, system-wide
    double busy_seconds = 0;         // CPU-seconds busy, system-wide
    double client_seconds = 0;       // CPU-seconds the bench itself used (its syscalls include the
                                     // loopback stack work done in its context)
    double client_user_seconds = 0;  // of which in user space: the bench's own code
};

CpuUsage cpu_between(const CpuSample& start, const CpuSample& end);

}  // namespace kecho::bench
