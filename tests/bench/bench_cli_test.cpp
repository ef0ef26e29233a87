// SPDX-License-Identifier: GPL-2.0-only
// The bench's command line as a user meets it: bad options exit 2 with one clear line.
#include <gtest/gtest.h>

#include "process.h"

using kecho::test::binary;
using kecho::test::run;

namespace {

kecho::test::RunResult bench(std::vector<std::string> args) {
    args.insert(args.begin(), binary("bench"));
    return run(args, std::chrono::seconds(30));
}

void expect_usage_error(const std::vector<std::string>& args, const std::string& message) {
    auto r = bench(args);
    EXPECT_EQ(r.exit_code, 2) << r.err;
    EXPECT_NE(r.err.find(message), std::string::npos) << "stderr: " << r.err;
    EXPECT_EQ(r.err.rfind("bench: ", 0), 0u) << "stderr: " << r.err;
    EXPECT_TRUE(r.out.empty()) << r.out;
}

}  // namespace

TEST(BenchCli, UnknownModeIsAUsageError) {
    expect_usage_error({"--mode", "fast"}, "fast");
}
TEST(BenchCli, UnknownWorkloadIsAUsageError) {
    expect_usage_error({"--workload", "nope"}, "nope");
}
TEST(BenchCli, PortOutOfRange) {
    expect_usage_error({"--port", "70000"}, "70000");
}
TEST(BenchCli, UnknownOption) {
    expect_usage_error({"--frobnicate"}, "frobnicate");
}
TEST(BenchCli, UnknownVerifyCaseListsTheCases) {
    expect_usage_error({"--workload", "verify", "--case", "size-2B"}, "unknown case 'size-2B' (cases: size-1B");
}
TEST(BenchCli, PortWithModeAll) {
    expect_usage_error({"--mode", "all", "--port", "1234"}, "--port");
}
TEST(BenchCli, QuickOutsideVerify) {
    expect_usage_error({"--workload", "pingpong", "--quick"}, "--quick");
}
TEST(BenchCli, EachSubcommandTakesOnlyItsOwnOptions) {
    expect_usage_error({"pingpong", "--case", "size-1B"}, "--case");
    expect_usage_error({"verify", "--connections", "4"}, "--connections");
    expect_usage_error({"stream", "--pipeline", "4"}, "--pipeline");
    expect_usage_error({"churn", "--clients", "4"}, "--clients");
}
TEST(BenchCli, EnumOptionsNameTheirValues) {
    expect_usage_error({"pingpong", "--client", "threads"}, "threads");
    expect_usage_error({"stream", "--baseline", "nope"}, "nope");
}
TEST(BenchCli, StressWorkloadsDriveOneServer) {
    expect_usage_error({"held", "--mode", "user,uring"}, "one --mode");
}
TEST(BenchCli, PortAndModePortExcludeEachOther) {
    expect_usage_error({"--port", "1234", "--mode-port", "user=1235"}, "excludes");
}
// --mode-port's modes are the mode table's, named in the message; its port is checked like --port's.
TEST(BenchCli, ModePortNamesTheModesItTakes) {
    expect_usage_error({"--mode-port", "nomode=1"},
                       "--mode-port: expected MODE=PORT with MODE one of bpf, kmod, user, uring, floor, splice, got "
                       "'nomode=1'");
    expect_usage_error({"--mode-port", "user"}, "got 'user'");
    expect_usage_error({"--mode-port", "=23001"}, "got '=23001'");
    expect_usage_error({"--mode-port", "user=0"}, "--mode-port: invalid port '0': expected a number from 1 to 65535");
    expect_usage_error({"--mode-port", "user=abc"}, "invalid port 'abc'");
}
TEST(BenchCli, StreamWindowTooManyWrites) {
    expect_usage_error({"stream", "--window", "1G", "--size", "1K"}, "65536");
}
TEST(BenchCli, SubcommandHelpShowsOnlyItsOptions) {
    auto r = bench({"verify", "--help"});
    EXPECT_EQ(r.exit_code, 0);
    EXPECT_NE(r.out.find("--case"), std::string::npos) << r.out;
    EXPECT_EQ(r.out.find("--connections"), std::string::npos) << r.out;
}
TEST(BenchCli, VersionWithASubcommand) {
    auto r = bench({"verify", "--version"});
    EXPECT_EQ(r.exit_code, 0);
    EXPECT_EQ(r.out.rfind("bench ", 0), 0u) << r.out;
}
TEST(BenchCli, BadSize) {
    expect_usage_error({"--size", "12Q"}, "12Q");
}
TEST(BenchCli, ZeroConnections) {
    expect_usage_error({"--connections", "0"}, "connections");
}
TEST(BenchCli, PlotNeedsPngOrSvg) {
    expect_usage_error({"--plot", "out.jpg"}, ".png or .svg");
}

TEST(BenchCli, HelpExitsZero) {
    auto r = bench({"--help"});
    EXPECT_EQ(r.exit_code, 0);
    EXPECT_NE(r.out.find("--workload"), std::string::npos);
}

TEST(BenchCli, UnreachableServerNamesHowToStartIt) {
    int port = kecho::test::free_port();
    auto r = bench({"--mode", "uring", "--port", std::to_string(port), "--workload", "verify"});
    EXPECT_EQ(r.exit_code, 1);
    EXPECT_NE(r.err.find("no uring server at 127.0.0.1:" + std::to_string(port)), std::string::npos) << r.err;
    EXPECT_NE(r.err.find("./user-echo-server --engine uring"), std::string::npos) << r.err;
}

TEST(BenchCli, UnreachableSpliceAndFloorSayHowToStartThem) {
    int port = kecho::test::free_port();
    auto r = bench({"verify", "--mode", "splice", "--port", std::to_string(port)});
    EXPECT_EQ(r.exit_code, 1);
    EXPECT_NE(r.err.find("no splice server at 127.0.0.1:" + std::to_string(port)), std::string::npos) << r.err;
    EXPECT_NE(r.err.find("./user-echo-server --engine splice"), std::string::npos) << r.err;
    r = bench({"--mode", "floor", "--port", std::to_string(port)});
    EXPECT_NE(r.err.find("./user-echo-server --engine floor"), std::string::npos) << r.err;
}

TEST(BenchCli, UnreachableBpfSaysHowToAttach) {
    int port = kecho::test::free_port();
    auto r = bench({"--mode", "bpf", "--port", std::to_string(port), "--duration", "1"});
    EXPECT_EQ(r.exit_code, 1);
    EXPECT_NE(r.err.find("sudo ./echo-loader attach"), std::string::npos) << r.err;
}
