// SPDX-License-Identifier: GPL-2.0-only
// Errors crossing a component boundary: one lowercase line that says what failed and why.
#pragma once

#include <stdexcept>
#include <string>

namespace kecho {

// A failure the user can act on; what() is the full message (lowercase, no trailing period).
class Error : public std::runtime_error {
public:
    explicit Error(const std::string& message) : std::runtime_error(message) {}
};

// "<what>: <strerror(err)>", with strerror's first letter lowercased.
std::string errno_message(const std::string& what, int err);

// Throws Error(errno_message(what, err)).
[[noreturn]] void throw_errno(const std::string& what, int err);

}  // namespace kecho
