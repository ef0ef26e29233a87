// The kecho.ko VM harness from ctest: boots Debian's 6.1 kernel once (scripts/vm/run-vm.sh) and
// turns every "KECHO-RESULT <name> PASS|FAIL <detail>" line the guest printed into its own
// assertion. A check that should have run but printed nothing fails too.
#include <unistd.h>

#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

#include "process.h"

namespace {

const std::string kRunVm = std::string(KECHO_SOURCE_DIR) + "/scripts/vm/run-vm.sh";

struct Check {
    bool passed = false;
    std::string detail;
};

std::map<std::string, Check> parse_results(const std::string& text) {
    std::map<std::string, Check> checks;
    std::istringstream in(text);
    std::string line;
    while (std::getline(in, line)) {
        std::istringstream words(line);
        std::string tag, name, verdict;
        if (!(words >> tag >> name >> verdict) || tag != "KECHO-RESULT") continue;
        std::string detail;
        std::getline(words, detail);
        auto& c = checks[name];
        c.passed = verdict == "PASS";
        c.detail = detail;
    }
    return checks;
}

std::string read_text(const std::string& path) {
    std::ifstream in(path);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

// What the harness cannot do without: QEMU, and either root (to fetch and install the kernel
// headers) or a kernel cache that fetch-kernel.sh already filled.
std::string missing_prerequisite() {
    if (::access("/usr/bin/qemu-system-x86_64", X_OK) != 0)
        return "qemu-system-x86_64 is not installed (apt-get install qemu-system-x86)";
    const char* cache = std::getenv("KECHO_VM_CACHE");
    std::string env = std::string(cache ? cache : "/var/cache/kecho-vm") + "/kernel.env";
    if (::geteuid() != 0 && !std::filesystem::exists(env))
        return "no guest kernel cached and not root: run scripts/vm/fetch-kernel.sh as root";
    return "";
}

TEST(KmodVm, RunVmRejectsBadArguments) {
    auto r = kecho::test::run({kRunVm, "--plan", "nonsense"}, std::chrono::seconds(30));
    EXPECT_EQ(r.exit_code, 2);
    EXPECT_NE(r.err.find("--plan must be test, compare or rmmod"), std::string::npos) << r.err;
    r = kecho::test::run({kRunVm, "--no-such-option"}, std::chrono::seconds(30));
    EXPECT_EQ(r.exit_code, 2);
    EXPECT_NE(r.err.find("unknown argument"), std::string::npos) << r.err;
}

TEST(KmodVm, GuestChecksAllPass) {
    if (auto why = missing_prerequisite(); !why.empty()) KECHO_SKIP_UNLESS_REQUIRED(why);

    auto r = kecho::test::run({kRunVm, "--build", KECHO_BUILD_DIR, "--quiet"}, std::chrono::seconds(540));
    ASSERT_FALSE(r.timed_out) << "run-vm.sh did not finish in 540 s\n" << r.err;
    const std::string results = read_text(std::string(KECHO_BUILD_DIR) + "/vm/results.txt");
    ASSERT_NE(results.find("KECHO-PLAN-END"), std::string::npos) << "the guest plan did not finish\nstdout:\n"
                                                                 << r.out << "\nstderr:\n"
                                                                 << r.err;
    auto checks = parse_results(results);

    // Every check the guest reported is its own assertion.
    for (const auto& [name, check] : checks) EXPECT_TRUE(check.passed) << name << ":" << check.detail;

    // And the checks that must be there are (a missing binary or a crash must not hide one).
    const std::vector<std::string> required = {
        "insmod-rejects-port-0", "insmod-rejects-backlog-0", "insmod-defaults", "kmod-concurrent-1000",
        "kmod-memory-freed", "kmod-verify", "user-verify", "bpf-verify", "skmsg-meter", "bench-all-table",
        "rmmod-under-load", "insmod-custom", "kmod-custom-concurrent-300", "kmod-custom-verify", "rmmod-custom",
        "kernel-log-clean", "kmod-ipv6-verify", "kmod-no-printk-per-message",
        // byte-exactness, half-close, reset and >256 connections on kmod: the full battery
        "kmod-verify/size-1B", "kmod-verify/size-1MiB", "kmod-verify/size-16MiB", "kmod-verify/all-byte-values",
        "kmod-verify/nul-heavy", "kmod-verify/half-close-1000", "kmod-verify/reset-mid-stream",
        "kmod-verify/concurrent-200", "kmod-verify/non-reading-client"};
    for (const auto& name : required) EXPECT_TRUE(checks.count(name)) << "the guest never reported " << name;

    EXPECT_EQ(r.exit_code, 0) << r.err;

    // The cycle within budget, and the booted image is the version whose headers built kecho.ko
    // (/proc/version ends with the Debian package version, e.g. "Debian 6.1.192-2").
    std::smatch m;
    ASSERT_TRUE(std::regex_search(r.out, m, std::regex(R"(KECHO-VM-CYCLE (\d+)s .*kernel=(\S+) package=(\S+))")))
        << r.out;
    EXPECT_LT(std::stoi(m[1]), 300) << "one VM cycle took " << m[1] << " s";
    auto headers = kecho::test::run({"/usr/bin/dpkg-query", "-W", "-f=${Version}", "linux-headers-" + m[2].str()});
    EXPECT_EQ(headers.out, m[3].str()) << "headers installed: " << headers.out << headers.err;
    std::smatch k;
    ASSERT_TRUE(std::regex_search(results, k, std::regex(R"(KECHO-KERNEL ([^\n]*))"))) << results;
    EXPECT_NE(k[1].str().find(m[2].str()), std::string::npos) << k[1];
    EXPECT_NE(k[1].str().find("Debian " + m[3].str()), std::string::npos)
        << "the guest kernel is not the headers' version " << m[3] << ": " << k[1];
}

}  // namespace
