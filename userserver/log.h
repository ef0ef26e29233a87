// SPDX-License-Identifier: GPL-2.0-only
// Diagnostics on stderr, one whole line per write so threads never interleave. stdout carries
// only the "echoing on" line.
#pragma once

#include <atomic>
#include <string>

namespace kecho::userserver {

void log_line(const std::string& line);

// Accept errors that mean "out of descriptors or memory": the loop pauses accepting for a moment
// instead of spinning on a listener that stays readable, and the first one is reported.
class AcceptErrors {
public:
    static constexpr int pause_ms = 100;

    // Classifies errno from accept. Returns true when accepting should pause (EMFILE, ENFILE,
    // ENOBUFS, ENOMEM), false for a transient per-connection error that is simply skipped.
    // Throws kecho::Error for an error that means the listener itself is broken.
    static bool should_pause(int err);

    // Number of pauses so far (all threads); used for the summary at exit.
    static unsigned long pauses() { return pauses_.load(); }

private:
    static std::atomic<unsigned long> pauses_;
};

}  // namespace kecho::userserver
