// SPDX-License-Identifier: GPL-2.0-only
// Drawing with gnuplot: a scratch directory for data files and one call that runs a script.
#pragma once

#include <string>

namespace kecho::bench {

// A temporary directory, removed with everything in it when this goes out of scope.
class ScratchDir {
public:
    ScratchDir();
    ~ScratchDir();
    ScratchDir(const ScratchDir&) = delete;
    ScratchDir& operator=(const ScratchDir&) = delete;
    std::string file(const std::string& name) const { return path_ + "/" + name; }

private:
    std::string path_;
};

// Runs gnuplot on script (written into scratch). Throws Error saying what could not be drawn:
// gnuplot missing (with the package to install) or its first error line.
void run_gnuplot(const ScratchDir& scratch, const std::string& script, const std::string& what);

// gnuplot's terminal line for a .png or .svg path of this size.
std::string gnuplot_terminal(const std::string& path, int width, int height);

}  // namespace kecho::bench
