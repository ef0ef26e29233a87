// SPDX-License-Identifier: GPL-2.0-only
#include "kecho/error.h"

#include <cctype>
#include <cstring>

namespace kecho {

std::string errno_message(const std::string& what, int err) {
    std::string reason = std::strerror(err);
    if (!reason.empty()) reason[0] = static_cast<char>(std::tolower(static_cast<unsigned char>(reason[0])));
    return what + ": " + reason;
}

void throw_errno(const std::string& what, int err) {
    throw Error(errno_message(what, err));
}

}  // namespace kecho
