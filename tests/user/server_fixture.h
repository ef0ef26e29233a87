// SPDX-License-Identifier: GPL-2.0-only
// Starting user-echo-server for a test: a free port, the ready line, a clean stop.
#pragma once

#include <ostream>
#include <string>
#include <vector>

#include "process.h"

namespace kecho::test {

// The engines every behavioural test runs against, and the bench mode that drives each.
struct EngineCase {
    std::string engine;      // --engine
    std::string bench_mode;  // bench --mode
};
const std::vector<EngineCase>& engine_cases();
std::string engine_case_name(const EngineCase& c);  // for test names
inline void PrintTo(const EngineCase& c, std::ostream* os) {
    *os << c.engine;
}  // readable failures

// A running user-echo-server on a free loopback port; stopped (SIGTERM) by the destructor.
class EchoServer : public ServerProcess {
public:
    // Starts user-echo-server --engine <engine> --address 127.0.0.1 --port <free> <extra...> and
    // waits for its ready line; ok() says whether it came.
    EchoServer(const std::string& engine, const std::vector<std::string>& extra = {});
    bool ok() const { return ready(); }
};

// Runs `bench --mode <mode> --host 127.0.0.1 --port <port> --workload verify <extra...>`.
RunResult run_verify(const std::string& mode, int port, const std::vector<std::string>& extra = {});

// The names of every case bench's verify battery runs.
const std::vector<std::string>& verify_case_names();

}  // namespace kecho::test
