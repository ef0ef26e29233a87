// Test support: run one of our binaries as a child process, the way a user would.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <string>
#include <vector>

namespace kecho::test {

// Path of a binary built at the top of the build tree (./bench, ./user-echo-server, ...).
std::string binary(const std::string& name);

// The outcome of a finished command.
struct RunResult {
    int exit_code = -1;  // -1: killed by a signal or timed out
    bool timed_out = false;
    std::string out;
    std::string err;
};

// Runs argv[0] with argv to completion (killed after timeout), capturing stdout and stderr.
RunResult run(const std::vector<std::string>& argv, std::chrono::milliseconds timeout = std::chrono::seconds(60));

// A long-running child (a server). stdout+stderr go to a temporary log file. Killed (SIGKILL)
// and reaped on destruction if still running.
class Process {
public:
    explicit Process(const std::vector<std::string>& argv);
    Process(const Process&) = delete;
    Process& operator=(const Process&) = delete;
    ~Process();

    pid_t pid() const { return pid_; }
    // Waits until the output contains `text`; false on timeout or if the process exited first.
    bool wait_for_output(const std::string& text, std::chrono::milliseconds timeout = std::chrono::seconds(10));
    std::string output() const;
    // Sends `sig` and waits for exit (SIGKILL after timeout). Returns the exit code, or
    // 128+signal when killed by a signal.
    int stop(int sig = 15, std::chrono::milliseconds timeout = std::chrono::seconds(10));
    bool running();
    // Resident set size in bytes, from /proc/<pid>/status (0 when gone).
    long rss_bytes() const;
    // Number of open fds, from /proc/<pid>/fd.
    int open_fds() const;

private:
    pid_t pid_ = -1;
    int status_ = 0;
    bool reaped_ = false;
    std::string log_path_;
};

// True when tests must not skip for lack of a capability (CI: running as root, or
// KECHO_REQUIRE_ALL=1). Fixtures use KECHO_SKIP_UNLESS_REQUIRED.
bool skips_forbidden();

// A free TCP port on 127.0.0.1 (bound and released; good enough for tests that start at once).
int free_port();

}  // namespace kecho::test

// Skip with a reason, or fail when skips are forbidden (root/CI), so coverage never disappears.
#define KECHO_SKIP_UNLESS_REQUIRED(why)                                                           \
    do {                                                                                          \
        if (::kecho::test::skips_forbidden()) FAIL() << "required capability missing: " << (why); \
        GTEST_SKIP() << (why);                                                                    \
    } while (0)
