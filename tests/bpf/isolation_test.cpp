// SPDX-License-Identifier: GPL-2.0-only
// Only the loader's own passive sockets on the echo port enter the map: not a socket of another
// port in the loader's cgroup, not a socket on the same port number outside that cgroup. In a
// cgroup its service manager delegated to it, the loader's cgroup is a child of that one.
#include <bpf/bpf.h>
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <cstring>
#include <fstream>

#include <nlohmann/json.hpp>
#include <thread>

#include "cgroup.h"
#include "kecho/error.h"
#include "loader_fixture.h"

namespace kecho::bpftest {
namespace {

class Isolation : public BpfTest {};

bool in_map(const Loader& loader, std::uint64_t cookie) {
    UniqueFd map(bpf_map_get_fd_by_id(loader.state().ids.sockets));
    EXPECT_TRUE(map.valid()) << errno_message("bpf_map_get_fd_by_id", errno);
    std::uint64_t value = 0;
    return bpf_map_lookup_elem(map.get(), &cookie, &value) == 0;
}

std::uint64_t map_size(const Loader& loader) {
    auto r = loader.run({"stats", "--json"});
    return nlohmann::json::parse(r.out)["connections"]["in_map"].get<std::uint64_t>();
}

// A child in the loader's cgroup serves one connection on another port: replies "other", reports the
// cookie of its accepted socket through a pipe.
TEST_F(Isolation, AnotherPortInTheLoadersCgroupIsNotInserted) {
    Loader loader;
    ASSERT_TRUE(loader.ready()) << loader.output();
    int other_port = test::free_port();
    int to_parent[2];
    ASSERT_EQ(::pipe(to_parent), 0);
    pid_t child = ::fork();
    if (child == 0) {
        ::close(to_parent[0]);
        std::uint64_t cookie = 0;
        try {
            loader::move_to_cgroup(loader.cgroup());
            ListenOptions options;
            options.nonblocking = false;
            UniqueFd listener =
                make_listener(parse_address("127.0.0.1", static_cast<std::uint16_t>(other_port)), options);
            char ready = 'r';
            (void)!::write(to_parent[1], &ready, 1);
            UniqueFd conn(::accept(listener.get(), nullptr, nullptr));
            cookie = get_socket_cookie(conn.get()).value_or(0);
            char buf[16];
            (void)!::recv(conn.get(), buf, sizeof(buf), 0);
            (void)!::write(to_parent[1], &cookie, sizeof(cookie));
            (void)!::send(conn.get(), "other", 5, MSG_NOSIGNAL);
            (void)!::recv(conn.get(), buf, sizeof(buf), 0);  // until the parent closes
        } catch (...) {
            ::_exit(1);
        }
        ::_exit(0);
    }
    ::close(to_parent[1]);
    char ready = 0;
    ASSERT_EQ(::read(to_parent[0], &ready, 1), 1) << "child did not start";
    {
        UniqueFd fd = connect_to(parse_address("127.0.0.1", static_cast<std::uint16_t>(other_port)));
        ASSERT_EQ(::send(fd.get(), "ping", 4, 0), 4);
        std::uint64_t cookie = 0;
        ASSERT_EQ(::read(to_parent[0], &cookie, sizeof(cookie)), static_cast<ssize_t>(sizeof(cookie)));
        char buf[16] = {};
        ssize_t r = ::recv(fd.get(), buf, sizeof(buf), 0);
        EXPECT_EQ(std::string(buf, r > 0 ? static_cast<size_t>(r) : 0), "other") << "the kernel echoed another port";
        EXPECT_NE(cookie, 0u);
        EXPECT_FALSE(in_map(loader, cookie));
        EXPECT_EQ(map_size(loader), 0u);
    }
    int status = 0;
    ::waitpid(child, &status, 0);
    ::close(to_parent[0]);
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    auto j = nlohmann::json::parse(loader.run({"stats", "--json"}).out);
    EXPECT_EQ(j["connections"]["inserted_by_sockops"], 0);
}

// This test process is outside the loader's cgroup. It listens on the same port number (on
// 127.0.0.2, the loader is on 127.0.0.1): its sockets are never inserted nor echoed; and its client
// socket to the loader is not in the map either (only the loader's end is).
TEST_F(Isolation, SocketsOutsideTheCgroupAreNeverInserted) {
    Loader loader;
    ASSERT_TRUE(loader.ready()) << loader.output();
    ListenOptions options;
    options.nonblocking = false;
    UniqueFd outside = make_listener(parse_address("127.0.0.2", static_cast<std::uint16_t>(loader.port())), options);
    UniqueFd client = connect_to(parse_address("127.0.0.2", static_cast<std::uint16_t>(loader.port())));
    UniqueFd served(::accept(outside.get(), nullptr, nullptr));
    ASSERT_TRUE(served.valid());
    ASSERT_EQ(::send(client.get(), "ping", 4, 0), 4);
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    char buf[16];
    EXPECT_EQ(::recv(client.get(), buf, sizeof(buf), MSG_DONTWAIT), -1) << "bytes came back from a non-echo socket";
    EXPECT_EQ(::recv(served.get(), buf, sizeof(buf), MSG_DONTWAIT), 4) << "the outside server did not get its bytes";
    EXPECT_FALSE(in_map(loader, get_socket_cookie(served.get()).value()));
    EXPECT_FALSE(in_map(loader, get_socket_cookie(client.get()).value()));

    // A real echo connection, for contrast: exactly one socket (the loader's end) in the map.
    UniqueFd echo = connect_to(loader.address());
    ASSERT_EQ(::send(echo.get(), "hello", 5, 0), 5);
    ASSERT_EQ(::recv(echo.get(), buf, 5, MSG_WAITALL), 5);
    EXPECT_EQ(std::string(buf, 5), "hello");
    EXPECT_FALSE(in_map(loader, get_socket_cookie(echo.get()).value()));
    EXPECT_EQ(map_size(loader), 1u);
}

// systemd's Delegate=yes marks the unit's cgroup with trusted.delegate=1 (measured on Debian 12,
// tests/system). A loader started in such a cgroup without --cgroup puts its echo cgroup inside it,
// so the echo stays in its service, and removes only that child when it stops.
TEST_F(Isolation, DelegatedCgroupHoldsTheEchoCgroup) {
    auto command = fresh_loader_command();
    const std::string unit = command.cgroup;  // stands for the unit's cgroup
    ASSERT_EQ(::mkdir(unit.c_str(), 0755), 0) << std::strerror(errno);
    ASSERT_EQ(::setxattr(unit.c_str(), "trusted.delegate", "1", 1, 0), 0) << std::strerror(errno);
    // The shell joins the unit's cgroup and execs the loader, as systemd does for ExecStart=.
    test::Process loader({"/bin/sh", "-c", "echo $$ >\"$0/cgroup.procs\" && exec \"$@\"", unit,
                          test::binary("echo-loader"), "--run-dir", command.run_dir, "attach", "--address", "127.0.0.1",
                          "--port", std::to_string(command.port)});
    ASSERT_TRUE(loader.wait_for_output("echoing on", std::chrono::seconds(15))) << loader.output();
    const std::string echo_cgroup = unit + "/kecho-bpf";
    EXPECT_NE(loader.output().find("cgroup " + echo_cgroup), std::string::npos) << loader.output();
    std::ifstream procs(echo_cgroup + "/cgroup.procs");
    pid_t member = 0;
    EXPECT_TRUE(procs >> member) << echo_cgroup << " holds no process";
    EXPECT_EQ(member, loader.pid());
    auto echoed = echo_once(parse_address("127.0.0.1", static_cast<std::uint16_t>(command.port)), "hello");
    EXPECT_EQ(echoed.bytes, "hello");

    EXPECT_EQ(loader.stop(), 0) << loader.output();
    EXPECT_NE(::access(echo_cgroup.c_str(), F_OK), 0) << echo_cgroup << " is left behind";
    EXPECT_EQ(::access(unit.c_str(), F_OK), 0) << "the loader removed the cgroup it was given";
}

}  // namespace
}  // namespace kecho::bpftest
