// SPDX-License-Identifier: GPL-2.0-only
// The command line as a user meets it: bad arguments, a busy port and a host without io_uring
// each give one clear line on stderr and the documented exit code.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <poll.h>
#include <sched.h>
#include <stddef.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>

#include "kecho/servers.h"
#include "server_fixture.h"

namespace kecho::test {
namespace {

using namespace std::chrono_literals;

RunResult run_server(std::vector<std::string> args) {
    args.insert(args.begin(), binary("user-echo-server"));
    return run(args, 10s);
}

std::string first_line(const std::string& text) {
    return text.substr(0, text.find('\n'));
}

// The engines of the server registry as user-echo-server lists them: in the registry's order, the
// busy-poll references last ("epoll, uring, splice or floor").
std::string engine_list() {
    std::vector<std::string> engines, references;
    for (const auto& s : servers)
        if (s.program == "user-echo-server")
            (s.role == ServerRole::reference ? references : engines).emplace_back(s.engine);
    engines.insert(engines.end(), references.begin(), references.end());
    std::string list;
    for (std::size_t i = 0; i < engines.size(); ++i)
        list += (i == 0 ? "" : i + 1 == engines.size() ? " or " : ", ") + engines[i];
    return list;
}

struct BadArguments {
    std::vector<std::string> args;
    std::string message;
};

TEST(UserServerCli, BadArgumentsExitTwoWithOneClearLine) {
    const std::vector<BadArguments> cases = {
        {{"--port", "0"}, "invalid port '0': expected a number from 1 to 65535"},
        {{"--port", "70000"}, "invalid port '70000'"},
        {{"--port", "http"}, "invalid port 'http'"},
        {{"--address", "1.2.3"}, "invalid address '1.2.3'"},
        {{"--address", "example.com"}, "invalid address 'example.com'"},
        {{"--engine", "poll"}, "--engine: unknown engine 'poll': expected " + engine_list()},
        {{"--engine", "busypoll"}, "unknown engine 'busypoll'"},  // the old name of floor
        {{"--engine", "1"}, "unknown engine '1'"},                // names only, not the enum's numbers
        {{"--threads", "0"}, "--threads: value 0 not in range 1 to 256"},
        {{"--threads", "257"}, "--threads: value 257 not in range 1 to 256"},
        {{"--threads", "many"}, "--threads: value many not in range 1 to 256"},
        {{"--cpus", "x"}, "--cpus: invalid CPU list 'x': expected CPU numbers and ranges like 0, 1-3 or 0,2"},
        {{"--cpus", "1-0"}, "--cpus: invalid CPU list '1-0': the range 1-0 ends below its start"},
        {{"--cpus", "1000"}, "--cpus: invalid CPU list '1000': CPU 1000 is not online"},
        {{"--max-buffer", "garbage"}, "invalid size 'garbage'"},
        {{"--max-buffer", "0"}, "must be at least 1 byte"},
        {{"--max-buffer", "4X"}, "unknown unit"},
        {{"--uring-features", "bogus"}, "--uring-features: unknown io_uring feature set 'bogus'"},
        {{"--uring-submit", "sometimes"}, "--uring-submit: unknown io_uring submission mode 'sometimes'"},
        {{"--no-such-option"}, "--no-such-option"},
    };
    for (const auto& c : cases) {
        RunResult result = run_server(c.args);
        std::string shown = c.args[0] + (c.args.size() > 1 ? " " + c.args[1] : "");
        EXPECT_EQ(result.exit_code, 2) << shown;
        EXPECT_EQ(result.out, "") << shown;
        std::string line = first_line(result.err);
        EXPECT_EQ(line.rfind("user-echo-server: ", 0), 0u) << shown << ": " << result.err;
        EXPECT_NE(line.find(c.message), std::string::npos) << shown << ": " << result.err;
    }
}

TEST(UserServerCli, HelpNamesEveryOptionAndWarnsAboutFloor) {
    RunResult result = run_server({"--help"});
    EXPECT_EQ(result.exit_code, 0);
    for (const char* option : {"--port", "--address", "--engine", "--threads", "--cpus", "--max-buffer", "--verbose"})
        EXPECT_NE(result.out.find(option), std::string::npos) << option;
    EXPECT_NE(result.out.find("NOT for production"), std::string::npos) << result.out;
    // Every engine of the server registry with its description, and their default ports (lowest first).
    std::map<std::uint16_t, std::string> ports;
    for (const auto& s : servers)
        if (s.program == "user-echo-server") {
            ports[s.port] = std::string(s.engine) + " " + std::to_string(s.port);
            EXPECT_NE(result.out.find(std::string(s.engine) + ": " + std::string(s.description)), std::string::npos)
                << s.engine << "\n"
                << result.out;
        }
    std::string defaults;
    for (const auto& [port, text] : ports) defaults += (defaults.empty() ? "" : ", ") + text;
    EXPECT_NE(result.out.find("(default by engine: " + defaults + ")"), std::string::npos) << result.out;
    EXPECT_NE(result.out.find("ENGINE:" + engine_list()), std::string::npos) << result.out;
    EXPECT_EQ(result.out.find("busypoll"), std::string::npos) << "one name for the floor engine\n" << result.out;
}

// The CPUs each thread of a process may run on, from /proc/<pid>/task/*/status.
std::vector<std::string> thread_cpu_lists(pid_t pid) {
    std::vector<std::string> lists;
    std::string task_dir = "/proc/" + std::to_string(pid) + "/task";
    for (const auto& task : std::filesystem::directory_iterator(task_dir)) {
        std::ifstream status(task.path() / "status");
        std::string line;
        while (std::getline(status, line))
            if (line.rfind("Cpus_allowed_list:", 0) == 0)
                lists.push_back(line.substr(line.find_first_not_of(" \t", 18)));
    }
    return lists;
}

// --cpus: every event-loop thread runs only on the CPU it was given.
TEST(UserServerCli, CpusPinsEachLoopThread) {
    cpu_set_t allowed;
    ASSERT_EQ(::sched_getaffinity(0, sizeof(allowed), &allowed), 0);
    int cpu = CPU_SETSIZE - 1;
    while (cpu > 0 && !CPU_ISSET(cpu, &allowed)) --cpu;
    for (const auto& engine : engine_cases()) {
        EchoServer server(engine.engine, {"--threads", "2", "--cpus", std::to_string(cpu)});
        ASSERT_TRUE(server.ok()) << engine.engine << ": " << server.output();
        std::vector<std::string> lists = thread_cpu_lists(server.process().pid());
        EXPECT_GE(std::count(lists.begin(), lists.end(), std::to_string(cpu)), 2)
            << engine.engine << ": two loop threads pinned to CPU " << cpu;
    }
}

class BusyPort : public ::testing::TestWithParam<EngineCase> {};

// A port in use (by anyone, including another user-echo-server with SO_REUSEPORT listeners)
// is an error, never a second server sharing it.
TEST_P(BusyPort, ExitsTwoNamingTheAddress) {
    for (std::string threads : {"1", "2"}) {
        EchoServer first(GetParam().engine, {"--threads", threads});
        ASSERT_TRUE(first.ok()) << first.output();
        for (std::string second_threads : {"1", "2"}) {
            RunResult result = run_server({"--engine", GetParam().engine, "--address", "127.0.0.1", "--port",
                                           std::to_string(first.port()), "--threads", second_threads});
            EXPECT_EQ(result.exit_code, 2) << threads << " vs " << second_threads << ": " << result.out << result.err;
            EXPECT_EQ(result.out, "");
            EXPECT_EQ(first_line(result.err),
                      "user-echo-server: cannot listen on 127.0.0.1:" + std::to_string(first.port()) +
                          ": address already in use (another server running? pick another --port)");
        }
    }
}

INSTANTIATE_TEST_SUITE_P(Engines, BusyPort, ::testing::ValuesIn(engine_cases()),
                         [](const auto& info) { return engine_case_name(info.param); });

// Runs the server with io_uring_setup failing with `err` (a seccomp filter, as containers and
// hardened hosts install); returns what a terminal would show (stdout then stderr, in `err`) and the
// exit code.
RunResult run_without_io_uring(const std::vector<std::string>& args, int err) {
    std::vector<std::string> argv = {binary("user-echo-server")};
    argv.insert(argv.end(), args.begin(), args.end());
    RunResult result = run_with_failing_syscall(argv, __NR_io_uring_setup, err, 10s);
    result.err = result.out + result.err;
    return result;
}

TEST(UserServerCli, MissingIoUringIsAClearError) {
    int port = free_port();
    std::vector<std::string> args = {"--engine", "uring", "--address", "127.0.0.1", "--port", std::to_string(port)};
    for (int err : {ENOSYS, EPERM}) {
        RunResult result = run_without_io_uring(args, err);
        EXPECT_EQ(result.exit_code, 1) << result.err;
        EXPECT_EQ(result.err.rfind("user-echo-server: io_uring is ", 0), 0u) << result.err;
        EXPECT_NE(result.err.find("use --engine epoll"), std::string::npos) << result.err;
        EXPECT_EQ(result.err.find("echoing on"), std::string::npos) << result.err;
        EXPECT_EQ(std::count(result.err.begin(), result.err.end(), '\n'), 1) << result.err;
    }
}

}  // namespace
}  // namespace kecho::test
