// SPDX-License-Identifier: GPL-2.0-only
// Test support: blocking socket I/O as a simple client does it (timeouts are the socket's own).
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace kecho::test {

// Sends all of `data`; false on error or the socket's send timeout.
bool send_all(int fd, std::string_view data);

// Reads n bytes; fewer on end-of-file, error or the socket's receive timeout.
std::string recv_exactly(int fd, std::size_t n);

}  // namespace kecho::test
