// SPDX-License-Identifier: GPL-2.0-only
// pingpong, stream, burst and multi-mode comparisons against the test echo server: they run,
// report sane numbers and every output file; a faulty server turns a run into a failure.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "process.h"
#include "test_server.h"

using kecho::benchtest::bench;
using kecho::benchtest::EchoServer;
using kecho::benchtest::read_json;
using kecho::benchtest::temp_path;

TEST(Pingpong, ShortRunReportsRequestsLatencyAndCpu) {
    EchoServer server;
    ASSERT_TRUE(server.ready());
    auto json = temp_path("bench", "pingpong.json");
    auto r =
        bench({"--port", server.port(), "--connections", "4", "--duration", "1", "--warmup", "0.2", "--json", json});
    ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
    EXPECT_NE(r.out.find("pingpong: 4 connections x 64 B"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("req/s"), std::string::npos) << r.out;
    auto doc = read_json(json);
    ASSERT_EQ(doc["modes"].size(), 1u);
    const auto& run = doc["modes"][0]["runs"][0];
    EXPECT_GT(run["requests_per_s"].get<double>(), 100.0);
    EXPECT_EQ(run["errors"].get<double>(), 0);
    double p50 = run["p50_us"], p99 = run["p99_us"], p999 = run["p999_us"], max = run["max_us"];
    EXPECT_GT(p50, 0);
    EXPECT_LE(p50, p99);
    EXPECT_LE(p99, p999);
    EXPECT_LE(p999, max * 1.01);
    EXPECT_GT(run["cpu_busy_percent"].get<double>(), 0);
    EXPECT_GT(run["client_cpu_us_per_request"].get<double>(), 0);
    // MB/s is requests x size.
    EXPECT_NEAR(run["mb_per_s"].get<double>(), run["requests_per_s"].get<double>() * 64 / 1e6,
                run["mb_per_s"].get<double>() * 0.05 + 0.01);
}

TEST(Pingpong, PipelineAndBlockingClientRun) {
    EchoServer server;
    ASSERT_TRUE(server.ready());
    auto r = bench({"--port", server.port(), "--connections", "2", "--pipeline", "8", "--size", "1K", "--duration",
                    "0.5", "--warmup", "0.1"});
    EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
    r = bench({"--port", server.port(), "--connections", "3", "--client", "blocking", "--duration", "0.5", "--warmup",
               "0.1"});
    EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
    EXPECT_NE(r.out.find("blocking client"), std::string::npos) << r.out;
}

TEST(Pingpong, CorruptingServerFailsTheRun) {
    EchoServer server("corrupt");
    ASSERT_TRUE(server.ready());
    auto r =
        bench({"--port", server.port(), "--connections", "2", "--size", "1K", "--duration", "0.5", "--warmup", "0.1"});
    EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
    EXPECT_NE(r.err.find("byte mismatch at offset 3000"), std::string::npos) << r.err;
}

TEST(Stream, ReportsBothDirections) {
    EchoServer server;
    ASSERT_TRUE(server.ready());
    auto json = temp_path("bench", "stream.json");
    auto r = bench({"--workload", "stream", "--port", server.port(), "--connections", "2", "--window", "128K", "--size",
                    "16K", "--duration", "1", "--warmup", "0.2", "--json", json});
    ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
    auto run = read_json(json)["modes"][0]["runs"][0];
    EXPECT_GT(run["recv_mb_per_s"].get<double>(), 1.0);
    EXPECT_GT(run["send_mb_per_s"].get<double>(), 1.0);
    // With a window, what was sent but not yet back is bounded: the two rates agree.
    EXPECT_NEAR(run["recv_mb_per_s"].get<double>(), run["send_mb_per_s"].get<double>(),
                run["send_mb_per_s"].get<double>() * 0.1 + 1);
}

TEST(Stream, WindowSmallerThanSizeIsAUsageError) {
    auto r = bench({"--workload", "stream", "--window", "1K", "--size", "4K"});
    EXPECT_EQ(r.exit_code, 2);
    EXPECT_NE(r.err.find("--window"), std::string::npos) << r.err;
}

TEST(Burst, WritesTheClassicFileAndPlot) {
    EchoServer server;
    ASSERT_TRUE(server.ready());
    auto out = temp_path("bench", "burst.txt");
    auto png = temp_path("bench", "burst.png");
    std::filesystem::remove(png);
    auto r = bench({"--workload", "burst", "--port", server.port(), "--threads", "50", "--rounds", "3", "--out", out,
                    "--plot", png});
    ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
    std::ifstream in(out);
    int index = -1, lines = 0;
    long us = -1;
    while (in >> index >> us) {
        EXPECT_EQ(index, lines);
        EXPECT_GT(us, 0);
        ++lines;
    }
    EXPECT_EQ(lines, 50);
    EXPECT_GT(std::filesystem::file_size(png), 1000u);
    EXPECT_NE(r.out.find("exchanges"), std::string::npos);
}

TEST(Compare, SeveralModesInterleavedWithRatiosAndSkips) {
    EchoServer a, b;
    ASSERT_TRUE(a.ready());
    ASSERT_TRUE(b.ready());
    int dead = kecho::test::free_port();
    auto json = temp_path("bench", "compare.json"), csv = temp_path("bench", "compare.csv"),
         svg = temp_path("bench", "compare.svg");
    auto r = bench({"--mode",      "user,uring,bpf",
                    "--mode-port", "user=" + a.port(),
                    "--mode-port", "uring=" + b.port(),
                    "--mode-port", "bpf=" + std::to_string(dead),
                    "--duration",  "0.3",
                    "--warmup",    "0.1",
                    "--repeat",    "2",
                    "--json",      json,
                    "--csv",       csv,
                    "--plot",      svg});
    ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
    EXPECT_NE(r.out.find("2 runs per mode, interleaved"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("skipped bpf: no bpf server"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("vs user"), std::string::npos) << r.out;
    auto doc = read_json(json);
    ASSERT_EQ(doc["modes"].size(), 2u);
    EXPECT_EQ(doc["modes"][0]["ratio_vs_baseline"].get<double>(), 1.0);
    for (const auto& m : doc["modes"]) {
        EXPECT_EQ(m["runs"].size(), 2u);
        auto s = m["summary"]["requests_per_s"];
        EXPECT_LE(s["min"].get<double>(), s["median"].get<double>());
        EXPECT_LE(s["median"].get<double>(), s["max"].get<double>());
    }
    EXPECT_EQ(doc["skipped"][0]["mode"], "bpf");
    std::ifstream in(csv);
    std::string line;
    int rows = 0;
    while (std::getline(in, line)) ++rows;
    EXPECT_EQ(rows, 1 + 4);  // header + 2 modes x 2 runs
    std::ifstream plot(svg);
    std::stringstream content;
    content << plot.rdbuf();
    EXPECT_NE(content.str().find("<svg"), std::string::npos);
}

// Each selected mode goes to the port --mode-port gave it; an entry for a mode not selected is unused.
TEST(Compare, ModePortSendsEachModeToItsServer) {
    EchoServer server;
    ASSERT_TRUE(server.ready());
    const std::string dead = std::to_string(kecho::test::free_port());
    auto r = bench({"verify", "--mode", "uring", "--mode-port", "user=" + dead, "--mode-port", "uring=" + server.port(),
                    "--case", "size-1B"});
    ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
    EXPECT_NE(r.out.find("PASS size-1B"), std::string::npos) << r.out;
    r = bench({"verify", "--mode", "user,uring", "--mode-port", "user=" + dead, "--mode-port", "uring=" + server.port(),
               "--case", "size-1B"});
    ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
    EXPECT_NE(r.out.find("skipped user: no user server at 127.0.0.1:" + dead), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("== uring server at 127.0.0.1:" + server.port()), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("verify: 1 passed, 0 failed"), std::string::npos) << r.out;
}

TEST(Compare, NothingReachableIsAnError) {
    int dead = kecho::test::free_port();
    auto r = bench({"--mode", "user,floor", "--mode-port", "user=" + std::to_string(dead), "--mode-port",
                    "floor=" + std::to_string(dead), "--duration", "0.3"});
    EXPECT_EQ(r.exit_code, 1);
    EXPECT_NE(r.err.find("no server is reachable"), std::string::npos) << r.err;
    EXPECT_NE(r.err.find("./user-echo-server --engine floor"), std::string::npos) << r.err;
}

// The reliability workloads, small: each passes against a correct server and writes its case as JSON.
TEST(StressWorkloads, EachPassesAgainstACorrectServer) {
    EchoServer server;
    ASSERT_TRUE(server.ready());
    const std::vector<std::vector<std::string>> runs = {{"held", "--connections", "300", "--hold", "0.2"},
                                                        {"churn", "--cycles", "500"},
                                                        {"half-close", "--clients", "300"},
                                                        {"resets", "--count", "200"},
                                                        {"slow", "--clients", "10", "--duration", "0.5"},
                                                        {"bad-input", "--quick"}};
    for (auto args : runs) {
        const std::string workload = args.front(), json = temp_path("bench", workload + ".json");
        args.insert(args.end(), {"--port", server.port(), "--json", json});
        auto r = bench(args);
        EXPECT_EQ(r.exit_code, 0) << workload << "\n" << r.out << r.err;
        EXPECT_NE(r.out.find(workload + ": "), std::string::npos) << r.out;
        auto doc = read_json(json);
        EXPECT_EQ(doc["workload"], workload);
        EXPECT_EQ(doc["failed"], 0) << doc.dump(2);
        EXPECT_TRUE(doc["cases"][0]["passed"].get<bool>()) << doc.dump(2);
    }
}

TEST(StressWorkloads, CorruptingServerFailsThem) {
    EchoServer server("corrupt");
    ASSERT_TRUE(server.ready());
    auto r = bench({"half-close", "--clients", "100", "--port", server.port()});
    EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
    EXPECT_NE(r.out.find("FAIL half-close"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("byte mismatch at offset 3000"), std::string::npos) << r.out;
    r = bench({"slow", "--clients", "4", "--duration", "1", "--port", server.port()});
    EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
    EXPECT_NE(r.out.find("byte mismatch at offset 3000"), std::string::npos) << r.out;
}
