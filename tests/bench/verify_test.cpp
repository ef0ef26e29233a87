// SPDX-License-Identifier: GPL-2.0-only
// verify against a correct echo server passes every case; against servers that corrupt or drop a
// byte it fails, naming the case and the offset.
#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "process.h"
#include "test_server.h"

using kecho::benchtest::bench;
using kecho::benchtest::EchoServer;

namespace {

std::string read_file(const std::string& path) {
    std::ifstream in(path);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

}  // namespace

TEST(Verify, EveryCasePassesAgainstACorrectServer) {
    EchoServer server;
    ASSERT_TRUE(server.ready());
    std::string json = ::testing::TempDir() + "verify.json";
    auto r = bench({"--workload", "verify", "--port", server.port(), "--json", json});
    EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
    for (const char* name : {"size-1B", "size-4KiB", "size-64KiB", "size-1MiB", "size-16MiB", "all-byte-values",
                             "nul-heavy", "back-to-back-1000", "concurrent-200", "half-close-1000", "reset-mid-stream",
                             "mixed-64", "non-reading-client"})
        EXPECT_NE(r.out.find(std::string("PASS ") + name + " "), std::string::npos) << name << "\n" << r.out;
    EXPECT_NE(r.out.find("verify: 13 passed, 0 failed\n"), std::string::npos) << r.out;

    auto doc = nlohmann::json::parse(read_file(json));
    EXPECT_EQ(doc["passed"], 13);
    EXPECT_EQ(doc["failed"], 0);
    ASSERT_EQ(doc["cases"].size(), 13u);
    for (const auto& c : doc["cases"]) {
        EXPECT_TRUE(c["passed"].get<bool>()) << c.dump();
        EXPECT_TRUE(c.contains("detail") && c.contains("seconds") && c.contains("metrics")) << c.dump();
        if (c["name"] == "non-reading-client") {
            // A blocking echo holds a non-reading client by flow control, and gives everything back.
            EXPECT_EQ(c["metrics"]["outcome"], "flow-control");
            EXPECT_GT(c["metrics"]["bytes_accepted"].get<long>(), 100'000);
            EXPECT_EQ(c["metrics"]["bytes_returned"], c["metrics"]["bytes_accepted"]);
        }
    }
}

TEST(Verify, CaseSelectionRunsOnlyThoseCases) {
    EchoServer server;
    ASSERT_TRUE(server.ready());
    auto r = bench({"--workload", "verify", "--port", server.port(), "--case", "size-1B", "--case", "nul-heavy"});
    EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
    EXPECT_NE(r.out.find("PASS size-1B"), std::string::npos);
    EXPECT_NE(r.out.find("PASS nul-heavy"), std::string::npos);
    EXPECT_EQ(r.out.find("size-4KiB"), std::string::npos);
    EXPECT_NE(r.out.find("verify: 2 passed, 0 failed"), std::string::npos);
}

TEST(Verify, QuickSubsetSkipsTheLongCases) {
    EchoServer server;
    ASSERT_TRUE(server.ready());
    auto r = bench({"--workload", "verify", "--port", server.port(), "--quick"});
    EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
    EXPECT_EQ(r.out.find("size-16MiB"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("verify: 12 passed, 0 failed"), std::string::npos) << r.out;
}

TEST(Verify, CorruptingServerFailsWithTheCaseAndOffsetNamed) {
    EchoServer server("corrupt");  // flips the byte at offset 3000 of every connection
    ASSERT_TRUE(server.ready());
    auto r = bench({"--workload", "verify", "--port", server.port(), "--quick"});
    EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
    EXPECT_NE(r.out.find("PASS size-1B"), std::string::npos) << r.out;  // shorter than the fault offset
    EXPECT_NE(r.out.find("FAIL size-4KiB connection 1: byte mismatch at offset 3000"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("FAIL concurrent-200"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("FAIL nul-heavy"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("verify: 1 passed, 11 failed"), std::string::npos) << r.out;
}

TEST(Verify, ByteDroppingServerFailsWithTheCaseNamed) {
    EchoServer server("drop");  // leaves out the byte at offset 3000 of every connection
    ASSERT_TRUE(server.ready());
    auto r = bench({"--workload", "verify", "--port", server.port(), "--case", "size-64KiB", "--case",
                    "half-close-1000", "--case", "size-1B"});
    EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
    EXPECT_NE(r.out.find("FAIL size-64KiB connection 1: byte mismatch at offset 3000"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("bytes lost"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("FAIL half-close-1000"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("PASS size-1B"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("verify: 1 passed, 2 failed"), std::string::npos) << r.out;
}
