// SPDX-License-Identifier: GPL-2.0-only
#include "server_fixture.h"

#include <chrono>

#include "kecho/servers.h"

namespace kecho::test {

const std::vector<EngineCase>& engine_cases() {
    static const std::vector<EngineCase> cases = [] {
        std::vector<EngineCase> out;  // user-echo-server's entries of the server registry
        for (const auto& s : servers)
            if (s.program == "user-echo-server") out.push_back({std::string(s.engine), std::string(s.mode)});
        return out;
    }();
    return cases;
}

std::string engine_case_name(const EngineCase& c) {
    return c.engine;
}

EchoServer::EchoServer(const std::string& engine, const std::vector<std::string>& extra)
    : ServerProcess(
          [&](int port) {
              std::vector<std::string> argv = {
                  binary("user-echo-server"), "--engine", engine, "--address", "127.0.0.1", "--port",
                  std::to_string(port)};
              argv.insert(argv.end(), extra.begin(), extra.end());
              return argv;
          },
          [](int port) { return "echoing on 127.0.0.1:" + std::to_string(port); }) {}

RunResult run_verify(const std::string& mode, int port, const std::vector<std::string>& extra) {
    std::vector<std::string> argv = {binary("bench"),      "--mode",     mode,    "--host", "127.0.0.1", "--port",
                                     std::to_string(port), "--workload", "verify"};
    argv.insert(argv.end(), extra.begin(), extra.end());
    return run(argv, std::chrono::seconds(240));
}

const std::vector<std::string>& verify_case_names() {
    static const std::vector<std::string> names = {
        "size-1B",          "size-4KiB", "size-64KiB",         "size-1MiB",      "size-16MiB",
        "all-byte-values",  "nul-heavy", "back-to-back-1000",  "concurrent-200", "half-close-1000",
        "reset-mid-stream", "mixed-64",  "non-reading-client",
    };
    return names;
}

}  // namespace kecho::test
