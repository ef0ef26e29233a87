// SPDX-License-Identifier: GPL-2.0-only
#include "system_checks.h"

#include <bpf/libbpf.h>
#include <linux/capability.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <string>

#include "kecho/error.h"

namespace kecho::loader {
namespace {

bool has_capability(const __user_cap_data_struct (&data)[2], int cap) {
    return (data[cap / 32].effective & (1u << (cap % 32))) != 0;
}

}  // namespace

void require_privileges() {
    __user_cap_header_struct header{_LINUX_CAPABILITY_VERSION_3, 0};
    __user_cap_data_struct data[2] = {};
    if (::syscall(SYS_capget, &header, data) != 0) throw_errno("cannot read this process's capabilities", errno);
    if (has_capability(data, CAP_SYS_ADMIN)) return;
    std::string missing;
    for (auto [cap, name] : {std::pair{CAP_BPF, "CAP_BPF"}, std::pair{CAP_PERFMON, "CAP_PERFMON"},
                             std::pair{CAP_NET_ADMIN, "CAP_NET_ADMIN"}})
        if (!has_capability(data, cap)) missing += (missing.empty() ? "" : ", ") + std::string(name);
    if (!missing.empty()) throw Error("not permitted: missing " + missing + " (run it as root, e.g. with sudo)");
}

void require_sockmap_support() {
    struct Need {
        int ret;
        const char* what;
    };
    const Need needs[] = {
        {libbpf_probe_bpf_map_type(BPF_MAP_TYPE_SOCKHASH, nullptr), "sockhash maps"},
        {libbpf_probe_bpf_prog_type(BPF_PROG_TYPE_SK_SKB, nullptr), "sk_skb programs"},
        {libbpf_probe_bpf_prog_type(BPF_PROG_TYPE_SK_MSG, nullptr), "sk_msg programs"},
        {libbpf_probe_bpf_prog_type(BPF_PROG_TYPE_SOCK_OPS, nullptr), "sockops programs"},
        {libbpf_probe_bpf_map_type(BPF_MAP_TYPE_RINGBUF, nullptr), "ring buffers"},
    };
    for (const auto& need : needs) {
        if (need.ret == 1) continue;
        if (need.ret < 0 && (need.ret == -EPERM || need.ret == -EACCES))
            throw Error("not permitted to load BPF programs (run it as root, e.g. with sudo)");
        throw Error(std::string("this kernel does not support ") + need.what +
                    ": the sockmap echo needs CONFIG_BPF_SYSCALL, CONFIG_BPF_STREAM_PARSER and CONFIG_NET_SOCK_MSG");
    }
}

}  // namespace kecho::loader
