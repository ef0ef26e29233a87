// SPDX-License-Identifier: GPL-2.0-only
// CLI11 glue shared by every binary: errors in one lowercase line, exit 2 for bad usage.
#pragma once

#include <CLI/CLI.hpp>

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace kecho::cli {

// Exit codes of every binary.
inline constexpr int exit_ok = 0;
inline constexpr int exit_failure = 1;  // runtime failure
inline constexpr int exit_usage = 2;    // bad arguments

// Parses argv, adding --version (project version and git commit). On --help prints help and returns exit_ok; on a usage
// error prints
// "<program>: <lowercase message>" and "run '<program> --help' for usage" to stderr and returns
// exit_usage. Returns -1 when parsing succeeded and the program should go on.
int parse(CLI::App& app, int argc, char** argv);
// The same with the arguments (after the program name) already in a vector, in order.
int parse(CLI::App& app, std::vector<std::string> args);

// A CLI11 transformer from a converter that throws kecho::Error on bad input: the value becomes
// what `convert` returns (a plain number the option's integer binds to, say), and the error's
// message is what the user sees. `name` is the value's name in --help after the type (TEXT:ADDR);
// empty when the option sets its own type_name.
CLI::Validator transformer(std::function<std::string(const std::string&)> convert, const std::string& name);

// The same for a parser that only checks: the value is kept as given.
CLI::Validator validator(std::function<void(const std::string&)> parse, const std::string& name);

// Byte counts with K/M/G suffixes (kecho::parse_bytes) in [min, max], rewritten as a plain number
// so the option binds to an integer ("64K" -> 65536).
CLI::Validator bytes_transformer(std::uint64_t min = 0, std::uint64_t max = UINT64_MAX,
                                 const std::string& name = "BYTES");

// A TCP port (kecho::parse_port: 1 to 65535), rewritten as a plain number.
CLI::Validator port_transformer(const std::string& name = "PORT");

// Takes the hard RLIMIT_NOFILE as the soft limit: every connection costs a descriptor. Returns the
// limit now in force.
std::uint64_t raise_fd_limit();

}  // namespace kecho::cli
