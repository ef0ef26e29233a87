// SPDX-License-Identifier: GPL-2.0-only
// End to end: the bench's verify battery and a short pingpong against the real user-echo-server,
// every engine. This is what a user runs; it must pass.
#include <gtest/gtest.h>

#include "process.h"

using kecho::test::binary;
using kecho::test::run;

namespace {

// user-echo-server --engine <engine> on a free loopback port.
struct UserServer : kecho::test::ServerProcess {
    explicit UserServer(const std::string& engine)
        : ServerProcess(
              [&](int port) {
                  return std::vector<std::string>{
                      binary("user-echo-server"), "--engine", engine, "--address", "127.0.0.1", "--port",
                      std::to_string(port)};
              },
              [](int port) { return "echoing on 127.0.0.1:" + std::to_string(port); }) {}
};

class AgainstUserServer : public ::testing::TestWithParam<std::string> {};

}  // namespace

TEST_P(AgainstUserServer, VerifyPassesEveryCase) {
    UserServer server(GetParam());
    ASSERT_TRUE(server.ready()) << server.output();
    auto r = run({binary("bench"), "--workload", "verify", "--port", std::to_string(server.port())},
                 std::chrono::seconds(120));
    EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
    EXPECT_NE(r.out.find("verify: 13 passed, 0 failed"), std::string::npos) << r.out;
}

TEST_P(AgainstUserServer, ShortPingpongPasses) {
    UserServer server(GetParam());
    ASSERT_TRUE(server.ready()) << server.output();
    auto r = run({binary("bench"), "--port", std::to_string(server.port()), "--connections", "16", "--duration", "1",
                  "--warmup", "0.2"},
                 std::chrono::seconds(60));
    EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
    EXPECT_NE(r.out.find("req/s"), std::string::npos) << r.out;
}

INSTANTIATE_TEST_SUITE_P(Engines, AgainstUserServer, ::testing::Values("epoll", "uring", "splice", "floor"));
