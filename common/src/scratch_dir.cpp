// SPDX-License-Identifier: GPL-2.0-only
#include "kecho/scratch_dir.h"

#include <stdlib.h>

#include <cerrno>
#include <filesystem>
#include <vector>

#include "kecho/error.h"

namespace kecho {

ScratchDir::ScratchDir(const std::string& prefix) {
    std::string pattern = "/tmp/" + prefix + ".XXXXXX";
    std::vector<char> name(pattern.begin(), pattern.end());
    name.push_back('\0');
    if (!::mkdtemp(name.data())) throw_errno("cannot create a temporary directory " + pattern, errno);
    path_ = name.data();
}

ScratchDir::~ScratchDir() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
}

}  // namespace kecho
