// The correctness battery every server's tests run: named cases, each pass or fail with a detail.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "kecho/net.h"

namespace kecho::bench {

struct CaseResult {
    std::string name;
    bool passed = false;
    std::string detail;
    double seconds = 0;
    nlohmann::json metrics = nlohmann::json::object();
};

struct VerifyOptions {
    bool quick = false;               // the seconds-long subset, shorter bounds
    std::vector<std::string> cases;   // run only these (any order given is kept); empty = all (or quick subset)
};

// Every case name, in the order the battery runs them.
const std::vector<std::string>& verify_case_names();
// The cases --quick runs when no --case is given.
const std::vector<std::string>& verify_quick_case_names();
bool is_verify_case(const std::string& name);

// Runs the selected cases against the server at `address`; `on_result` sees each result as soon as
// it is known (to print it). Returns every result in run order.
std::vector<CaseResult> run_verify(const SocketAddress& address, const VerifyOptions& options,
                                   const std::function<void(const CaseResult&)>& on_result = {});

// "PASS size-1B 1 byte echoed in 0.000 s" / "FAIL ...": one line, no newline.
std::string format_case_line(const CaseResult& result);

// {"cases":[...], "passed":N, "failed":M}
nlohmann::json verify_json(const std::vector<CaseResult>& results);

}  // namespace kecho::bench
