// SPDX-License-Identifier: GPL-2.0-only
// What bench cannot see from the outside: the server's own memory while a client refuses to
// read, its descriptors when they run out, its exit on signals, its listeners and its log.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/time.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <fstream>
#include <sstream>
#include <thread>
#include <vector>

#include "kecho/net.h"
#include "server_fixture.h"
#include "socket_io.h"

namespace kecho::test {
namespace {

using namespace std::chrono_literals;
constexpr long MiB = 1024 * 1024;

UniqueFd connect_loopback(int port) {
    UniqueFd fd = connect_to(parse_address("127.0.0.1", static_cast<std::uint16_t>(port)), 5000);
    timeval timeout{20, 0};  // every blocking call below ends within 20 s
    ::setsockopt(fd.get(), SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout));
    ::setsockopt(fd.get(), SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof(timeout));
    return fd;
}

// Bytes with every value and no short period, different per connection.
std::string pattern(std::size_t n, std::uint32_t seed) {
    std::string data(n, '\0');
    std::uint32_t x = seed * 2654435761u + 1;
    for (auto& byte : data) {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        byte = static_cast<char>(x >> 24);
    }
    return data;
}

// user + system CPU time of a process in clock ticks.
long cpu_ticks(pid_t pid) {
    std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
    std::string stat((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    std::istringstream fields(stat.substr(stat.rfind(')') + 2));
    std::string field;
    long ticks = 0;
    for (int i = 3; fields >> field; ++i) {
        if (i == 14 || i == 15) ticks += std::stol(field);
        if (i == 15) break;
    }
    return ticks;
}

std::size_t count(const std::string& text, const std::string& what) {
    std::size_t n = 0;
    for (auto at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
    return n;
}

class Engine : public ::testing::TestWithParam<EngineCase> {
protected:
    const std::string& engine() const { return GetParam().engine; }
};

// Four clients each send 64 MiB and read nothing. The server must stop reading them (TCP flow
// control holds the clients) so its memory stays under --max-buffer x connections + a constant,
// and once they read, every byte comes back in order.
TEST_P(Engine, NonReadingClientsAreHeldWithBoundedMemory) {
    constexpr int connections = 4;
    constexpr long max_buffer = 1 * MiB;
    // The constant: the process itself (~4 MiB), a 256 KiB read buffer per thread, io_uring's
    // 4 MiB of provided buffers, and up to one read beyond the limit per connection.
    constexpr long constant = 24 * MiB;
    constexpr std::size_t total = 64 * MiB;

    EchoServer server(engine(), {"--max-buffer", "1M"});
    ASSERT_TRUE(server.ok()) << server.output();
    std::vector<UniqueFd> fds;
    std::vector<std::string> data;
    for (int i = 0; i < connections; ++i) {
        fds.push_back(connect_loopback(server.port()));
        data.push_back(pattern(total, static_cast<std::uint32_t>(i + 1)));
    }
    std::vector<std::atomic<std::size_t>> sent(connections);
    std::vector<std::thread> senders;
    for (int i = 0; i < connections; ++i) {
        senders.emplace_back([&, i] {
            const char* p = data[i].data();
            while (sent[i] < total) {
                ssize_t n =
                    ::send(fds[i].get(), p + sent[i], std::min<std::size_t>(MiB, total - sent[i]), MSG_NOSIGNAL);
                if (n <= 0) return;  // error, or 20 s without progress
                sent[i] += static_cast<std::size_t>(n);
            }
        });
    }

    long peak = 0;
    for (auto until = std::chrono::steady_clock::now() + 3s; std::chrono::steady_clock::now() < until;) {
        peak = std::max(peak, server.process().rss_bytes());
        std::this_thread::sleep_for(20ms);
    }
    for (int i = 0; i < connections; ++i)
        EXPECT_LT(sent[i].load(), total / 2)
            << "connection " << i << ": the server kept reading a client that never reads";

    for (int i = 0; i < connections; ++i) {
        std::string got;
        std::vector<char> buffer(4 * MiB);
        while (got.size() < total) {
            ssize_t r = ::recv(fds[i].get(), buffer.data(), buffer.size(), 0);
            if (r <= 0) break;
            got.append(buffer.data(), static_cast<std::size_t>(r));
            peak = std::max(peak, server.process().rss_bytes());
        }
        ASSERT_EQ(got.size(), total) << "connection " << i << " got back only " << got.size() << " bytes";
        EXPECT_TRUE(got == data[i]) << "connection " << i << ": the echo differs from what was sent";
    }
    for (auto& t : senders) t.join();
    for (int i = 0; i < connections; ++i) EXPECT_EQ(sent[i].load(), total);

    EXPECT_LT(peak, connections * max_buffer + constant)
        << "peak RSS " << peak / MiB << " MiB with " << connections << " x --max-buffer 1M";
    RecordProperty("peak_rss_mib", std::to_string(peak / MiB));
    EXPECT_TRUE(server.process().running()) << server.output();
}

// SIGTERM and SIGINT stop the server at once with exit 0, even with clients connected and
// bytes in flight.
TEST_P(Engine, SignalsExitZeroPromptly) {
    for (int sig : {SIGTERM, SIGINT}) {
        EchoServer server(engine());
        ASSERT_TRUE(server.ok()) << server.output();
        UniqueFd idle = connect_loopback(server.port());
        UniqueFd busy = connect_loopback(server.port());
        std::string burst = pattern(MiB, 7);
        ASSERT_TRUE(send_all(busy.get(), burst));  // echo queued, never read
        std::this_thread::sleep_for(100ms);
        auto start = std::chrono::steady_clock::now();
        EXPECT_EQ(server.process().stop(sig, 5s), 0) << strsignal(sig) << "\n" << server.output();
        EXPECT_LT(std::chrono::steady_clock::now() - start, 2s) << strsignal(sig) << " took too long";
    }
}

// The ready line is the only thing on stdout (and without --verbose, the only output at all).
TEST_P(Engine, PrintsOneReadyLine) {
    EchoServer server(engine());
    ASSERT_TRUE(server.ok()) << server.output();
    UniqueFd fd = connect_loopback(server.port());
    ASSERT_TRUE(send_all(fd.get(), "ping"));
    EXPECT_EQ(recv_exactly(fd.get(), 4), "ping");
    fd.reset();
    std::this_thread::sleep_for(100ms);
    EXPECT_EQ(server.output(),
              "echoing on 127.0.0.1:" + std::to_string(server.port()) + " (" + engine() + ", 1 thread)\n");
}

// The urgent-data policy (README): an urgent byte is ordinary data, echoed inline and in place;
// the connection goes on (it used to stall at the urgent mark, or reset under splice).
TEST_P(Engine, UrgentBytesAreEchoedInlineAndInPlace) {
    EchoServer server(engine());
    ASSERT_TRUE(server.ok()) << server.output();
    UniqueFd fd = connect_loopback(server.port());
    const std::string before = pattern(3000, 1), after = pattern(200000, 2);
    ASSERT_TRUE(send_all(fd.get(), before));
    ASSERT_EQ(::send(fd.get(), "!", 1, MSG_OOB), 1) << std::strerror(errno);
    ASSERT_TRUE(send_all(fd.get(), after));
    ::shutdown(fd.get(), SHUT_WR);
    const std::string expected = before + "!" + after;
    const std::string echoed = recv_exactly(fd.get(), expected.size() + 1);  // + 1: end-of-file follows
    EXPECT_EQ(echoed.size(), expected.size());
    EXPECT_TRUE(echoed == expected) << "the echo differs from what was sent, urgent byte inline";
}

// --verbose: one line when a connection opens and one when it closes, none per message.
TEST_P(Engine, VerboseLogsConnectionsNotMessages) {
    EchoServer server(engine(), {"--verbose"});
    ASSERT_TRUE(server.ok()) << server.output();
    {
        UniqueFd fd = connect_loopback(server.port());
        for (int i = 0; i < 100; ++i) {
            ASSERT_TRUE(send_all(fd.get(), "message"));
            ASSERT_EQ(recv_exactly(fd.get(), 7), "message");
        }
        ASSERT_EQ(::shutdown(fd.get(), SHUT_WR), 0);
        char byte;
        EXPECT_EQ(::recv(fd.get(), &byte, 1, 0), 0) << "the server did not close after the client's FIN";
    }
    std::this_thread::sleep_for(200ms);
    std::string log = server.output();
    EXPECT_EQ(count(log, "connection from 127.0.0.1:"), 1u) << log;
    EXPECT_EQ(count(log, "bytes echoed (peer closed)"), 1u) << log;
    EXPECT_NE(log.find("closed 127.0.0.1:"), std::string::npos) << log;
    EXPECT_NE(log.find(": 700 bytes echoed"), std::string::npos) << log;
    EXPECT_LT(count(log, "\n"), 8u) << log;
}

// --threads 2: two event loops, each with its own SO_REUSEPORT listener on the port.
TEST_P(Engine, TwoThreadsHaveTwoListeners) {
    EchoServer server(engine(), {"--threads", "2"});
    ASSERT_TRUE(server.ok()) << server.output();
    std::ifstream tcp("/proc/net/tcp");
    std::string line;
    char port_hex[8];
    std::snprintf(port_hex, sizeof(port_hex), ":%04X", server.port());
    int listeners = 0;
    while (std::getline(tcp, line)) {
        std::istringstream fields(line);
        std::string slot, local, remote, state;
        fields >> slot >> local >> remote >> state;
        if (local.size() > 5 && local.substr(local.size() - 5) == port_hex && state == "0A") ++listeners;
    }
    EXPECT_EQ(listeners, 2);
    // Connections spread over both loops, and each is echoed.
    for (int i = 0; i < 20; ++i) {
        UniqueFd fd = connect_loopback(server.port());
        std::string message = "hello " + std::to_string(i);
        ASSERT_TRUE(send_all(fd.get(), message));
        EXPECT_EQ(recv_exactly(fd.get(), message.size()), message);
    }
}

// Out of descriptors: the server reports it once, pauses accepting instead of spinning on a
// listener that stays readable, and accepts the waiting clients once descriptors free up.
TEST_P(Engine, DescriptorExhaustionIsReportedOnceAndDoesNotSpin) {
    int port = free_port();
    Process server({"/usr/bin/prlimit", "--nofile=48", "--", binary("user-echo-server"), "--engine", engine(),
                    "--address", "127.0.0.1", "--port", std::to_string(port)});
    ASSERT_TRUE(server.wait_for_output("echoing on")) << server.output();

    std::vector<UniqueFd> clients;
    for (int i = 0; i < 80; ++i) clients.push_back(connect_loopback(port));  // the backlog holds the rest
    std::this_thread::sleep_for(500ms);
    if (engine() != "floor") {  // floor spins by design
        long before = cpu_ticks(server.pid());
        std::this_thread::sleep_for(1s);
        long used = cpu_ticks(server.pid()) - before;
        EXPECT_LT(used, 30) << "the server used " << used << " ticks in 1 s while out of descriptors";
    }
    std::string log = server.output();
    EXPECT_EQ(count(log, "too many open files"), 1u) << log;

    // Free descriptors; the last client (never accepted so far) must now be served. Five clients
    // stay open: room for them under the limit even where a connection costs three descriptors
    // (splice: the socket and a pipe).
    for (int i = 0; i < 75; ++i) clients[i].reset();
    int last = clients.back().get();
    ASSERT_TRUE(send_all(last, "still here"));
    EXPECT_EQ(recv_exactly(last, 10), "still here");
    EXPECT_EQ(server.stop(), 0) << server.output();
}

INSTANTIATE_TEST_SUITE_P(Engines, Engine, ::testing::ValuesIn(engine_cases()),
                         [](const auto& info) { return engine_case_name(info.param); });

}  // namespace
}  // namespace kecho::test
