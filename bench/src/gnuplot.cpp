// SPDX-License-Identifier: GPL-2.0-only
#include "bench/gnuplot.h"

#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "kecho/error.h"

namespace kecho::bench {

ScratchDir::ScratchDir() {
    char dir[] = "/tmp/kecho-bench-plot.XXXXXX";
    if (!::mkdtemp(dir)) throw_errno("cannot create a temporary directory for the plot", errno);
    path_ = dir;
}

ScratchDir::~ScratchDir() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
}

std::string gnuplot_terminal(const std::string& path, int width, int height) {
    const bool svg = std::filesystem::path(path).extension() == ".svg";
    return (svg ? "svg size " : "pngcairo size ") + std::to_string(width) + "," + std::to_string(height) +
           (svg ? " dynamic" : " font ',10'");
}

void run_gnuplot(const ScratchDir& scratch, const std::string& script, const std::string& what) {
    const std::string script_path = scratch.file("plot.gp"), err_path = scratch.file("gnuplot.err");
    {
        std::ofstream out(script_path);
        out << script;
        if (!out) throw Error("cannot write the gnuplot script for " + what);
    }
    const std::string command = "gnuplot '" + script_path + "' 2>'" + err_path + "'";
    const int rc = std::system(command.c_str());
    if (rc == 0) return;
    if (WIFEXITED(rc) && WEXITSTATUS(rc) == 127)
        throw Error("cannot draw " + what + ": gnuplot is not installed (apt-get install gnuplot-nox)");
    std::ifstream in(err_path);
    std::string line, text;
    while (std::getline(in, line))  // the message is the last non-empty line (the ones above quote the script)
        if (line.find_first_not_of(" \t^") != std::string::npos) text = line;
    line = text;
    throw Error("gnuplot failed to draw " + what + (line.empty() ? "" : ": " + line));
}

}  // namespace kecho::bench
