// SPDX-License-Identifier: GPL-2.0-only
// The bench tests' shared pieces: the echo test server (correct, corrupting or dropping) started as
// a child, the bench binary run to completion, and the JSON files it writes read back.
#pragma once

#include <gtest/gtest.h>

#include <chrono>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "process.h"

namespace kecho::benchtest {

class EchoServer : public test::ServerProcess {
public:
    // fault: "none", "corrupt" (flips the byte at offset 3000 of every connection) or "drop"
    // (leaves that byte out).
    explicit EchoServer(const std::string& fault = "none")
        : ServerProcess(
              [&](int port) {
                  return std::vector<std::string>{test::binary("tests/bench/echo_test_server"), "--port",
                                                  std::to_string(port), "--fault", fault};
              },
              [](int port) { return "listening on 127.0.0.1:" + std::to_string(port); }) {}
    // The port as bench's --port argument.
    std::string port() const { return std::to_string(ServerProcess::port()); }
};

// ./bench with args, to completion (two minutes at most).
inline test::RunResult bench(std::vector<std::string> args) {
    args.insert(args.begin(), test::binary("bench"));
    return test::run(args, std::chrono::seconds(120));
}

// A file in the tests' temporary directory, named for its suite (test binaries run in parallel).
inline std::string temp_path(const std::string& suite, const std::string& name) {
    return ::testing::TempDir() + "kecho-" + suite + "-" + name;
}

// A JSON file bench wrote (throws nlohmann::json::parse_error on anything else).
inline nlohmann::json read_json(const std::string& path) {
    std::ifstream in(path);
    return nlohmann::json::parse(in);
}

}  // namespace kecho::benchtest
