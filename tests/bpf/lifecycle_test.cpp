// SPDX-License-Identifier: GPL-2.0-only
// What a user does around the echo: status, stats, detach, SIGTERM and SIGKILL, and every error a
// user can meet (each one clear line, the right exit code, nothing left behind).
#include <bpf/bpf.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <thread>

#include "bpf_objects.h"
#include "kecho/error.h"
#include "loader_fixture.h"

namespace kecho::bpftest {
namespace {

class Lifecycle : public BpfTest {};
class Errors : public BpfTest {};

using std::chrono::milliseconds;
using std::chrono::seconds;

std::set<std::uint32_t> echo_object_ids() {
    std::set<std::uint32_t> ids;
    for (const auto& o : loader::list_bpf_objects("echo_")) ids.insert(o.id * 2 + (o.kind == "map"));
    return ids;
}

// True once nothing of `ids` exists any more (the kernel frees programs and maps after an RCU
// grace period, so allow up to 5 s).
bool all_gone(const loader::ObjectIds& ids) {
    auto deadline = std::chrono::steady_clock::now() + seconds(5);
    while (std::chrono::steady_clock::now() < deadline) {
        bool any = false;
        for (const auto& field : loader::object_fields) any = any || loader::object_exists(field.kind, ids.*field.id);
        if (!any) return true;
        std::this_thread::sleep_for(milliseconds(50));
    }
    return false;
}

// Programs attached to a cgroup for sockops (0 when nothing is attached).
std::uint32_t sockops_attached(const std::string& cgroup) {
    UniqueFd fd(::open(cgroup.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!fd) return 0;
    std::uint32_t ids[16] = {};
    std::uint32_t count = 16;
    if (bpf_prog_query(fd.get(), BPF_CGROUP_SOCK_OPS, 0, nullptr, ids, &count) != 0) return 0;
    return count;
}

bool exists(const std::string& path) {
    return ::access(path.c_str(), F_OK) == 0;
}

std::size_t count_lines(const std::string& text) {
    std::size_t n = 0;
    for (char c : text) n += c == '\n';
    return n;
}

TEST_F(Lifecycle, StatusReportsPortCgroupAndIds) {
    Loader loader;
    ASSERT_TRUE(loader.ready()) << loader.output();
    auto r = loader.run({"status"});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    EXPECT_NE(r.out.find("echo-loader is running: pid " + std::to_string(loader.process().pid())), std::string::npos)
        << r.out;
    EXPECT_NE(r.out.find("127.0.0.1:" + std::to_string(loader.port())), std::string::npos) << r.out;
    EXPECT_NE(r.out.find(loader.cgroup()), std::string::npos) << r.out;

    auto j = nlohmann::json::parse(loader.run({"status", "--json"}).out);
    EXPECT_TRUE(j["running"].get<bool>());
    EXPECT_EQ(j["port"], loader.port());
    // The ids are those of live programs with the expected names.
    for (const char* name : {"echo_sockops", "echo_verdict", "echo_meter"}) {
        std::uint32_t id = j["programs"][name].get<std::uint32_t>();
        UniqueFd fd(bpf_prog_get_fd_by_id(id));
        ASSERT_TRUE(fd.valid()) << name << " id " << id;
        bpf_prog_info info{};
        std::uint32_t len = sizeof(info);
        ASSERT_EQ(bpf_obj_get_info_by_fd(fd.get(), &info, &len), 0);
        EXPECT_EQ(std::string(info.name), name);
    }
    EXPECT_EQ(sockops_attached(loader.cgroup()), 1u);
    // The loader runs in its cgroup.
    std::ifstream cg("/proc/" + std::to_string(loader.process().pid()) + "/cgroup");
    std::stringstream text;
    text << cg.rdbuf();
    EXPECT_NE(text.str().find("0::" + loader.cgroup().substr(cgroup2_root().size())), std::string::npos) << text.str();
}

TEST_F(Lifecycle, StatsJsonCountsTheTraffic) {
    Loader loader;
    ASSERT_TRUE(loader.ready()) << loader.output();
    for (int i = 0; i < 5; ++i) {
        std::string data = random_bytes(1000, static_cast<unsigned>(i));
        auto r = echo_once(loader.address(), data, true);
        ASSERT_TRUE(r.bytes == data && r.eof);
    }
    nlohmann::json j;
    auto deadline = std::chrono::steady_clock::now() + seconds(5);
    do {  // the loader closes each connection once it is drained
        auto r = loader.run({"stats", "--json"});
        ASSERT_EQ(r.exit_code, 0) << r.err;
        j = nlohmann::json::parse(r.out);
    } while (j["connections"]["closed"] != 5 && std::chrono::steady_clock::now() < deadline);
    EXPECT_EQ(j["connections"]["accepted"], 5);
    EXPECT_EQ(j["connections"]["closed"], 5);
    EXPECT_EQ(j["connections"]["active"], 0);
    EXPECT_EQ(j["connections"]["in_map"], 0);
    EXPECT_EQ(j["connections"]["inserted_by_sockops"], 5);
    EXPECT_EQ(j["bytes"]["received"], 5000);
    EXPECT_EQ(j["bytes"]["echoed"], 5000);
    EXPECT_EQ(j["redirect_failures"], 0);
    EXPECT_EQ(j["pid"], loader.process().pid());
    for (const char* name : {"echo_sockops", "echo_verdict", "echo_meter"})
        EXPECT_TRUE(j["programs"][name].contains("ns_per_run")) << j.dump();

    auto text = loader.run({"stats"});
    EXPECT_EQ(text.exit_code, 0);
    EXPECT_NE(text.out.find("received 5000, echoed 5000"), std::string::npos) << text.out;

    auto watch = loader.run({"stats", "--json", "--watch", "0.1", "--count", "3"}, seconds(10));
    EXPECT_EQ(watch.exit_code, 0) << watch.err;
    EXPECT_EQ(count_lines(watch.out), 3u) << watch.out;
    std::istringstream lines(watch.out);
    std::string line;
    while (std::getline(lines, line)) EXPECT_TRUE(nlohmann::json::parse(line).contains("rates")) << line;
}

TEST_F(Lifecycle, DetachStopsItAndConfirmsNothingIsLeft) {
    Loader loader;
    ASSERT_TRUE(loader.ready()) << loader.output();
    auto ids = loader.state().ids;
    UniqueFd held = connect_to(loader.address());
    auto r = loader.run({"detach"});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    EXPECT_NE(r.out.find("detached: echo-loader (pid " + std::to_string(loader.process().pid()) + ") stopped"),
              std::string::npos)
        << r.out;
    EXPECT_EQ(loader.process().stop(SIGTERM, seconds(5)), 0) << loader.output();
    EXPECT_TRUE(all_gone(ids));
    EXPECT_FALSE(exists(loader.cgroup()));
    EXPECT_FALSE(exists(loader.run_dir() + "/state.json"));
    EXPECT_EQ(loader.run({"status"}).exit_code, 3);
    auto again = loader.run({"detach"});
    EXPECT_EQ(again.exit_code, 0);
    EXPECT_NE(again.out.find("nothing to detach"), std::string::npos) << again.out;
}

TEST_F(Lifecycle, SigtermLeavesNothingAttached) {
    Loader loader;
    ASSERT_TRUE(loader.ready()) << loader.output();
    auto ids = loader.state().ids;
    std::vector<UniqueFd> held;
    for (int i = 0; i < 20; ++i) held.push_back(connect_to(loader.address()));
    std::this_thread::sleep_for(milliseconds(100));
    EXPECT_EQ(loader.process().stop(SIGTERM, seconds(10)), 0) << loader.output();
    EXPECT_TRUE(all_gone(ids));
    EXPECT_FALSE(exists(loader.cgroup()));
    // The held connections were closed by the loader.
    char c;
    EXPECT_LE(::recv(held[0].get(), &c, 1, 0), 0);
}

TEST_F(Lifecycle, CtrlCStopsItCleanly) {
    Loader loader;
    ASSERT_TRUE(loader.ready()) << loader.output();
    auto ids = loader.state().ids;
    EXPECT_EQ(loader.process().stop(SIGINT, seconds(10)), 0) << loader.output();
    EXPECT_TRUE(all_gone(ids));
    EXPECT_FALSE(exists(loader.cgroup()));
}

TEST_F(Lifecycle, LibbpfDebugLinesOnlyWithVerbose) {
    {
        Loader quiet;
        ASSERT_TRUE(quiet.ready()) << quiet.output();
        EXPECT_EQ(quiet.output().find("libbpf:"), std::string::npos) << quiet.output();
    }
    Loader verbose({"--verbose"});
    ASSERT_TRUE(verbose.ready()) << verbose.output();
    EXPECT_NE(verbose.output().find("libbpf: "), std::string::npos) << verbose.output();
}

TEST_F(Lifecycle, SigkillLeavesNoProgramOrMapAndANewAttachWorks) {
    auto before = echo_object_ids();
    auto cmd = fresh_loader_command();
    loader::ObjectIds ids;
    {
        test::Process first(cmd.attach_argv());
        ASSERT_TRUE(first.wait_for_output("echoing on")) << first.output();
        auto state = loader::read_instance_state(cmd.run_dir);
        ASSERT_TRUE(state);
        ids = state->ids;
        auto to = parse_address("127.0.0.1", static_cast<std::uint16_t>(cmd.port));
        std::vector<UniqueFd> held;
        for (int i = 0; i < 10; ++i) held.push_back(connect_to(to));
        std::string data = random_bytes(50000, 9);
        ASSERT_TRUE(echo_once(to, data).bytes == data);
        EXPECT_EQ(first.stop(SIGKILL), 128 + SIGKILL);
    }
    // Checked through libbpf's id iteration: none of its programs or maps remain, and no echo_*
    // object exists that did not exist before.
    EXPECT_TRUE(all_gone(ids));
    auto after = echo_object_ids();
    for (auto id : after) EXPECT_TRUE(before.count(id)) << "an echo_* object (id " << id / 2 << ") remains";
    EXPECT_EQ(sockops_attached(cmd.cgroup), 0u);

    test::RunResult status = test::run({test::binary("echo-loader"), "--run-dir", cmd.run_dir, "status"});
    EXPECT_EQ(status.exit_code, 3);
    EXPECT_NE(status.out.find("ended without cleaning up"), std::string::npos) << status.out;

    // Same port, same cgroup, same runtime directory: a new attach works and echoes.
    test::Process second(cmd.attach_argv());
    ASSERT_TRUE(second.wait_for_output("echoing on")) << second.output();
    std::string data = random_bytes(300000, 11);
    auto r = echo_once(parse_address("127.0.0.1", static_cast<std::uint16_t>(cmd.port)), data, true);
    EXPECT_TRUE(r.bytes == data && r.eof);
    auto detach = test::run({test::binary("echo-loader"), "--run-dir", cmd.run_dir, "detach"});
    EXPECT_EQ(detach.exit_code, 0) << detach.err;
    EXPECT_EQ(second.stop(SIGTERM, seconds(5)), 0);
    EXPECT_FALSE(exists(cmd.cgroup));
}

TEST_F(Lifecycle, DefaultCgroupIsKechoBpfUnderTheV2Root) {
    auto cmd = fresh_loader_command();
    std::string expected = cgroup2_root() + "/kecho-bpf";
    // Another instance already running there (a developer's) keeps the directory busy.
    std::ifstream procs(expected + "/cgroup.procs");
    std::string other_pid;
    bool shared = procs && (procs >> other_pid);
    test::Process p({test::binary("echo-loader"), "--run-dir", cmd.run_dir, "attach", "--address", "127.0.0.1",
                     "--port", std::to_string(cmd.port)});
    ASSERT_TRUE(p.wait_for_output("echoing on")) << p.output();
    EXPECT_NE(p.output().find(", cgroup " + expected + ")"), std::string::npos) << p.output();
    EXPECT_TRUE(exists(expected));
    EXPECT_EQ(p.stop(SIGTERM), 0);
    if (!shared) {
        EXPECT_FALSE(exists(expected)) << "the default cgroup was not removed";
    }
}

// ---- errors ----

void expect_one_line_error(const test::RunResult& r, int code, const std::string& needle) {
    EXPECT_EQ(r.exit_code, code) << r.out << r.err;
    EXPECT_NE(r.err.find(needle), std::string::npos) << r.err;
    EXPECT_EQ(r.err.rfind("echo-loader: ", 0), 0u) << r.err;
    EXPECT_FALSE(r.err.empty() || std::isupper(static_cast<unsigned char>(r.err[13]))) << "not lowercase: " << r.err;
}

TEST_F(Errors, BadArgumentsExitTwoWithOneLine) {
    auto cmd = fresh_loader_command();
    const std::vector<std::vector<std::string>> cases = {
        {"attach", "--port", "0"},
        {"attach", "--port", "70000"},
        {"attach", "--max-pending", "12Q"},
        {"attach", "--address", "nonsense"},
        {"attach", "--insert", "maybe"},
        {"attach", "--bogus"},
        {"frobnicate"},
        {},
        {"stats", "--watch", "-1"},
        {"attach", "--backlog", "x"},
        {"attach", "--drain-timeout", "-3"},
    };
    for (const auto& args : cases) {
        std::vector<std::string> argv = {test::binary("echo-loader"), "--run-dir", cmd.run_dir};
        argv.insert(argv.end(), args.begin(), args.end());
        auto r = test::run(argv);
        SCOPED_TRACE(args.empty() ? "(no arguments)" : args[0] + " " + (args.size() > 1 ? args[1] : ""));
        expect_one_line_error(r, 2, "");
        EXPECT_NE(r.err.find("--help"), std::string::npos) << r.err;
    }
    EXPECT_FALSE(exists(cmd.cgroup));
}

TEST_F(Errors, NotRootIsRefused) {
    auto cmd = fresh_loader_command();
    std::vector<std::string> argv = {"/usr/bin/setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--"};
    auto attach = cmd.attach_argv();
    argv.insert(argv.end(), attach.begin(), attach.end());
    auto r = test::run(argv);
    expect_one_line_error(r, 1, "not permitted: missing CAP_BPF, CAP_PERFMON, CAP_NET_ADMIN");
    EXPECT_FALSE(exists(cmd.cgroup));
}

TEST_F(Errors, RootWithoutCapBpfIsRefused) {
    auto cmd = fresh_loader_command();
    std::vector<std::string> argv = {"/usr/bin/setpriv", "--bounding-set=-bpf,-sys_admin", "--"};
    auto attach = cmd.attach_argv();
    argv.insert(argv.end(), attach.begin(), attach.end());
    auto r = test::run(argv);
    expect_one_line_error(r, 1, "not permitted: missing CAP_BPF");
    EXPECT_EQ(r.err.find("CAP_NET_ADMIN"), std::string::npos) << r.err;
}

TEST_F(Errors, NoCgroupV2IsReported) {
    auto cmd = fresh_loader_command();
    // In a private mount namespace, unmount every cgroup v2 mount, then start the loader there.
    std::string script = "set -e; ";
    std::ifstream mounts("/proc/self/mountinfo");
    std::string line;
    while (std::getline(mounts, line))
        if (line.find(" - cgroup2 ") != std::string::npos) {
            std::istringstream f(line);
            std::string a, b, c, root, point;
            f >> a >> b >> c >> root >> point;
            script += "umount -l " + point + "; ";
        }
    script += "exec";
    for (const auto& a : cmd.attach_argv()) script += " '" + a + "'";
    auto r = test::run({"/usr/bin/unshare", "--mount", "--propagation", "private", "--", "/bin/sh", "-c", script});
    expect_one_line_error(r, 1, "no cgroup v2 hierarchy is mounted");
}

TEST_F(Errors, KernelWithoutSockmapIsReported) {
    auto cmd = fresh_loader_command();
    // A kernel without sockmap answers BPF_MAP_CREATE/BPF_PROG_LOAD of these types with EINVAL:
    // every bpf() call of the loader fails that way.
    auto r = test::run_with_failing_syscall(cmd.attach_argv(), __NR_bpf, EINVAL, seconds(20));
    expect_one_line_error(r, 1, "this kernel does not support sockhash maps");
    EXPECT_NE(r.err.find("CONFIG_BPF_STREAM_PARSER"), std::string::npos) << r.err;
    EXPECT_FALSE(exists(cmd.cgroup));
}

TEST_F(Errors, PortInUseIsReportedAndNothingStays) {
    auto before = echo_object_ids();
    auto cmd = fresh_loader_command();
    UniqueFd busy = make_listener(parse_address("127.0.0.1", static_cast<std::uint16_t>(cmd.port)));
    auto r = test::run(cmd.attach_argv());
    expect_one_line_error(r, 1, "address already in use");
    EXPECT_FALSE(exists(cmd.cgroup)) << "cgroup left behind";
    EXPECT_FALSE(exists(cmd.run_dir + "/state.json"));
    std::this_thread::sleep_for(milliseconds(200));
    auto after = echo_object_ids();
    for (auto id : after) EXPECT_TRUE(before.count(id)) << "an echo_* object (id " << id / 2 << ") remains";
}

TEST_F(Errors, AnotherInstanceIsRefused) {
    Loader loader;
    ASSERT_TRUE(loader.ready()) << loader.output();
    auto r = loader.run({"attach", "--address", "127.0.0.1", "--port", std::to_string(test::free_port())});
    expect_one_line_error(r, 1,
                          "another echo-loader is already running (pid " + std::to_string(loader.process().pid()));
    std::string data = random_bytes(1000, 5);
    EXPECT_TRUE(echo_once(loader.address(), data).bytes == data) << "the first instance was disturbed";
}

TEST_F(Errors, InspectingWhenNothingRuns) {
    auto cmd = fresh_loader_command();
    auto base = std::vector<std::string>{test::binary("echo-loader"), "--run-dir", cmd.run_dir};
    auto with = [&](std::vector<std::string> more) {
        auto v = base;
        v.insert(v.end(), more.begin(), more.end());
        return test::run(v);
    };
    expect_one_line_error(with({"stats"}), 1, "echo-loader is not running (start it with 'echo-loader attach')");
    auto status = with({"status"});
    EXPECT_EQ(status.exit_code, 3);
    EXPECT_NE(status.out.find("not running"), std::string::npos);
    auto detach = with({"detach"});
    EXPECT_EQ(detach.exit_code, 0);
    EXPECT_NE(detach.out.find("nothing to detach"), std::string::npos) << detach.out;
}

TEST_F(Errors, CgroupOutsideTheV2HierarchyIsRefused) {
    auto cmd = fresh_loader_command();
    std::string not_cgroup = cmd.run_dir + "/not-a-cgroup";
    auto argv = cmd.attach_argv();
    argv.back() = not_cgroup;  // the value of --cgroup
    auto r = test::run(argv);
    expect_one_line_error(r, 1, "is not a cgroup v2 directory");
    EXPECT_FALSE(exists(not_cgroup)) << "the loader left a directory it created";
}

}  // namespace
}  // namespace kecho::bpftest
