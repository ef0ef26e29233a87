// SPDX-License-Identifier: GPL-2.0-only
// Unit tests for kecho_common: what every binary relies on for addresses, sizes and listeners.
#include <gtest/gtest.h>
#include <sys/socket.h>

#include <fcntl.h>

#include <cstring>

#include "kecho/cli.h"
#include "kecho/error.h"
#include "kecho/net.h"
#include "kecho/unique_fd.h"

using namespace kecho;

TEST(ParseAddress, AcceptsIpv4AndIpv6) {
    EXPECT_EQ(parse_address("127.0.0.1", 23456).to_string(), "127.0.0.1:23456");
    EXPECT_EQ(parse_address("0.0.0.0", 1).family(), AF_INET);
    EXPECT_EQ(parse_address("::1", 80).to_string(), "[::1]:80");
    EXPECT_EQ(parse_address("[::]", 80).family(), AF_INET6);
    EXPECT_EQ(parse_address("localhost", 5).to_string(), "127.0.0.1:5");
}

TEST(ParseAddress, RejectsGarbageWithAClearMessage) {
    for (const char* bad : {"", "1.2.3", "256.0.0.1", "example.com", "::g", "[::1"}) {
        try {
            parse_address(bad, 1);
            ADD_FAILURE() << "accepted '" << bad << "'";
        } catch (const Error& e) {
            EXPECT_NE(std::string(e.what()).find("invalid address"), std::string::npos) << e.what();
        }
    }
}

TEST(ParsePort, RangeIsOneTo65535) {
    EXPECT_EQ(parse_port("1"), 1);
    EXPECT_EQ(parse_port("65535"), 65535);
    EXPECT_THROW(parse_port("0"), Error);
    EXPECT_THROW(parse_port("65536"), Error);
    EXPECT_THROW(parse_port("-1"), Error);
    EXPECT_THROW(parse_port("12a"), Error);
    EXPECT_THROW(parse_port(""), Error);
}

TEST(ParseBytes, UnitsAreBinary) {
    EXPECT_EQ(parse_bytes("4096"), 4096u);
    EXPECT_EQ(parse_bytes("64K"), 65536u);
    EXPECT_EQ(parse_bytes("4M"), 4u << 20);
    EXPECT_EQ(parse_bytes("16MiB"), 16u << 20);
    EXPECT_EQ(parse_bytes("1g"), 1ull << 30);
    EXPECT_THROW(parse_bytes("4X"), Error);
    EXPECT_THROW(parse_bytes("-4"), Error);
    EXPECT_THROW(parse_bytes("M"), Error);
    EXPECT_THROW(parse_bytes("99999999999999999999"), Error);
    EXPECT_THROW(parse_bytes("17179869184G"), Error);
}

TEST(UniqueFd, ClosesOnceAndMoves) {
    int fds[2];
    ASSERT_EQ(::pipe(fds), 0);
    ::close(fds[1]);
    {
        UniqueFd a(fds[0]);
        UniqueFd b(std::move(a));
        EXPECT_FALSE(a.valid());
        EXPECT_EQ(b.get(), fds[0]);
    }
    EXPECT_EQ(::fcntl(fds[0], F_GETFD), -1);  // closed by b
}

TEST(Listener, BusyPortGivesAnActionableError) {
    auto first = make_listener(parse_address("127.0.0.1", 0));
    auto bound = local_address(first.get());
    try {
        make_listener(bound);
        FAIL() << "second listener on the same port succeeded";
    } catch (const Error& e) {
        std::string m = e.what();
        EXPECT_NE(m.find("address already in use"), std::string::npos) << m;
        EXPECT_NE(m.find(bound.to_string()), std::string::npos) << m;
    }
}

TEST(Listener, ConnectTcpInfoAndCookie) {
    auto listener = make_listener(parse_address("::1", 0), {.nonblocking = false});
    auto client = connect_to(local_address(listener.get()));
    UniqueFd server(::accept(listener.get(), nullptr, nullptr));
    ASSERT_TRUE(server.valid());
    auto c1 = get_socket_cookie(server.get());
    auto c2 = get_socket_cookie(client.get());
    ASSERT_TRUE(c1 && c2);
    EXPECT_NE(*c1, *c2);
    ASSERT_EQ(::send(client.get(), "abc", 3, 0), 3);
    char buf[3];
    ASSERT_EQ(::recv(server.get(), buf, 3, MSG_WAITALL), 3);
    auto info = get_tcp_info(server.get());
    ASSERT_TRUE(info);
    EXPECT_EQ(info->bytes_received, 3u);
    EXPECT_EQ(get_outq(server.get()).value_or(-1), 0);
}

TEST(Connect, RefusedNamesTheAddress) {
    auto listener = make_listener(parse_address("127.0.0.1", 0));
    auto address = local_address(listener.get());
    listener.reset();
    try {
        connect_to(address);
        FAIL() << "connect to a closed port succeeded";
    } catch (const Error& e) {
        std::string m = e.what();
        EXPECT_NE(m.find("cannot connect to " + address.to_string()), std::string::npos) << m;
        EXPECT_NE(m.find("connection refused"), std::string::npos) << m;
    }
}

TEST(CliParse, UsageErrorsAreOneLowercaseLineAndExitTwo) {
    CLI::App app("test", "prog");
    int port = 1;
    app.add_option("--port", port)->check(CLI::Range(1, 65535));
    std::vector<std::string> args = {"prog", "--port", "0"};
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    testing::internal::CaptureStderr();
    int code = cli::parse(app, static_cast<int>(argv.size()), argv.data());
    std::string err = testing::internal::GetCapturedStderr();
    EXPECT_EQ(code, cli::exit_usage);
    EXPECT_EQ(err.rfind("prog: --port: value 0 not in range", 0), 0u) << err;
    EXPECT_NE(err.find("run 'prog --help' for usage"), std::string::npos) << err;
}
