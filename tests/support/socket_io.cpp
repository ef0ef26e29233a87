// SPDX-License-Identifier: GPL-2.0-only
#include "socket_io.h"

#include <sys/socket.h>

#include <algorithm>
#include <vector>

namespace kecho::test {

bool send_all(int fd, std::string_view data) {
    while (!data.empty()) {
        ssize_t sent = ::send(fd, data.data(), data.size(), MSG_NOSIGNAL);
        if (sent <= 0) return false;
        data.remove_prefix(static_cast<std::size_t>(sent));
    }
    return true;
}

std::string recv_exactly(int fd, std::size_t n) {
    std::string got;
    std::vector<char> buffer(1 << 20);
    while (got.size() < n) {
        ssize_t r = ::recv(fd, buffer.data(), std::min(buffer.size(), n - got.size()), 0);
        if (r <= 0) break;
        got.append(buffer.data(), static_cast<std::size_t>(r));
    }
    return got;
}

}  // namespace kecho::test
