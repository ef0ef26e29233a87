// SPDX-License-Identifier: GPL-2.0-only
// CPU lists for --cpus: the forms users type, the mistakes they make, and pinning a thread.
#include "kecho/cpu_set.h"

#include <gtest/gtest.h>
#include <sched.h>

#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "kecho/error.h"

using namespace kecho;

namespace {

// The CPUs this thread may run on (what a test may pin to inside any cgroup).
std::vector<int> allowed_cpus() {
    cpu_set_t set;
    CPU_ZERO(&set);
    EXPECT_EQ(::sched_getaffinity(0, sizeof(set), &set), 0);
    std::vector<int> cpus;
    for (int cpu = 0; cpu < CPU_SETSIZE; ++cpu)
        if (CPU_ISSET(cpu, &set)) cpus.push_back(cpu);
    return cpus;
}

std::string error_of(const std::string& text) {
    try {
        parse_cpu_list(text);
    } catch (const Error& e) {
        return e.what();
    }
    return "accepted";
}

}  // namespace

TEST(ParseCpuList, ReadsSingleCpusRangesAndLists) {
    EXPECT_EQ(parse_cpu_list("0"), std::vector<int>{0});
    if (std::thread::hardware_concurrency() >= 2) {
        EXPECT_EQ(parse_cpu_list("0-1"), (std::vector<int>{0, 1}));
        EXPECT_EQ(parse_cpu_list("1,0"), (std::vector<int>{0, 1}));    // sorted
        EXPECT_EQ(parse_cpu_list("0,0-1"), (std::vector<int>{0, 1}));  // duplicates once
    }
}

TEST(ParseCpuList, RejectsMalformedListsWithOneLowercaseLine) {
    for (const char* bad : {"", "a", "1-", "-1", "0,", ",0", "0,,1", "1-2-3", "0 1", "+1", "99999999"}) {
        std::string message = error_of(bad);
        EXPECT_EQ(message.rfind("invalid CPU list '" + std::string(bad) + "': ", 0), 0u)
            << "'" << bad << "': " << message;
        EXPECT_EQ(message.find('\n'), std::string::npos) << message;
    }
    EXPECT_NE(error_of("3-1").find("the range 3-1 ends below its start"), std::string::npos) << error_of("3-1");
}

TEST(ParseCpuList, RejectsCpusThatAreNotOnline) {
    std::ifstream in("/sys/devices/system/cpu/online");
    std::string online;
    ASSERT_TRUE(in >> online);
    std::string message = error_of("1000");  // CPU_SETSIZE is 1024; no test host has 1,001 CPUs online
    EXPECT_EQ(message, "invalid CPU list '1000': CPU 1000 is not online (online: " + online + ")") << message;
}

TEST(FormatCpuList, WritesRangesTheWayTheKernelDoes) {
    EXPECT_EQ(format_cpu_list({0, 1, 2, 5}), "0-2,5");
    EXPECT_EQ(format_cpu_list({3}), "3");
    EXPECT_EQ(format_cpu_list({0, 2, 3}), "0,2-3");
    EXPECT_EQ(format_cpu_list({}), "");
}

TEST(PinCurrentThread, TheThreadRunsOnlyWhereItWasPinned) {
    std::vector<int> allowed = allowed_cpus();
    ASSERT_FALSE(allowed.empty());
    std::thread([&] {
        pin_current_thread({allowed.back()});
        EXPECT_EQ(allowed_cpus(), std::vector<int>{allowed.back()});
        EXPECT_EQ(::sched_getcpu(), allowed.back());
    }).join();
    EXPECT_EQ(allowed_cpus(), allowed) << "pinning another thread changed this one";
}

TEST(CpuListValidator, AcceptsGoodListsAndExplainsBadOnes) {
    CLI::App app;
    std::string cpus;
    app.add_option("--cpus", cpus)->check(cli::cpu_list_validator());
    EXPECT_NO_THROW(app.parse(std::vector<std::string>{"0", "--cpus"}));  // parse() takes argv reversed
    try {
        app.parse(std::vector<std::string>{"x", "--cpus"});
        ADD_FAILURE() << "accepted 'x'";
    } catch (const CLI::ValidationError& e) {
        EXPECT_NE(std::string(e.what()).find("invalid CPU list 'x'"), std::string::npos) << e.what();
    }
}
