// SPDX-License-Identifier: GPL-2.0-only
// Test support: run one of our binaries as a child process, the way a user would.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <functional>
#include <memory>
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

// The one fork/exec of the tests: starts argv[0] with argv, stdin from /dev/null, stdout and stderr
// on the given descriptors; `in_child` (optional) runs in the child just before exec.
pid_t spawn(const std::vector<std::string>& argv, int out_fd, int err_fd, const std::function<void()>& in_child = {});

// Runs argv[0] with argv to completion (killed after timeout), capturing stdout and stderr.
RunResult run(const std::vector<std::string>& argv, std::chrono::milliseconds timeout = std::chrono::seconds(60),
              const std::function<void()>& in_child = {});

// run() with system call `syscall_nr` failing with `err` in the child (a seccomp filter): what a
// container, a hardened host or a kernel without the feature does to the program.
RunResult run_with_failing_syscall(const std::vector<std::string>& argv, long syscall_nr, int err,
                                   std::chrono::milliseconds timeout = std::chrono::seconds(60));

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

private:
    pid_t pid_ = -1;
    int status_ = 0;
    bool reaped_ = false;
    std::string log_path_;
};

// A server started for a test on a free loopback port: its ready line awaited, stopped (SIGTERM,
// then SIGKILL) on destruction. A port another test takes between free_port() and the server's
// bind fails the start: up to 3 ports are tried.
class ServerProcess {
public:
    using Command = std::function<std::vector<std::string>(int port)>;
    using ReadyLine = std::function<std::string(int port)>;
    ServerProcess(const Command& command, const ReadyLine& ready_line,
                  std::chrono::milliseconds timeout = std::chrono::seconds(10));
    ServerProcess(const ServerProcess&) = delete;
    ServerProcess& operator=(const ServerProcess&) = delete;
    ~ServerProcess();

    bool ready() const { return ready_; }
    int port() const { return port_; }
    Process& process() { return *process_; }
    std::string output() const { return process_->output(); }

private:
    int port_ = 0;
    bool ready_ = false;
    std::unique_ptr<Process> process_;
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
