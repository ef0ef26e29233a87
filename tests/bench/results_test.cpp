// SPDX-License-Identifier: GPL-2.0-only
// Results a reader can trust (issue 10): the run record in every result, mergeable histograms and
// bench merge, open-loop latency that shows a stalling server, the CPU split adding up, --cpus, and
// bench summarize's page and figures.
#include <gtest/gtest.h>

#include <array>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>
#include <random>
#include <sstream>

#include "bench/histogram.h"
#include "bench/results.h"
#include "kecho/error.h"
#include "process.h"
#include "test_server.h"

using kecho::bench::LatencyHistogram;
using kecho::benchtest::bench;
using kecho::benchtest::EchoServer;
using kecho::benchtest::read_json;
using kecho::benchtest::temp_path;
using nlohmann::json;
namespace fs = std::filesystem;

namespace {

std::string first_line_of(const std::string& command) {
    std::unique_ptr<FILE, int (*)(FILE*)> pipe(::popen(command.c_str(), "r"), ::pclose);
    std::array<char, 512> buffer{};
    if (!pipe || !std::fgets(buffer.data(), buffer.size(), pipe.get())) return {};
    std::string line = buffer.data();
    while (!line.empty() && line.back() == '\n') line.pop_back();
    return line;
}

// The echo test server with extra options (a stall), started as a child.
class StallingServer {
public:
    StallingServer(long stall_ms, long every_ms)
        : port_(kecho::test::free_port()),
          process_({kecho::test::binary("tests/bench/echo_test_server"), "--port", std::to_string(port_), "--stall-ms",
                    std::to_string(stall_ms), "--stall-every-ms", std::to_string(every_ms)}) {}
    bool ready() { return process_.wait_for_output("listening on"); }
    std::string port() const { return std::to_string(port_); }

private:
    int port_;
    kecho::test::Process process_;
};

}  // namespace

// A row is noisy for what happened while it ran: a wide spread, or other processes taking the CPUs.
TEST(Noise, FlagsSpreadAndInterferenceNotTheJobsOwnLoad) {
    kecho::bench::ModeResults quiet;
    quiet.runs = {{{"requests_per_s", 100}, {"other_cpu_percent", 1}, {"load_before", 40}},
                  {{"requests_per_s", 105}, {"other_cpu_percent", 2}, {"load_before", 40}}};
    EXPECT_EQ(quiet.noise("requests_per_s"), "");  // a high load average alone is the job's own

    auto spread = quiet;
    spread.runs[1]["requests_per_s"] = 130;
    EXPECT_EQ(spread.noise("requests_per_s"), "spread 26%");  // (130-100) / median 115

    auto disturbed = quiet;
    disturbed.runs[0]["other_cpu_percent"] = 12;
    EXPECT_EQ(disturbed.noise("requests_per_s"), "others used 12% of the CPUs");
}

TEST(Histogram, SavedFormRoundTripsAndMergesByAddingCounts) {
    LatencyHistogram a, b;
    std::mt19937_64 rng(7);
    for (int i = 0; i < 5000; ++i) a.record(rng() % 1'000'000);
    for (int i = 0; i < 3000; ++i) b.record(1'000'000 + rng() % 5'000'000);
    LatencyHistogram back = LatencyHistogram::from_json(a.to_json());
    EXPECT_EQ(back.to_json(), a.to_json());
    EXPECT_EQ(back.percentile(99), a.percentile(99));
    LatencyHistogram sum = LatencyHistogram::from_json(a.to_json());
    sum.merge(LatencyHistogram::from_json(b.to_json()));
    EXPECT_EQ(sum.count(), 8000u);
    EXPECT_EQ(sum.min(), a.min());
    EXPECT_EQ(sum.max(), b.max());
    auto cdf = sum.cdf();
    ASSERT_FALSE(cdf.empty());
    EXPECT_DOUBLE_EQ(cdf.back().second, 1.0);
    json bad = a.to_json();
    bad["count"] = 1;
    EXPECT_THROW(LatencyHistogram::from_json(bad), kecho::Error);
}

TEST(OpenLoop, TimetableSpreadsConnectionsEvenly) {
    auto start = kecho::bench::Clock::now();
    kecho::bench::Timetable first(1000, 4, 0, start), third(1000, 4, 2, start);
    // 1,000 req/s over 4 connections: each sends every 4 ms; connection 2 starts 2 ms in.
    EXPECT_EQ(third.due(0) - start, std::chrono::milliseconds(2));
    EXPECT_EQ(third.due(3) - start, std::chrono::milliseconds(14));
    EXPECT_EQ(first.due(0), start);
    EXPECT_EQ(first.due(1) - start, std::chrono::milliseconds(4));
    auto kept = kecho::bench::check_rate(1000, 990, 1.0), missed = kecho::bench::check_rate(1000, 600, 1.0);
    EXPECT_TRUE(kept.kept);
    EXPECT_FALSE(missed.kept);
    EXPECT_NE(missed.describe().find("could not keep 1000 req/s"), std::string::npos) << missed.describe();
}

TEST(RunRecord, EveryResultSaysWhereAndHowItRan) {
    EchoServer server;
    ASSERT_TRUE(server.ready());
    auto json_path = temp_path("results", "meta.json"), csv_path = temp_path("results", "meta.csv");
    auto r = bench({"--port", server.port(), "--connections", "2", "--duration", "0.3", "--warmup", "0.1",
                    "--server-info", "mode=user engine=test threads=1 cpus=any", "--layout", "shared", "--json",
                    json_path, "--csv", csv_path});
    ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
    auto doc = read_json(json_path);
    const json& run = doc["run"];
    EXPECT_EQ(run["kernel"], first_line_of("uname -r"));
    EXPECT_EQ(std::to_string(run["available_cpus"].get<int>()), first_line_of("nproc"));
    EXPECT_GE(run["online_cpus"].get<int>(), run["available_cpus"].get<int>());
    EXPECT_GT(run["memory_bytes"].get<double>(), 0);
    EXPECT_NE(run["cpu_model"], "");
    EXPECT_EQ(run["load_before"].size(), 3u);
    EXPECT_EQ(run["load_after"].size(), 3u);
    EXPECT_NE(run["command"].get<std::string>().find("--connections 2"), std::string::npos);
    EXPECT_EQ(run["servers"][0]["engine"], "test");
    EXPECT_EQ(run["client"]["engine"], "blocking");  // auto at 2 connections
    EXPECT_EQ(run["client"]["layout"], "shared");
    EXPECT_EQ(run["client"]["workers"], 2);
    EXPECT_FALSE(run["git_commit"].get<std::string>().empty());
    std::ifstream csv(csv_path);
    std::string header, row;
    std::getline(csv, header);
    std::getline(csv, row);
    EXPECT_NE(header.find("kernel"), std::string::npos) << header;
    EXPECT_NE(row.find(first_line_of("uname -r")), std::string::npos) << row;
    EXPECT_NE(r.out.find("noisy"), std::string::npos) << r.out;  // the table's noise column
}

TEST(Merge, TwoRunsMergeIntoTheirCountsAdded) {
    EchoServer server;
    ASSERT_TRUE(server.ready());
    auto a = temp_path("results", "merge-a.json"), b = temp_path("results", "merge-b.json"),
         out = temp_path("results", "merged.json");
    for (const auto& path : {a, b}) {
        auto r = bench({"--port", server.port(), "--connections", "4", "--client", "epoll", "--duration", "0.4",
                        "--warmup", "0.1", "--json", path});
        ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
    }
    auto r = bench({"merge", a, b, "--json", out});
    ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
    EXPECT_NE(r.out.find("2 clients merged"), std::string::npos) << r.out;
    auto da = read_json(a), db = read_json(b), merged = read_json(out);
    const json &ha = da["modes"][0]["histograms"][0], &hb = db["modes"][0]["histograms"][0];
    const json& hm = merged["modes"][0]["histograms"][0];
    EXPECT_EQ(hm["count"].get<std::uint64_t>(), ha["count"].get<std::uint64_t>() + hb["count"].get<std::uint64_t>());
    std::map<std::size_t, std::uint64_t> want;
    for (const auto& h : {ha, hb})
        for (const auto& bucket : h["buckets"]) want[bucket[0].get<std::size_t>()] += bucket[1].get<std::uint64_t>();
    std::map<std::size_t, std::uint64_t> got;
    for (const auto& bucket : hm["buckets"]) got[bucket[0].get<std::size_t>()] = bucket[1].get<std::uint64_t>();
    EXPECT_EQ(got, want);
    EXPECT_NEAR(merged["modes"][0]["runs"][0]["requests_per_s"].get<double>(),
                da["modes"][0]["runs"][0]["requests_per_s"].get<double>() +
                    db["modes"][0]["runs"][0]["requests_per_s"].get<double>(),
                1e-6);
    EXPECT_EQ(bench({"merge", a}).exit_code, 1);  // one file is nothing to merge
}

// A server that stops answering for 200 ms once a second: the open loop counts the wait of every
// request due in the stall (p90 shows it); the closed loop sends nothing while it waits, so only one
// request per connection per stall is slow and its p99 does not show it (coordinated omission).
TEST(OpenLoop, ShowsAStallThatClosedLoopHides) {
    StallingServer server(200, 1000);
    ASSERT_TRUE(server.ready());
    auto open = temp_path("results", "open.json"), closed = temp_path("results", "closed.json");
    auto r = bench({"--port", server.port(), "--connections", "4", "--rate", "1000", "--duration", "3", "--warmup",
                    "0.5", "--json", open});
    ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
    r = bench({"--port", server.port(), "--connections", "4", "--client", "epoll", "--duration", "3", "--warmup", "0.5",
               "--json", closed});
    ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
    const json open_run = read_json(open)["modes"][0]["runs"][0], closed_run = read_json(closed)["modes"][0]["runs"][0];
    EXPECT_GE(open_run["p90_us"].get<double>(), 30'000) << open_run.dump();
    EXPECT_LT(closed_run["p99_us"].get<double>(), 30'000) << closed_run.dump();
    EXPECT_EQ(open_run["target_rate"], 1000);
    EXPECT_NEAR(open_run["requests_per_s"].get<double>(), 1000, 150) << open_run.dump();  // achieved rate
}

TEST(OpenLoop, ARateTheServerCannotKeepIsReported) {
    StallingServer server(900, 1000);  // answers 10 % of the time
    ASSERT_TRUE(server.ready());
    auto path = temp_path("results", "unkept.json");
    auto r = bench({"--port", server.port(), "--connections", "2", "--rate", "20000", "--duration", "1", "--warmup",
                    "0.2", "--json", path});
    ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
    EXPECT_NE(r.err.find("could not keep 20000 req/s"), std::string::npos) << r.err;
    EXPECT_EQ(read_json(path)["modes"][0]["runs"][0]["rate_kept"], 0);
}

// Every task's CPU time, split into client, server, kernel threads and the rest, adds up to what the
// machine says it spent (/proc/stat), within 5 %.
TEST(CpuSplit, AddsUpToTheMachineTotal) {
    const std::string port = std::to_string(kecho::test::free_port());
    kecho::test::Process server({kecho::test::binary("tests/bench/echo_test_server"), "--port", port});
    ASSERT_TRUE(server.wait_for_output("listening on"));
    auto path = temp_path("results", "cpu.json");
    auto r = bench({"--port", port, "--connections", "8", "--duration", "2", "--warmup", "0.3", "--server-info",
                    "mode=user engine=test pid=" + std::to_string(server.pid()), "--json", path});
    ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
    const json run = read_json(path)["modes"][0]["runs"][0];
    const double requests = run["requests_per_s"].get<double>() * 2;  // over the 2 s window (approximately)
    ASSERT_GT(requests, 0);
    const double tasks = run["cpu_tasks_seconds"], machine = run["cpu_busy_seconds"];
    EXPECT_NEAR(tasks, machine, machine * 0.05) << run.dump();
    const double client = run["client_cpu_us_per_request"], srv = run["server_cpu_us_per_request"],
                 kthreads = run["kernel_thread_us_per_request"], other = run["other_cpu_us_per_request"];
    EXPECT_GT(srv, 0) << run.dump();
    EXPECT_GT(client, 0) << run.dump();
    EXPECT_NEAR((client + srv + kthreads + other) * requests / 1e6, tasks, tasks * 0.05 + 0.02) << run.dump();
}

TEST(Cpus, PinsTheClientAndRecordsIt) {
    EchoServer server;
    ASSERT_TRUE(server.ready());
    auto path = temp_path("results", "cpus.json");
    auto r = bench({"--port", server.port(), "--connections", "2", "--duration", "0.3", "--warmup", "0.1", "--cpus",
                    "0", "--json", path});
    ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
    EXPECT_EQ(read_json(path)["run"]["client"]["cpus"], "0");
    auto bad = bench({"--port", server.port(), "--cpus", "1000"});
    EXPECT_EQ(bad.exit_code, 2);
    EXPECT_NE(bad.err.find("CPU 1000 is not online"), std::string::npos) << bad.err;
}

TEST(Summarize, WritesTheSummaryTheCsvAndTheFigures) {
    EchoServer server;
    ASSERT_TRUE(server.ready());
    const fs::path dir = temp_path("results", "summary");
    fs::remove_all(dir);
    fs::create_directories(dir);
    for (const std::string c : {"1", "8"}) {
        auto r = bench({"--port", server.port(), "--connections", c, "--duration", "0.3", "--warmup", "0.1", "--repeat",
                        "2", "--json", (dir / ("pingpong-c" + c + ".json")).string()});
        ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
    }
    auto r = bench({"summarize", dir.string()});
    EXPECT_EQ(r.exit_code, 1) << r.out;  // no manifest: summarize reads only what one declares
    EXPECT_NE(r.err.find("no manifest.json in " + dir.string()), std::string::npos) << r.err;
    std::ofstream(dir / "manifest.json") << R"({"files": [
        {"file": "pingpong-c1.json", "role": "closed-loop", "workload": "pingpong", "connections": 1},
        {"file": "pingpong-c8.json", "role": "closed-loop", "workload": "pingpong", "connections": 8}]})";
    r = bench({"summarize", dir.string()});
    ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
    for (const char* name : {"summary.md", "all.csv", "sweep.png", "cdf-pingpong-c8.png"})
        EXPECT_TRUE(fs::exists(dir / name)) << name << "\n" << r.out;
    std::ifstream md(dir / "summary.md");
    std::stringstream text;
    text << md.rdbuf();
    EXPECT_NE(text.str().find(first_line_of("uname -r")), std::string::npos);
    EXPECT_NE(text.str().find("| 8 | user |"), std::string::npos) << text.str();
    std::ifstream csv(dir / "all.csv");
    int lines = 0;
    for (std::string line; std::getline(csv, line);) ++lines;
    EXPECT_EQ(lines, 1 + 2 * 2);  // header + 2 files x 2 runs
    EXPECT_EQ(bench({"summarize", "/nonexistent-kecho-dir"}).exit_code, 2);
}
