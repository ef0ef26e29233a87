// SPDX-License-Identifier: GPL-2.0-only
// The kecho.ko VM harness from ctest: one test per kernel of the harness's list (KECHO_VM_KERNELS,
// read from scripts/vm/vm-lib.sh at configure time), each booting that kernel once
// (scripts/vm/run-vm.sh --kernel ID) and turning every "KECHO-RESULT <name> PASS|FAIL|UNSUPPORTED
// <detail>" line the guest printed into its own assertion. A check that should have run but printed
// nothing fails too; a server the kernel lacks a feature for is reported by name and reason.
#include <unistd.h>

#include <gtest/gtest.h>

#include <cctype>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

#include "process.h"

namespace {

const std::string kRunVm = std::string(KECHO_SOURCE_DIR) + "/scripts/vm/run-vm.sh";

struct Check {
    std::string verdict;  // PASS, FAIL or UNSUPPORTED
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
        checks[name] = {verdict, detail};
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
std::string missing_prerequisite(const std::string& kernel) {
    if (::access("/usr/bin/qemu-system-x86_64", X_OK) != 0)
        return "qemu-system-x86_64 is not installed (apt-get install qemu-system-x86)";
    const char* cache = std::getenv("KECHO_VM_CACHE");
    std::string env = std::string(cache ? cache : "/var/cache/kecho-vm") + "/" + kernel + "/kernel.env";
    if (::geteuid() != 0 && !std::filesystem::exists(env))
        return "no guest kernel cached and not root: run scripts/vm/fetch-kernel.sh as root";
    return "";
}

TEST(KmodVm, RunVmRejectsBadArguments) {
    auto r = kecho::test::run({kRunVm, "--plan", "nonsense"}, std::chrono::seconds(30));
    EXPECT_EQ(r.exit_code, 2);
    EXPECT_NE(r.err.find("--plan must be test, compare, rmmod, dkms, bundle, adversary, uring or kmod-verify"),
              std::string::npos)
        << r.err;
    r = kecho::test::run({kRunVm, "--plan", "kmod-verify", "--loops", "0"}, std::chrono::seconds(30));
    EXPECT_EQ(r.exit_code, 2);
    EXPECT_NE(r.err.find("--loops must be a positive number"), std::string::npos) << r.err;
    r = kecho::test::run({kRunVm, "--plan", "kmod-verify", "--tcp-mem", "1000"}, std::chrono::seconds(30));
    EXPECT_EQ(r.exit_code, 2);
    EXPECT_NE(r.err.find("--tcp-mem must be three numbers of pages"), std::string::npos) << r.err;
    r = kecho::test::run({kRunVm, "--plan", "test", "--netem"}, std::chrono::seconds(30));
    EXPECT_EQ(r.exit_code, 2);
    EXPECT_NE(r.err.find("--netem is for --plan kmod-verify"), std::string::npos) << r.err;
    r = kecho::test::run({kRunVm, "--no-such-option"}, std::chrono::seconds(30));
    EXPECT_EQ(r.exit_code, 2);
    EXPECT_NE(r.err.find("unknown argument"), std::string::npos) << r.err;
    r = kecho::test::run({kRunVm, "--kernel", "5.10-nope"}, std::chrono::seconds(30));
    EXPECT_EQ(r.exit_code, 2);
    EXPECT_NE(r.err.find("--kernel must be one of"), std::string::npos) << r.err;
}

std::vector<std::string> vm_kernels() {
    std::istringstream in(KECHO_VM_KERNELS);
    std::vector<std::string> out;
    for (std::string k; in >> k;) out.push_back(k);
    return out;
}

// The checks every kernel's guest must report: kecho.ko's, and the kernel log.
const std::vector<std::string> kModuleChecks = {
    "insmod-rejects-port-0", "insmod-rejects-backlog-0", "insmod-defaults", "kmod-concurrent-1000", "kmod-memory-freed",
    "kmod-verify", "kmod-ipv6-verify", "rmmod-under-load", "kmod-no-printk-per-message", "insmod-custom",
    "kmod-custom-concurrent-300", "kmod-custom-verify", "rmmod-custom", "kernel-log-clean",
    // byte-exactness, half-close, reset and >256 connections on kmod: the full battery
    "kmod-verify/size-1B", "kmod-verify/size-1MiB", "kmod-verify/size-16MiB", "kmod-verify/all-byte-values",
    "kmod-verify/nul-heavy", "kmod-verify/half-close-1000", "kmod-verify/reset-mid-stream",
    "kmod-verify/concurrent-200", "kmod-verify/non-reading-client",
    // the adversarial suite (tcp-adversary): raw segments out of order, overlapping, duplicated, urgent
    "kmod-adversary"};
// And on a kernel whose plan covers every server (SCOPE=full in vm-lib.sh).
const std::vector<std::string> kServerChecks = {
    "user-verify",         "uring-verify",      "bpf-verify",          "skmsg-meter",     "bpf-pending-guard",
    "bpf-concurrent-1000", "bpf-sigkill-clean", "bpf-reattach-verify", "bench-all-table", "user-adversary",
    "uring-adversary",     "bpf-adversary",     "splice-adversary",    "bpf-seq-read"};

class GuestKernel : public ::testing::TestWithParam<std::string> {};

TEST_P(GuestKernel, ChecksAllPass) {
    const std::string kernel = GetParam();
    if (auto why = missing_prerequisite(kernel); !why.empty()) KECHO_SKIP_UNLESS_REQUIRED(why);

    auto r = kecho::test::run({kRunVm, "--kernel", kernel, "--build", KECHO_BUILD_DIR, "--timeout", "720", "--quiet"},
                              std::chrono::seconds(850));
    ASSERT_FALSE(r.timed_out) << "run-vm.sh did not finish in 850 s\n" << r.err;
    const std::string results = read_text(std::string(KECHO_BUILD_DIR) + "/vm/" + kernel + "/results.txt");
    ASSERT_NE(results.find("KECHO-PLAN-END"), std::string::npos) << "the guest plan did not finish\nstdout:\n"
                                                                 << r.out << "\nstderr:\n"
                                                                 << r.err;
    auto checks = parse_results(results);

    // Every check the guest reported is its own assertion; a server the kernel cannot run is named.
    for (const auto& [name, check] : checks) {
        if (check.verdict == "UNSUPPORTED")
            std::cout << kernel << ": " << name << ":" << check.detail << "\n";
        else
            EXPECT_EQ(check.verdict, "PASS") << name << ":" << check.detail;
    }

    // And the checks that must be there are (a missing binary or a crash must not hide one).
    std::vector<std::string> required = kModuleChecks;
    const bool full_scope = results.find("KECHO-SCOPE module") == std::string::npos;
    if (full_scope) required.insert(required.end(), kServerChecks.begin(), kServerChecks.end());
    if (full_scope && results.find("KECHO-TIME netem") != std::string::npos)
        for (const char* mode : {"kmod", "user", "uring", "bpf"})
            required.push_back(std::string("netem-") + mode + "-no-leftover");
    for (const auto& name : required) EXPECT_TRUE(checks.count(name)) << "the guest never reported " << name;
    // A module-only kernel is one of the list's choices, not the harness's default.
    if (kernel == "6.1-cloud" || kernel == "6.12-cloud") {
        EXPECT_TRUE(full_scope) << kernel << " ran kecho.ko only";
    }

    EXPECT_EQ(r.exit_code, 0) << r.err;

    // The booted image is the version whose headers built kecho.ko (/proc/version ends with the
    // Debian package version, e.g. "Debian 6.1.192-2"), and the one the list asked for.
    std::smatch m;
    ASSERT_TRUE(
        std::regex_search(r.out, m, std::regex(R"(KECHO-VM-CYCLE (\d+)s .*kernel=(\S+) package=(\S+) id=(\S+).*)")))
        << r.out;
    std::cout << "guest " << kernel << ": " << m[0] << "\n";
    EXPECT_EQ(m[4].str(), kernel);
    std::smatch k;
    ASSERT_TRUE(std::regex_search(results, k, std::regex(R"(KECHO-KERNEL ([^\n]*))"))) << results;
    EXPECT_NE(k[1].str().find(m[2].str()), std::string::npos) << k[1];
    EXPECT_NE(k[1].str().find("Debian " + m[3].str()), std::string::npos)
        << "the guest kernel is not the headers' version " << m[3] << ": " << k[1];
    const std::string env =
        read_text(std::string(std::getenv("KECHO_VM_CACHE") ? std::getenv("KECHO_VM_CACHE") : "/var/cache/kecho-vm") +
                  "/" + kernel + "/kernel.env");
    EXPECT_NE(env.find("KECHO_VM_PKGVER=" + m[3].str() + "\n"), std::string::npos)
        << "headers and image of different versions: " << env;
}

INSTANTIATE_TEST_SUITE_P(Kernels, GuestKernel, ::testing::ValuesIn(vm_kernels()),
                         [](const ::testing::TestParamInfo<std::string>& info) {
                             std::string name = info.param;
                             for (char& c : name)
                                 if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
                             return name;
                         });

}  // namespace
