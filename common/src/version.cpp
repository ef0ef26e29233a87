// SPDX-License-Identifier: GPL-2.0-only
#include "kecho/version.h"

namespace kecho {

std::string version_line(const std::string& program) {
    return program + " " + project_version() + " (commit " + git_commit() + ")";
}

}  // namespace kecho
