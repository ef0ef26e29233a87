#include "bench/cpu.h"

#include <sys/resource.h>
#include <unistd.h>

#include <fstream>
#include <sstream>
#include <string>

namespace kecho::bench {

CpuSample sample_cpu() {
    CpuSample s;
    std::ifstream stat("/proc/stat");
    std::string line;
    if (std::getline(stat, line) && line.rfind("cpu ", 0) == 0) {
        std::istringstream in(line.substr(4));
        std::uint64_t user = 0, nice = 0, system = 0, idle = 0, iowait = 0, irq = 0, softirq = 0, steal = 0;
        in >> user >> nice >> system >> idle >> iowait >> irq >> softirq >> steal;
        s.busy_ticks = user + nice + system + irq + softirq + steal;
        s.total_ticks = s.busy_ticks + idle + iowait;
    }
    rusage ru{};
    if (::getrusage(RUSAGE_SELF, &ru) == 0) {
        s.self_seconds = static_cast<double>(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
                         static_cast<double>(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
        s.self_user_seconds = static_cast<double>(ru.ru_utime.tv_sec) + static_cast<double>(ru.ru_utime.tv_usec) / 1e6;
    }
    return s;
}

CpuUsage cpu_between(const CpuSample& start, const CpuSample& end) {
    CpuUsage u;
    const double hz = static_cast<double>(::sysconf(_SC_CLK_TCK));
    const auto busy = static_cast<double>(end.busy_ticks - start.busy_ticks);
    const auto total = static_cast<double>(end.total_ticks - start.total_ticks);
    u.busy_percent = total > 0 ? 100.0 * busy / total : 0;
    u.busy_seconds = busy / hz;
    u.client_seconds = end.self_seconds - start.self_seconds;
    u.client_user_seconds = end.self_user_seconds - start.self_user_seconds;
    return u;
}

}  // namespace kecho::bench
