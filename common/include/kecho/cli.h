// CLI11 glue shared by every binary: errors in one lowercase line, exit 2 for bad usage.
#pragma once

#include <CLI/CLI.hpp>

#include <string>

namespace kecho::cli {

// Exit codes of every binary.
inline constexpr int exit_ok = 0;
inline constexpr int exit_failure = 1;  // runtime failure
inline constexpr int exit_usage = 2;    // bad arguments

// Parses argv, adding --version (project version and git commit). On --help prints help and returns exit_ok; on a usage error prints
// "<program>: <lowercase message>" and "run '<program> --help' for usage" to stderr and returns
// exit_usage. Returns -1 when parsing succeeded and the program should go on.
int parse(CLI::App& app, int argc, char** argv);

// CLI11 validator for byte counts with K/M/G suffixes (parsed with kecho::parse_bytes).
CLI::Validator bytes_validator();

}  // namespace kecho::cli
