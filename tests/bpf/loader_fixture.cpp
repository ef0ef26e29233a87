// SPDX-License-Identifier: GPL-2.0-only
#include "loader_fixture.h"

#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <filesystem>
#include <fstream>
#include <random>
#include <thread>

#include "cgroup.h"
#include "kecho/error.h"

namespace kecho::bpftest {
namespace {

std::atomic<int> g_sequence{0};

std::string make_run_dir() {
    char tmpl[] = "/tmp/kecho-bpf-run-XXXXXX";
    if (!::mkdtemp(tmpl)) throw std::runtime_error("mkdtemp failed");
    return tmpl;
}

std::string unique_cgroup() {
    return cgroup2_root() + "/kecho-bpf-test-" + std::to_string(::getpid()) + "-" + std::to_string(g_sequence++);
}

}  // namespace

void BpfTest::SetUp() {
    if (::geteuid() != 0) KECHO_SKIP_UNLESS_REQUIRED("the bpf suite loads BPF programs: run it as root");
}

std::string cgroup2_root() {
    auto root = loader::find_cgroup2_root();
    if (!root) throw std::runtime_error("no cgroup v2 hierarchy mounted on this host");
    return *root;
}

Loader::Loader(std::vector<std::string> extra, std::string address)
    : address_(std::move(address)), run_dir_(make_run_dir()), cgroup_(unique_cgroup()) {
    server_ = std::make_unique<test::ServerProcess>(
        [&](int port) {
            std::vector<std::string> argv = {
                test::binary("echo-loader"), "--run-dir", run_dir_, "attach", "--address", address_, "--port",
                std::to_string(port),        "--cgroup",  cgroup_};
            argv.insert(argv.end(), extra.begin(), extra.end());
            return argv;
        },
        [](int) { return "echoing on"; }, std::chrono::seconds(15));
}

Loader::~Loader() {
    server_.reset();  // stops it (SIGTERM) before its directory goes
    std::error_code ec;
    std::filesystem::remove_all(run_dir_, ec);
    ::rmdir(cgroup_.c_str());  // only if a killed loader left it
}

SocketAddress Loader::address() const {
    std::string host = address_ == "0.0.0.0" ? "127.0.0.1" : address_ == "::" ? "::1" : address_;
    return parse_address(host, static_cast<std::uint16_t>(port()));
}

loader::InstanceState Loader::state() const {
    auto s = loader::read_instance_state(run_dir_);
    if (!s) throw std::runtime_error("no state file in " + run_dir_);
    return *s;
}

test::RunResult Loader::run(const std::vector<std::string>& args, std::chrono::milliseconds timeout) const {
    std::vector<std::string> argv = {test::binary("echo-loader"), "--run-dir", run_dir_};
    argv.insert(argv.end(), args.begin(), args.end());
    return test::run(argv, timeout);
}

std::vector<std::string> LoaderCommand::attach_argv() const {
    return {test::binary("echo-loader"), "--run-dir", run_dir, "attach", "--address", "127.0.0.1", "--port",
            std::to_string(port),        "--cgroup",  cgroup};
}

LoaderCommand::~LoaderCommand() {
    std::error_code ec;
    std::filesystem::remove_all(run_dir, ec);
    ::rmdir(cgroup.c_str());
}

LoaderCommand fresh_loader_command() {
    LoaderCommand c;
    c.run_dir = make_run_dir();
    c.cgroup = unique_cgroup();
    c.port = test::free_port();
    return c;
}

EchoResult echo_once(const SocketAddress& to, const std::string& data, bool half_close,
                     std::chrono::milliseconds timeout) {
    EchoResult result;
    UniqueFd fd;
    try {
        fd = connect_to(to, 5000);
    } catch (const Error&) {
        result.error = true;
        return result;
    }
    set_nonblocking(fd.get());
    auto deadline = std::chrono::steady_clock::now() + timeout;
    std::size_t sent = 0;
    bool shut = false;
    char buffer[65536];
    while (std::chrono::steady_clock::now() < deadline) {
        if (sent == data.size() && half_close && !shut) {
            ::shutdown(fd.get(), SHUT_WR);
            shut = true;
        }
        bool want_more = result.bytes.size() < data.size() || (half_close && !result.eof);
        if (!want_more) break;
        pollfd p{fd.get(), static_cast<short>(POLLIN | (sent < data.size() ? POLLOUT : 0)), 0};
        if (::poll(&p, 1, 50) < 0 && errno != EINTR) break;
        if (p.revents & POLLOUT) {
            ssize_t w = ::send(fd.get(), data.data() + sent, data.size() - sent, MSG_NOSIGNAL);
            if (w > 0)
                sent += static_cast<std::size_t>(w);
            else if (w < 0 && errno != EAGAIN) {
                result.error = true;
                break;
            }
        }
        if (p.revents & (POLLIN | POLLHUP | POLLERR)) {
            ssize_t r = ::recv(fd.get(), buffer, sizeof(buffer), 0);
            if (r > 0) {
                result.bytes.append(buffer, static_cast<std::size_t>(r));
            } else if (r == 0) {
                result.eof = true;
                break;
            } else if (errno != EAGAIN) {
                result.error = true;
                break;
            }
        }
    }
    return result;
}

std::string random_bytes(std::size_t n, unsigned seed) {
    std::mt19937 rng(seed);
    std::string s(n, '\0');
    for (auto& c : s) c = static_cast<char>(rng() & 0xff);
    return s;
}

std::int64_t meminfo_bytes(const std::string& field) {
    std::ifstream in("/proc/meminfo");
    std::string name;
    std::int64_t kib = 0;
    std::string unit;
    while (in >> name >> kib) {
        std::getline(in, unit);
        if (name == field + ":") return kib * 1024;
    }
    return -1;
}

}  // namespace kecho::bpftest
