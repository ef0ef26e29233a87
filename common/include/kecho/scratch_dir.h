// SPDX-License-Identifier: GPL-2.0-only
// A fresh directory under /tmp, removed with everything in it when the owner goes out of scope.
#pragma once

#include <string>

namespace kecho {

class ScratchDir {
public:
    // /tmp/PREFIX.XXXXXX (mkdtemp).
    explicit ScratchDir(const std::string& prefix);
    ~ScratchDir();
    ScratchDir(const ScratchDir&) = delete;
    ScratchDir& operator=(const ScratchDir&) = delete;

    const std::string& path() const { return path_; }
    std::string file(const std::string& name) const { return path_ + "/" + name; }

private:
    std::string path_;
};

}  // namespace kecho
