// SPDX-License-Identifier: GPL-2.0-only
// Accepting on several threads (`attach --threads N`) and closing without losing bytes: every thread
// serves, a burst of connections that send before they are accepted all echo, counters add up, and
// half-closing clients get every byte back before end-of-file.
#include <dirent.h>
#include <gtest/gtest.h>
#include <sys/epoll.h>
#include <sys/socket.h>

#include <cstdio>
#include <nlohmann/json.hpp>
#include <thread>

#include "kecho/error.h"
#include "loader_fixture.h"

namespace kecho::bpftest {
namespace {

class Threads : public BpfTest {};

using std::chrono::seconds;

nlohmann::json stats_json(const Loader& loader) {
    auto r = loader.run({"stats", "--json"});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    return nlohmann::json::parse(r.out);
}

int thread_count(pid_t pid) {
    int n = 0;
    DIR* dir = ::opendir(("/proc/" + std::to_string(pid) + "/task").c_str());
    if (!dir) return 0;
    while (dirent* entry = ::readdir(dir)) n += entry->d_name[0] != '.';
    ::closedir(dir);
    return n;
}

std::string message_of(int i) {
    char text[65];
    std::snprintf(text, sizeof(text), "burst connection %06d: %038d\n", i, i * 7919);
    return std::string(text, 64);
}

struct BurstConnection {
    UniqueFd fd;
    std::size_t sent = 0;
    std::string got;
    bool eof = false;
};

// Opens `count` connections at once; each sends its own 64 bytes as soon as it is connected (before
// the server accepts it), shuts down writing, and reads until end-of-file. Returns how many got
// exactly their own bytes back, then end-of-file.
int burst_of_half_closing_connections(const SocketAddress& to, int count) {
    UniqueFd ep(::epoll_create1(EPOLL_CLOEXEC));
    std::vector<BurstConnection> conns(static_cast<std::size_t>(count));
    for (int i = 0; i < count; ++i) {
        auto& c = conns[static_cast<std::size_t>(i)];
        c.fd.reset(::socket(to.family(), SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
        if (!c.fd || (::connect(c.fd.get(), to.get(), to.length) != 0 && errno != EINPROGRESS)) return -1;
        epoll_event ev{};
        ev.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP;
        ev.data.u32 = static_cast<std::uint32_t>(i);
        ::epoll_ctl(ep.get(), EPOLL_CTL_ADD, c.fd.get(), &ev);
    }
    int finished = 0;
    auto deadline = std::chrono::steady_clock::now() + seconds(60);
    epoll_event events[256];
    while (finished < count && std::chrono::steady_clock::now() < deadline) {
        int n = ::epoll_wait(ep.get(), events, 256, 200);
        for (int e = 0; e < n; ++e) {
            auto i = static_cast<int>(events[e].data.u32);
            auto& c = conns[static_cast<std::size_t>(i)];
            const std::string m = message_of(i);
            if ((events[e].events & EPOLLOUT) && c.sent < m.size()) {
                ssize_t w = ::send(c.fd.get(), m.data() + c.sent, m.size() - c.sent, MSG_NOSIGNAL);
                if (w > 0) c.sent += static_cast<std::size_t>(w);
                if (c.sent == m.size()) ::shutdown(c.fd.get(), SHUT_WR);
            }
            char buf[256];
            ssize_t r = ::recv(c.fd.get(), buf, sizeof(buf), 0);
            if (r > 0) c.got.append(buf, static_cast<std::size_t>(r));
            if ((r == 0 || (r < 0 && errno != EAGAIN)) && !c.eof) {
                c.eof = true;
                ++finished;
                ::epoll_ctl(ep.get(), EPOLL_CTL_DEL, c.fd.get(), nullptr);
            }
        }
    }
    int exact = 0;
    for (int i = 0; i < count; ++i)
        exact += conns[static_cast<std::size_t>(i)].eof && conns[static_cast<std::size_t>(i)].got == message_of(i);
    return exact;
}

TEST_F(Threads, FourThreadsAllServeAndTheCountersAddUp) {
    Loader loader({"--threads", "4"});
    ASSERT_TRUE(loader.ready()) << loader.output();
    EXPECT_NE(loader.output().find("4 accept threads"), std::string::npos) << loader.output();
    EXPECT_EQ(thread_count(loader.process().pid()), 5) << "4 accept threads and the main thread, running once ready";
    EXPECT_EQ(loader.state().threads, 4);

    constexpr int count = 1000;
    EXPECT_EQ(burst_of_half_closing_connections(loader.address(), count), count);
    nlohmann::json j;
    auto deadline = std::chrono::steady_clock::now() + seconds(20);
    do {  // each connection closes once drained
        j = stats_json(loader);
        if (j["connections"]["closed"] == count) break;
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
    } while (std::chrono::steady_clock::now() < deadline);
    EXPECT_EQ(j["connections"]["accepted"], count);
    EXPECT_EQ(j["connections"]["closed"], count);
    EXPECT_EQ(j["connections"]["active"], 0);
    EXPECT_EQ(j["connections"]["drain_timeouts"], 0);
    EXPECT_EQ(j["bytes"]["received"], 64 * count);
    EXPECT_EQ(j["bytes"]["echoed"], 64 * count);
}

TEST_F(Threads, FourThreadsPassBenchVerifyAndAThousandThreadBurst) {
    Loader loader({"--threads", "4"});
    ASSERT_TRUE(loader.ready()) << loader.output();
    const std::string port = std::to_string(loader.port());
    auto verify = test::run({test::binary("bench"), "--mode", "bpf", "--host", "127.0.0.1", "--port", port,
                             "--workload", "verify", "--quick"},
                            seconds(120));
    EXPECT_EQ(verify.exit_code, 0) << verify.out << verify.err;
    EXPECT_NE(verify.out.find(" 0 failed"), std::string::npos) << verify.out;
    // kecho's burst: 1,000 threads released together, each connects and checks its echo.
    auto burst = test::run({test::binary("bench"), "--mode", "bpf", "--host", "127.0.0.1", "--port", port, "--workload",
                            "burst", "--threads", "1000", "--rounds", "2"},
                           seconds(120));
    EXPECT_EQ(burst.exit_code, 0) << burst.out << burst.err;
    EXPECT_EQ(burst.err.find("error"), std::string::npos) << burst.err;
    auto j = stats_json(loader);
    EXPECT_EQ(j["connections"]["echoed_in_user_space"], 0);
    EXPECT_EQ(j["redirect_failures"], 0);
}

TEST_F(Threads, HalfClosingClientsLoseNoByteOnEveryThreadCount) {
    for (const char* threads : {"1", "3"}) {
        Loader loader({"--threads", threads});
        ASSERT_TRUE(loader.ready()) << loader.output();
        SCOPED_TRACE(std::string("--threads ") + threads);
        int good = 0;
        for (int i = 0; i < 200; ++i) {
            // Large enough that the echo is still in flight when the FIN arrives.
            std::string data = random_bytes(1000 + static_cast<std::size_t>(i) * 4099, static_cast<unsigned>(i));
            auto r = echo_once(loader.address(), data, true);
            const bool ok = r.bytes == data && r.eof && !r.error;
            good += ok;
            if (!ok)
                ADD_FAILURE() << "connection " << i << ": sent " << data.size() << " bytes, got " << r.bytes.size()
                              << (r.eof ? ", end-of-file" : ", no end-of-file") << (r.error ? ", an error" : "")
                              << (r.bytes == data.substr(0, r.bytes.size()) ? " (a prefix)" : " (different bytes)");
        }
        EXPECT_EQ(good, 200);
        auto j = stats_json(loader);
        EXPECT_EQ(j["connections"]["drain_timeouts"], 0);
        EXPECT_EQ(j["connections"]["echoed_in_user_space"], 0);
        EXPECT_GE(j["connections"]["drain_checks"], j["connections"]["closed"])
            << "every close is checked: " << j.dump();
    }
}

TEST_F(Threads, BadThreadCountsAreUsageErrors) {
    auto cmd = fresh_loader_command();
    for (const char* bad : {"0", "65", "-2", "four", ""}) {
        SCOPED_TRACE(std::string("--threads '") + bad + "'");
        auto r = test::run({test::binary("echo-loader"), "--run-dir", cmd.run_dir, "attach", "--threads", bad});
        EXPECT_EQ(r.exit_code, 2) << r.out << r.err;
        EXPECT_EQ(r.err.rfind("echo-loader: ", 0), 0u) << r.err;
        ASSERT_GT(r.err.size(), 13u);
        EXPECT_FALSE(std::isupper(static_cast<unsigned char>(r.err[13]))) << "not lowercase: " << r.err;
        EXPECT_NE(r.err.find("--threads"), std::string::npos) << r.err;
    }
    auto help = test::run({test::binary("echo-loader"), "attach", "--help"});
    EXPECT_NE(help.out.find("default: the online CPUs, at most 8"), std::string::npos) << help.out;
}

}  // namespace
}  // namespace kecho::bpftest
