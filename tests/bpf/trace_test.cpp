// SPDX-License-Identifier: GPL-2.0-only
// `echo-loader trace`: every exchange on the traced port is counted once, the other ports' are not,
// and the phases say what each server does (the user server reads; the in-kernel echo never
// reads and hands each echo to a kworker).
#include <gtest/gtest.h>

#include <sys/socket.h>
#include <sys/time.h>

#include <nlohmann/json.hpp>
#include <thread>

#include "loader_fixture.h"
#include "socket_io.h"

namespace kecho::bpftest {
namespace {

class Trace : public BpfTest {};

constexpr int exchanges = 20;
const char* const server_read = "arrival to server's first read";
const char* const kworker_wait = "work queued to kworker running it";
const char* const whole_exchange = "arrival to client's read (the exchange)";
const char* const server_side = "arrival to echo at client (server side)";

// `echo-loader trace --json` on `port`, started and ready.
std::unique_ptr<test::Process> start_trace(int port) {
    auto trace = std::make_unique<test::Process>(
        std::vector<std::string>{test::binary("echo-loader"), "trace", "--port", std::to_string(port), "--json"});
    EXPECT_TRUE(trace->wait_for_output("tracing port " + std::to_string(port))) << trace->output();
    return trace;
}

// Stops the trace (SIGINT, as Ctrl-C) and returns its JSON report.
nlohmann::json stop_trace(test::Process& trace) {
    EXPECT_EQ(trace.stop(SIGINT), 0) << trace.output();
    const std::string out = trace.output();
    const auto start = out.find('{');
    if (start == std::string::npos) {
        ADD_FAILURE() << "no JSON report in: " << out;
        return {};
    }
    return nlohmann::json::parse(out.substr(start));
}

// `exchanges` connections, one after the other, each sending one message and reading its echo.
void exchange_messages(const SocketAddress& to) {
    for (int i = 0; i < exchanges; ++i) {
        const std::string message = "exchange " + std::to_string(i);
        auto result = echo_once(to, message);
        ASSERT_EQ(result.bytes, message) << "exchange " << i;
    }
}

std::size_t count_of(const nlohmann::json& report, const char* phase) {
    return report["phases"][phase]["count"].get<std::size_t>();
}

std::unique_ptr<test::ServerProcess> start_user_server() {
    return std::make_unique<test::ServerProcess>(
        [](int port) {
            return std::vector<std::string>{test::binary("user-echo-server"), "--address", "127.0.0.1", "--port",
                                            std::to_string(port)};
        },
        [](int) { return "echoing on"; });
}

TEST_F(Trace, TimesEveryExchangeOfTheUserServerAndNoOtherPort) {
    auto traced_server = start_user_server(), other_server = start_user_server();
    auto &traced = *traced_server, &other = *other_server;
    ASSERT_TRUE(traced.ready() && other.ready());
    auto trace = start_trace(traced.port());
    exchange_messages(parse_address("127.0.0.1", static_cast<std::uint16_t>(traced.port())));
    EXPECT_EQ(echo_once(parse_address("127.0.0.1", static_cast<std::uint16_t>(other.port())), "other").bytes, "other");
    const auto report = stop_trace(*trace);

    EXPECT_EQ(report["exchanges"], exchanges) << report.dump(2);
    EXPECT_EQ(report["records_lost"], 0);
    EXPECT_EQ(count_of(report, server_read), exchanges) << "the user server reads every message";
    EXPECT_EQ(count_of(report, kworker_wait), 0u) << "no sockmap on this port";
    EXPECT_EQ(count_of(report, whole_exchange), exchanges);
    EXPECT_GE(report["phases"][whole_exchange]["mean_us"].get<double>(),
              report["phases"][server_side]["mean_us"].get<double>());
}

TEST_F(Trace, SeesTheInKernelEchoNeverReadAndSentByAKworker) {
    Loader loader;
    ASSERT_TRUE(loader.ready()) << loader.output();
    auto trace = start_trace(loader.port());
    exchange_messages(loader.address());
    const auto report = stop_trace(*trace);

    EXPECT_EQ(report["exchanges"], exchanges) << report.dump(2);
    EXPECT_EQ(count_of(report, server_read), 0u) << "user space read bytes of in-map sockets";
    EXPECT_EQ(count_of(report, kworker_wait), exchanges) << "every redirected echo goes through the psock work";
    EXPECT_EQ(count_of(report, "arrival to readable on an accepted socket"), exchanges);
}

// Resets on the traced port are counted by side, each with the kernel's reason: a client closing
// with unread echo aborts from its side; the loader resetting a client that never reads (the
// pending-bytes guard) aborts from the server's, once per reset it counts itself (the kernel's
// answers to segments that arrive meanwhile are counted apart).
TEST_F(Trace, CountsEveryResetBySideAndReason) {
    Loader loader({"--max-pending", "64K"});
    ASSERT_TRUE(loader.ready()) << loader.output();
    auto trace = start_trace(loader.port());
    {
        UniqueFd unread = connect_to(loader.address());
        ASSERT_TRUE(test::send_all(unread.get(), random_bytes(4000, 1)));
        std::this_thread::sleep_for(std::chrono::milliseconds(200));  // the echo waits, unread
    }
    UniqueFd non_reader = connect_to(loader.address());
    timeval wait{5, 0};
    ::setsockopt(non_reader.get(), SOL_SOCKET, SO_SNDTIMEO, &wait, sizeof(wait));
    const std::string chunk = random_bytes(64 * 1024, 2);
    for (int i = 0; i < 200 && test::send_all(non_reader.get(), chunk); ++i) {
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    const auto report = stop_trace(*trace);
    const auto stats = nlohmann::json::parse(loader.run({"stats", "--json"}).out);

    const auto& resets = report["resets_sent"];
    ASSERT_TRUE(resets.is_object()) << "this kernel (6.18) says why it resets: " << report.dump(2);
    EXPECT_EQ(resets["client_abort"]["total"], 1) << resets.dump();
    EXPECT_EQ(resets["client_abort"]["reasons"]["tcp_abort_on_close"], 1) << resets.dump();
    EXPECT_EQ(stats["connections"]["guard_resets"], 1) << stats.dump();
    EXPECT_EQ(resets["server_abort"]["total"], 1) << resets.dump() << stats.dump();
}

TEST_F(Trace, RefusesAPortThatIsNoPort) {
    auto r = test::run({test::binary("echo-loader"), "trace", "--port", "70000"});
    EXPECT_EQ(r.exit_code, 2);
    EXPECT_NE(r.err.find("invalid port '70000'"), std::string::npos) << r.err;
}

TEST_F(Trace, RefusesARecordsFileItCannotWriteBeforeTracing) {
    auto r = test::run({test::binary("echo-loader"), "trace", "--seconds", "30", "--records", "/nonexistent/dir/r.csv"},
                       std::chrono::seconds(10));
    EXPECT_FALSE(r.timed_out) << "it traced before failing";
    EXPECT_EQ(r.exit_code, 1);
    EXPECT_NE(r.err.find("cannot write --records /nonexistent/dir/r.csv: no such file or directory"), std::string::npos)
        << r.err;
}

}  // namespace
}  // namespace kecho::bpftest
