// SPDX-License-Identifier: GPL-2.0-only
// Test support for the bpf suite: an echo-loader instance isolated from any other (its own port,
// runtime directory and cgroup), and small clients that check what comes back.
#pragma once

#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "instance.h"
#include "kecho/cli.h"
#include "kecho/net.h"
#include "process.h"

namespace kecho::bpftest {

// Root is needed to load BPF; CI runs as root, so there this fails instead of skipping.
class BpfTest : public ::testing::Test {
protected:
    void SetUp() override;
};

// The cgroup v2 mount point of this host (fails the test if there is none).
std::string cgroup2_root();

class Loader {
public:
    // Starts `echo-loader attach` on 127.0.0.1 (or `address`) with `extra` arguments and waits for
    // its ready line (ready() says whether it came).
    explicit Loader(std::vector<std::string> extra = {}, std::string address = "127.0.0.1");
    Loader(const Loader&) = delete;
    Loader& operator=(const Loader&) = delete;
    ~Loader();

    bool ready() const { return server_->ready(); }
    int port() const { return server_->port(); }
    const std::string& run_dir() const { return run_dir_; }
    const std::string& cgroup() const { return cgroup_; }
    SocketAddress address() const;
    test::Process& process() { return server_->process(); }
    std::string output() const { return server_->output(); }
    loader::InstanceState state() const;

    // Runs `echo-loader --run-dir <ours> <args...>` to completion.
    test::RunResult run(const std::vector<std::string>& args,
                        std::chrono::milliseconds timeout = std::chrono::seconds(30)) const;

private:
    std::string address_;
    std::string run_dir_;
    std::string cgroup_;
    std::unique_ptr<test::ServerProcess> server_;
};

// Command line of echo-loader with a fresh runtime directory and cgroup (for tests that start it
// themselves): {binary, --run-dir, dir, attach, --port, port, --cgroup, cgroup}.
struct LoaderCommand {
    std::string run_dir;
    std::string cgroup;
    int port = 0;
    std::vector<std::string> attach_argv() const;
    ~LoaderCommand();
};
LoaderCommand fresh_loader_command();

// Sends `data` on a new connection and returns what came back before `expected` bytes (or EOF or the
// timeout). With half_close the write side is shut after sending and EOF must follow the echo.
struct EchoResult {
    std::string bytes;
    bool eof = false;
    bool error = false;
};
EchoResult echo_once(const SocketAddress& to, const std::string& data, bool half_close = false,
                     std::chrono::milliseconds timeout = std::chrono::seconds(10));

std::string random_bytes(std::size_t n, unsigned seed);

// /proc/meminfo field in bytes (MemAvailable, Slab, ...).
std::int64_t meminfo_bytes(const std::string& field);

// Raises RLIMIT_NOFILE's soft limit to the hard limit; returns the new soft limit.
using kecho::cli::raise_fd_limit;

}  // namespace kecho::bpftest
