// SPDX-License-Identifier: GPL-2.0-only
// The project version (CMake's project(VERSION)) and the git commit the binary was built from.
#pragma once

#include <string>

namespace kecho {

const char* project_version();  // e.g. "0.1.0"
const char* git_commit();       // short hash, "-dirty" when tracked files were changed; "unknown" outside a checkout

// "<program> <version> (commit <hash>)": what every binary's --version prints.
std::string version_line(const std::string& program);

}  // namespace kecho
