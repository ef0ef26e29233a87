// SPDX-License-Identifier: GPL-2.0-only
// The server registry as bench shows it, ad-hoc targets (--target NAME=HOST:PORT) driven, checked and
// reported like the registry's servers, and bench report: runs from several files merged per target,
// printed with the CPU split and perf stat counts per unit.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "kecho/servers.h"
#include "process.h"
#include "test_server.h"

using kecho::benchtest::bench;
using kecho::benchtest::EchoServer;
using kecho::benchtest::read_json;
using kecho::benchtest::temp_path;
using nlohmann::json;

namespace {

// The median and the (min-max) of a per-metric report's row of this target and metric ("" if none).
std::string metric_row(const std::string& out, const std::string& target, const std::string& metric) {
    std::istringstream lines(out);
    for (std::string line; std::getline(lines, line);) {
        if (line.rfind(target + " ", 0) != 0 || line.find(" " + metric + " ") == std::string::npos) continue;
        std::istringstream words(line);
        std::vector<std::string> w;
        for (std::string word; words >> word;) w.push_back(word);
        return w[w.size() - 2] + " " + w.back();
    }
    return "";
}

std::string dead_port() {
    return std::to_string(kecho::test::free_port());
}

// A short pingpong run against these targets, its JSON to path.
kecho::test::RunResult pingpong(std::vector<std::string> targets, const std::string& path,
                                std::vector<std::string> more = {}) {
    std::vector<std::string> args = {"pingpong", "--connections", "2",      "--duration", "0.3",
                                     "--warmup", "0.1",           "--json", path};
    for (const auto& t : targets) args.insert(args.end(), {"--target", t});
    args.insert(args.end(), more.begin(), more.end());
    return bench(args);
}

}  // namespace

// Every server of the registry, one line each: what scripts read (no heading) and people (a heading).
TEST(Servers, ListsEveryServerOfTheRegistry) {
    auto r = bench({"servers", "--no-heading"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    std::istringstream lines(r.out);
    std::size_t i = 0;
    for (std::string line; std::getline(lines, line); ++i) {
        ASSERT_LT(i, std::size(kecho::servers)) << r.out;
        const auto& s = kecho::servers[i];
        std::istringstream fields(line);
        std::string mode, engine, port, program, role;
        fields >> mode >> engine >> port >> program >> role;
        EXPECT_EQ(mode, s.mode);
        EXPECT_EQ(engine, s.engine);
        EXPECT_EQ(port, std::to_string(s.port));
        EXPECT_EQ(program, s.program);
        EXPECT_EQ(role, kecho::role_name(s.role));
        EXPECT_NE(line.find(std::string(s.start)), std::string::npos) << line;
    }
    EXPECT_EQ(i, std::size(kecho::servers));
    r = bench({"servers"});
    EXPECT_EQ(r.out.rfind("mode ", 0), 0u) << r.out;
}

TEST(Target, DrivenCheckedAndReportedLikeAMode) {
    EchoServer peer;
    ASSERT_TRUE(peer.ready());
    const std::string dead = dead_port(), path = temp_path("targets", "peer.json");
    auto r = pingpong({"peer=127.0.0.1:" + peer.port(), "gone=127.0.0.1:" + dead}, path, {"--baseline", "peer"});
    ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
    EXPECT_NE(r.out.find("\npeer "), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("vs peer"), std::string::npos) << r.out;
    // An ad-hoc target has no start command to suggest.
    EXPECT_NE(r.out.find("skipped gone: no gone server at 127.0.0.1:" + dead + ": connection refused\n"),
              std::string::npos)
        << r.out;
    const json doc = read_json(path);
    ASSERT_EQ(doc["modes"].size(), 1u);
    EXPECT_EQ(doc["modes"][0]["mode"], "peer");
    EXPECT_EQ(doc["modes"][0]["address"], "127.0.0.1:" + peer.port());
    EXPECT_EQ(doc["modes"][0]["ratio_vs_baseline"], 1.0);
    EXPECT_GT(doc["modes"][0]["summary"]["requests_per_s"]["median"].get<double>(), 0);
}

// A registry mode and an ad-hoc target in one interleaved run; --target alone drives no default mode.
TEST(Target, RunsBesideTheModes) {
    EchoServer user, peer;
    ASSERT_TRUE(user.ready());
    ASSERT_TRUE(peer.ready());
    const std::string path = temp_path("targets", "both.json");
    auto r = pingpong({"peer=127.0.0.1:" + peer.port()}, path,
                      {"--mode", "user", "--mode-port", "user=" + user.port(), "--repeat", "2"});
    ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
    EXPECT_NE(r.out.find("2 runs per mode, interleaved"), std::string::npos) << r.out;
    const json doc = read_json(path);
    ASSERT_EQ(doc["modes"].size(), 2u);
    EXPECT_EQ(doc["modes"][0]["mode"], "user");
    EXPECT_EQ(doc["modes"][1]["mode"], "peer");
    EXPECT_EQ(doc["modes"][1]["runs"].size(), 2u);
}

// A server that corrupts a byte is listed as FAILED with where and its first mismatch, in the table
// and the JSON.
TEST(Target, CorruptingTargetIsListedAsFailedWithItsFirstMismatch) {
    EchoServer bad("corrupt");
    ASSERT_TRUE(bad.ready());
    const std::string path = temp_path("targets", "bad.json");
    auto r = pingpong({"bad=127.0.0.1:" + bad.port()}, path, {"--size", "1K"});
    EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
    EXPECT_NE(r.out.find("FAILED bad at 2 connections (1 of 1 runs): "), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("byte mismatch at offset 3000"), std::string::npos) << r.out;
    EXPECT_NE(read_json(path)["modes"][0]["errors"][0].get<std::string>().find("byte mismatch at offset 3000"),
              std::string::npos);
    r = bench({"verify", "--target", "bad=127.0.0.1:" + bad.port(), "--case", "size-4KiB"});
    EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
    EXPECT_NE(r.out.find("FAIL size-4KiB"), std::string::npos) << r.out;
}

TEST(Target, BadSpecsAreUsageErrors) {
    const std::vector<std::pair<std::vector<std::string>, std::string>> cases = {
        {{"--target", "peer"}, "expected NAME=HOST:PORT, got 'peer'"},
        {{"--target", "peer=127.0.0.1"}, "expected NAME=HOST:PORT"},
        {{"--target", "a b=127.0.0.1:9"}, "invalid target name 'a b'"},
        {{"--target", "peer=127.0.0.1:0"}, "invalid port '0'"},
        {{"--target", "peer=nowhere:9"}, "invalid address 'nowhere'"},
        {{"--target", "a=127.0.0.1:9", "--target", "a=127.0.0.1:10"}, "two servers are named 'a'"},
        {{"held", "--target", "a=127.0.0.1:9", "--target", "b=127.0.0.1:10"}, "drives one server"},
        {{"pingpong", "--target", "a=127.0.0.1:9", "--baseline", "b"}, "unknown mode or target 'b'"},
    };
    for (const auto& [args, message] : cases) {
        auto r = bench(args);
        EXPECT_EQ(r.exit_code, 2) << args[1] << ": " << r.err;
        EXPECT_NE(r.err.find(message), std::string::npos) << r.err;
        EXPECT_EQ(r.err.rfind("bench: ", 0), 0u) << r.err;
    }
}

// Two files of the same target: its runs are both files' runs; the CPU split names the server's share.
TEST(Report, MergesRunsPerTargetAcrossFiles) {
    EchoServer peer, other;
    ASSERT_TRUE(peer.ready());
    ASSERT_TRUE(other.ready());
    const std::string a = temp_path("targets", "report-a.json"), b = temp_path("targets", "report-b.json"),
                      out = temp_path("targets", "report.json"), csv = temp_path("targets", "report.csv");
    const std::string info = "mode=peer pid=" + std::to_string(peer.process().pid());
    ASSERT_EQ(pingpong({"peer=127.0.0.1:" + peer.port()}, a, {"--server-info", info}).exit_code, 0);
    ASSERT_EQ(pingpong({"peer=127.0.0.1:" + peer.port(), "other=127.0.0.1:" + other.port()}, b,
                       {"--server-info", info, "--repeat", "1"})
                  .exit_code,
              0);
    auto r = bench({"report", a, b, "--baseline", "other", "--json", out, "--csv", csv});
    ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
    EXPECT_NE(r.out.find("pingpong: 2 files, runs merged per target"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("vs other"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("machine us/req"), std::string::npos) << r.out;
    const json doc = read_json(out);
    ASSERT_EQ(doc["modes"].size(), 2u);
    EXPECT_EQ(doc["modes"][0]["runs"].size(), 2u);
    EXPECT_EQ(doc["modes"][0]["histograms"].size(), 2u);
    EXPECT_EQ(doc["modes"][1]["ratio_vs_baseline"], 1.0);
    EXPECT_GT(doc["modes"][0]["summary"]["server_cpu_us_per_request"]["median"].get<double>(), 0) << doc.dump();
    std::ifstream in(csv);
    int rows = 0;
    for (std::string line; std::getline(in, line);) ++rows;
    EXPECT_EQ(rows, 1 + 3);  // header, peer's 2 runs, other's 1
}

TEST(Report, ReadsStressWorkloadsAndTraces) {
    EchoServer peer;
    ASSERT_TRUE(peer.ready());
    const std::string churn = temp_path("targets", "churn.json"), trace = temp_path("targets", "trace.json");
    ASSERT_EQ(
        bench({"churn", "--target", "peer=127.0.0.1:" + peer.port(), "--cycles", "300", "--json", churn}).exit_code, 0);
    auto r = bench({"report", churn, churn, "--baseline", "peer"});
    ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
    EXPECT_NE(r.out.find("cycles/s median [95% interval]"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("machine us/cycle"), std::string::npos) << r.out;
    // echo-loader trace --json's layout: the exchanges, and a mean per phase seen.
    std::ofstream(trace) << R"({"port": 9, "exchanges": 100, "accepted_before_arrival": 25, "records_lost": 0,
        "phases": {"arrival to server's first read": {"count": 100, "mean_us": 12.5},
                   "work queued to kworker running it": {"count": 0, "mean_us": 0}}})";
    r = bench({"report", "epoll=" + trace, "epoll=" + trace});
    ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
    EXPECT_EQ(metric_row(r.out, "epoll", "(exchanges)"), "100.0 (100.0-100.0)") << r.out;
    EXPECT_EQ(metric_row(r.out, "epoll", "(accepted before arrival, %)"), "25.0 (25.0-25.0)") << r.out;
    EXPECT_EQ(metric_row(r.out, "epoll", "arrival to server's first read"), "12.5 (12.5-12.5)") << r.out;
    EXPECT_EQ(r.out.find("work queued to kworker"), std::string::npos) << "a phase never seen has no row\n" << r.out;
}

TEST(Report, CountsPerUnitAndRefusesMixedWorkloads) {
    EchoServer peer;
    ASSERT_TRUE(peer.ready());
    const std::string run = temp_path("targets", "counted.json"), perf = temp_path("targets", "perf.txt"),
                      churn = temp_path("targets", "churn2.json");
    ASSERT_EQ(pingpong({"peer=127.0.0.1:" + peer.port()}, run).exit_code, 0);
    const double requests = read_json(run)["modes"][0]["runs"][0]["work_units"].get<double>();
    ASSERT_GT(requests, 0);
    std::ofstream(perf) << "# started on ...\n\n" << requests * 3 << ",,raw_syscalls:sys_enter,1000,100.00,,\n";
    auto r = bench({"report", run, "--perf-stat", "client=" + perf});
    ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
    EXPECT_NE(r.out.find("client raw_syscalls:sys_enter"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("3.00"), std::string::npos) << r.out;
    ASSERT_EQ(
        bench({"churn", "--target", "peer=127.0.0.1:" + peer.port(), "--cycles", "50", "--json", churn}).exit_code, 0);
    r = bench({"report", run, churn});
    EXPECT_EQ(r.exit_code, 1) << r.out;
    EXPECT_NE(r.err.find("one workload per report"), std::string::npos) << r.err;
    r = bench({"report", run, "--perf-stat", "client"});
    EXPECT_EQ(r.exit_code, 2) << r.err;
    EXPECT_NE(r.err.find("expected WHO=FILE"), std::string::npos) << r.err;
}
