// SPDX-License-Identifier: GPL-2.0-only
// The echo itself: byte-exact for every size, IPv4 and IPv6, the bench's full verify suite, the
// diagnostic insert modes, and 10,000 connections held open at once.
#include <gtest/gtest.h>
#include <poll.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/time.h>

#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <thread>

#include "kecho/error.h"
#include "loader_fixture.h"
#include "socket_io.h"

namespace kecho::bpftest {
namespace {

class Echo : public BpfTest {};

nlohmann::json stats_json(const Loader& loader) {
    auto r = loader.run({"stats", "--json"});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    return nlohmann::json::parse(r.out);
}

// bench --workload verify against the loader; returns the parsed --json report.
nlohmann::json run_verify(const Loader& loader, std::vector<std::string> extra) {
    std::string json_path = loader.run_dir() + "/verify.json";
    std::vector<std::string> argv = {
        test::binary("bench"),         "--mode",     "bpf",    "--host", "127.0.0.1", "--port",
        std::to_string(loader.port()), "--workload", "verify", "--json", json_path};
    argv.insert(argv.end(), extra.begin(), extra.end());
    auto r = test::run(argv, std::chrono::seconds(120));
    EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
    EXPECT_NE(r.out.find("verify: "), std::string::npos) << r.out;
    EXPECT_NE(r.out.find(" 0 failed"), std::string::npos) << r.out;
    std::ifstream in(json_path);
    if (!in) {
        ADD_FAILURE() << "bench wrote no " << json_path;
        return nlohmann::json::object();
    }
    return nlohmann::json::parse(in);
}

TEST_F(Echo, EverySizeComesBackByteExact) {
    Loader loader;
    ASSERT_TRUE(loader.ready()) << loader.output();
    unsigned seed = 1;
    for (std::size_t size :
         {std::size_t{1}, std::size_t{4096}, std::size_t{65536}, std::size_t{1} << 20, std::size_t{16} << 20}) {
        std::string data = random_bytes(size, seed++);
        auto r = echo_once(loader.address(), data, false, std::chrono::seconds(20));
        EXPECT_FALSE(r.error) << size;
        EXPECT_TRUE(r.bytes == data) << "size " << size << ": got " << r.bytes.size() << " bytes back";
    }
    std::string all;
    for (int round = 0; round < 64; ++round)
        for (int b = 0; b < 256; ++b) all.push_back(static_cast<char>(b));
    std::string nul(100000, '\0');
    EXPECT_TRUE(echo_once(loader.address(), all).bytes == all);
    EXPECT_TRUE(echo_once(loader.address(), nul).bytes == nul);
}

// The urgent-data policy every server follows: an urgent byte is ordinary data, echoed inline and
// in place, in the kernel as in the loader's user-space fallback (--insert none).
TEST_F(Echo, UrgentBytesAreEchoedInlineAndInPlace) {
    for (const char* insert : {"sockops", "none"}) {
        SCOPED_TRACE(std::string("--insert ") + insert);
        Loader loader({"--insert", insert});
        ASSERT_TRUE(loader.ready()) << loader.output();
        UniqueFd fd = connect_to(loader.address());
        timeval wait{10, 0};
        ::setsockopt(fd.get(), SOL_SOCKET, SO_RCVTIMEO, &wait, sizeof(wait));
        const std::string before = random_bytes(3000, 1), after = random_bytes(200000, 2);
        ASSERT_TRUE(test::send_all(fd.get(), before));
        ASSERT_EQ(::send(fd.get(), "!", 1, MSG_OOB), 1);
        ASSERT_TRUE(test::send_all(fd.get(), after));
        ::shutdown(fd.get(), SHUT_WR);
        const std::string expected = before + "!" + after;
        const std::string echoed = test::recv_exactly(fd.get(), expected.size() + 1);  // then end-of-file
        EXPECT_EQ(echoed.size(), expected.size());
        EXPECT_TRUE(echoed == expected) << "the echo differs from what was sent, urgent byte inline";
    }
}

TEST_F(Echo, HalfClosingClientsGetEveryByteThenEof) {
    Loader loader;
    ASSERT_TRUE(loader.ready()) << loader.output();
    int good = 0;
    for (int i = 0; i < 300; ++i) {
        std::string data = random_bytes(100 + static_cast<std::size_t>(i) * 37, static_cast<unsigned>(i));
        auto r = echo_once(loader.address(), data, true);
        if (r.bytes == data && r.eof && !r.error) ++good;
    }
    EXPECT_EQ(good, 300);
    auto j = stats_json(loader);
    EXPECT_EQ(j["connections"]["drain_timeouts"], 0);
    EXPECT_EQ(j["connections"]["accepted"], 300);
}

TEST_F(Echo, Ipv6AndDualStack) {
    Loader loader({}, "::");
    ASSERT_TRUE(loader.ready()) << loader.output();
    EXPECT_NE(loader.output().find("echoing on [::]:"), std::string::npos) << loader.output();
    std::string data = random_bytes(200000, 7);
    auto v6 = echo_once(parse_address("::1", static_cast<std::uint16_t>(loader.port())), data, true);
    EXPECT_TRUE(v6.bytes == data && v6.eof);
    auto v4 = echo_once(parse_address("127.0.0.1", static_cast<std::uint16_t>(loader.port())), data, true);
    EXPECT_TRUE(v4.bytes == data && v4.eof);
    auto j = stats_json(loader);
    EXPECT_EQ(j["connections"]["inserted_by_sockops"], 2);
    EXPECT_EQ(j["connections"]["echoed_in_user_space"], 0);
}

TEST_F(Echo, BenchVerifyPassesInFull) {
    Loader loader;
    ASSERT_TRUE(loader.ready()) << loader.output();
    auto report = run_verify(loader, {});
    ASSERT_TRUE(report.contains("cases")) << report.dump();
    std::set<std::string> names;
    for (const auto& c : report["cases"]) {
        names.insert(c["name"].get<std::string>());
        EXPECT_TRUE(c["passed"].get<bool>()) << c.dump();
    }
    for (const char* name :
         {"size-1B", "size-4KiB", "size-64KiB", "size-1MiB", "size-16MiB", "all-byte-values", "nul-heavy",
          "back-to-back-1000", "concurrent-200", "half-close-1000", "reset-mid-stream", "non-reading-client"})
        EXPECT_TRUE(names.count(name)) << "bench did not run " << name;
    EXPECT_EQ(report["failed"], 0);
    // The kernel did the echo: nothing went through user space.
    auto j = stats_json(loader);
    EXPECT_EQ(j["connections"]["echoed_in_user_space"], 0);
    EXPECT_EQ(j["redirect_failures"], 0);
    EXPECT_GE(j["connections"]["guard_resets"], 1) << "the non-reading client was not reset by the guard";
}

// The diagnostic modes: no meter, inserts by the loader after accept, and the user-space fallback
// used for connections that cannot be inserted.
TEST_F(Echo, BenchVerifyPassesWithoutMeterAndWithEveryInsertMode) {
    for (const std::vector<std::string>& extra :
         {std::vector<std::string>{"--no-meter"}, std::vector<std::string>{"--insert", "loader"},
          std::vector<std::string>{"--insert", "none"}}) {
        SCOPED_TRACE(extra.back());
        Loader loader(extra);
        ASSERT_TRUE(loader.ready()) << loader.output();
        auto report = run_verify(loader, {"--quick"});
        EXPECT_EQ(report.value("failed", -1), 0) << report.dump();
        auto j = stats_json(loader);
        auto accepted = j["connections"]["accepted"].get<std::uint64_t>();
        if (extra.back() == "none") {
            EXPECT_EQ(j["connections"]["echoed_in_user_space"], accepted);
            EXPECT_EQ(j["connections"]["inserted_by_sockops"], 0);
            EXPECT_GT(j["bytes"]["echoed_in_user_space"].get<std::uint64_t>(), 0u);
        } else if (extra.back() == "loader") {
            EXPECT_EQ(j["connections"]["inserted_by_sockops"], 0);
            EXPECT_GT(j["connections"]["inserted_by_loader"].get<std::uint64_t>(), 0u);
            // Whatever could not be inserted (peer already closed) was echoed in user space.
            EXPECT_EQ(j["connections"]["inserted_by_loader"].get<std::uint64_t>() +
                          j["connections"]["echoed_in_user_space"].get<std::uint64_t>(),
                      accepted);
        } else {
            EXPECT_EQ(j["bytes"]["echoed"], 0) << "the meter ran although it was off";
            EXPECT_GT(j["bytes"]["received"].get<std::uint64_t>(), 0u);
        }
    }
}

// A socket sockops could not insert (here: the map is full) is not dropped: the loader echoes it in
// user space and counts it.
TEST_F(Echo, ConnectionsThatDoNotFitTheMapAreEchoedInUserSpace) {
    Loader loader({"--max-connections", "4"});
    ASSERT_TRUE(loader.ready()) << loader.output();
    std::vector<UniqueFd> held;
    for (int i = 0; i < 10; ++i) held.push_back(connect_to(loader.address()));
    std::string data = random_bytes(100000, 42);
    for (auto& fd : held) {
        std::size_t sent = 0;
        std::string back;
        char buf[65536];
        while (back.size() < data.size()) {
            if (sent < data.size()) {
                ssize_t w = ::send(fd.get(), data.data() + sent, std::min<std::size_t>(16384, data.size() - sent), 0);
                ASSERT_GT(w, 0);
                sent += static_cast<std::size_t>(w);
            }
            ssize_t r = ::recv(fd.get(), buf, sizeof(buf), sent < data.size() ? MSG_DONTWAIT : 0);
            if (r > 0) back.append(buf, static_cast<std::size_t>(r));
            if (r == 0) break;
        }
        EXPECT_TRUE(back == data);
    }
    auto j = stats_json(loader);
    EXPECT_EQ(j["connections"]["in_map"], 4);
    EXPECT_EQ(j["connections"]["inserted_by_sockops"], 4);
    EXPECT_EQ(j["connections"]["insert_failed"], 6);
    EXPECT_EQ(j["connections"]["echoed_in_user_space"], 6);
    EXPECT_EQ(j["bytes"]["echoed_in_user_space"], 6 * data.size());
}

// Out of file descriptors: the loader says so once, pauses accepting, and serves the waiting
// connections as soon as others close.
TEST_F(Echo, RunningOutOfFdsPausesAcceptingAndRecovers) {
    auto cmd = fresh_loader_command();
    std::vector<std::string> argv = {"/usr/bin/prlimit", "--nofile=64:64", "--"};
    auto attach = cmd.attach_argv();
    argv.insert(argv.end(), attach.begin(), attach.end());
    argv.insert(argv.end(), {"--threads", "2"});  // each accept thread pauses and resumes on its own
    test::Process loader(argv);
    ASSERT_TRUE(loader.wait_for_output("echoing on")) << loader.output();
    auto to = parse_address("127.0.0.1", static_cast<std::uint16_t>(cmd.port));
    std::vector<UniqueFd> held;
    // The loader itself uses about 30 fds (BPF objects, epolls, listeners...): about 34 connections fit.
    for (int i = 0; i < 60; ++i) held.push_back(connect_to(to));
    EXPECT_TRUE(loader.wait_for_output("too many open files", std::chrono::seconds(5))) << loader.output();
    // The last ones wait in the accept queues: free the first ones, then every waiting one echoes.
    std::vector<UniqueFd> waiting;
    for (std::size_t i = 40; i < held.size(); ++i) waiting.push_back(std::move(held[i]));
    held.clear();
    for (auto& fd : waiting) {
        ASSERT_EQ(::send(fd.get(), "abcdef", 6, 0), 6);
        char buf[6];
        pollfd p{fd.get(), POLLIN, 0};
        ASSERT_EQ(::poll(&p, 1, 5000), 1) << "a waiting connection was never echoed";
        ASSERT_EQ(::recv(fd.get(), buf, 6, MSG_WAITALL), 6);
        EXPECT_EQ(std::string(buf, 6), "abcdef");
    }
    EXPECT_TRUE(loader.running());
}

TEST_F(Echo, StatsIntervalPrintsTheCounters) {
    Loader loader({"--stats-interval", "1"});
    ASSERT_TRUE(loader.ready()) << loader.output();
    std::string data = random_bytes(1000, 1);
    EXPECT_TRUE(echo_once(loader.address(), data, true).bytes == data);
    EXPECT_TRUE(loader.process().wait_for_output("received 1000, echoed 1000", std::chrono::seconds(5)))
        << loader.output();
}

TEST_F(Echo, TenThousandConnectionsHeldOpenAllEcho) {
    constexpr int count = 10000;
    ASSERT_GE(raise_fd_limit(), count + 100) << "RLIMIT_NOFILE hard limit too low for this test";
    Loader loader;
    ASSERT_TRUE(loader.ready()) << loader.output();
    SocketAddress to = loader.address();

    UniqueFd ep(::epoll_create1(EPOLL_CLOEXEC));
    std::vector<UniqueFd> fds;
    fds.reserve(count);
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    // Connect in batches below the backlog, so the accept queue never overflows.
    for (int i = 0; i < count; ++i) {
        UniqueFd fd(::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
        ASSERT_TRUE(fd.valid()) << errno_message("socket", errno) << " at " << i;
        int r = ::connect(fd.get(), to.get(), to.length);
        ASSERT_TRUE(r == 0 || errno == EINPROGRESS) << errno_message("connect", errno) << " at " << i;
        epoll_event ev{};
        ev.events = EPOLLIN;
        ev.data.u32 = static_cast<std::uint32_t>(i);
        ASSERT_EQ(::epoll_ctl(ep.get(), EPOLL_CTL_ADD, fd.get(), &ev), 0);
        fds.push_back(std::move(fd));
        if (i % 1000 == 999) std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    // Every connection is accepted and in the map before the traffic starts.
    std::uint64_t in_map = 0;
    while (std::chrono::steady_clock::now() < deadline) {
        auto j = stats_json(loader);
        in_map = j["connections"]["in_map"].get<std::uint64_t>();
        if (in_map >= count && j["connections"]["active"] == count) break;
        std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }
    EXPECT_EQ(in_map, static_cast<std::uint64_t>(count));

    // Each connection sends its own 16 bytes; each must get exactly those back.
    auto message = [](int i) {
        char text[17];
        std::snprintf(text, sizeof(text), "conn-%010d\n", i);
        return std::string(text, 16);
    };
    for (int i = 0; i < count; ++i) {
        auto m = message(i);
        ASSERT_EQ(::send(fds[static_cast<size_t>(i)].get(), m.data(), m.size(), MSG_NOSIGNAL), 16) << i;
    }
    std::vector<std::string> got(count);
    int complete = 0;
    epoll_event events[512];
    while (complete < count && std::chrono::steady_clock::now() < deadline) {
        int n = ::epoll_wait(ep.get(), events, 512, 200);
        for (int e = 0; e < n; ++e) {
            auto i = events[e].data.u32;
            char buf[64];
            ssize_t r = ::recv(fds[i].get(), buf, sizeof(buf), 0);
            if (r <= 0) continue;
            got[i].append(buf, static_cast<size_t>(r));
            if (got[i].size() == 16) ++complete;
        }
    }
    int exact = 0;
    for (int i = 0; i < count; ++i) exact += got[static_cast<size_t>(i)] == message(i);
    EXPECT_EQ(exact, count);
    auto j = stats_json(loader);
    EXPECT_EQ(j["connections"]["echoed_in_user_space"], 0);
    EXPECT_EQ(j["bytes"]["received"], 16 * count);
}

}  // namespace
}  // namespace kecho::bpftest
