// SPDX-License-Identifier: GPL-2.0-only
#include "echo_program.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include <cerrno>
#include <cstdarg>
#include <cstdio>

#include "kecho/error.h"
#include "kernel_btf.h"

namespace kecho::loader {
namespace {

bool g_verbose = false;

int print_libbpf(enum libbpf_print_level level, const char* format, va_list args) {
    if (level == LIBBPF_DEBUG && !g_verbose) return 0;
    std::fputs("libbpf: ", stderr);
    return std::vfprintf(stderr, format, args);
}

std::uint32_t prog_id(const bpf_program* prog) {
    int fd = bpf_program__fd(prog);
    if (fd < 0) return 0;
    bpf_prog_info info{};
    std::uint32_t len = sizeof(info);
    return bpf_obj_get_info_by_fd(fd, &info, &len) == 0 ? info.id : 0;
}

std::uint32_t map_id(const bpf_map* map) {
    int fd = bpf_map__fd(map);
    if (fd < 0) return 0;
    bpf_map_info info{};
    std::uint32_t len = sizeof(info);
    return bpf_obj_get_info_by_fd(fd, &info, &len) == 0 ? info.id : 0;
}

// libbpf >= 1.0 returns -errno; the message says what to do about the usual causes.
[[noreturn]] void fail(const std::string& what, int ret) {
    int err = ret < 0 ? -ret : (errno ? errno : EINVAL);
    std::string hint;
    if (err == EPERM || err == EACCES) hint = " (need root: CAP_BPF, CAP_PERFMON and CAP_NET_ADMIN)";
    if (err == EINVAL || err == EOPNOTSUPP)
        hint = " (does this kernel support sockmap? it needs CONFIG_BPF_STREAM_PARSER and CONFIG_NET_SOCK_MSG)";
    throw Error(errno_message(what, err) + hint);
}

}  // namespace

void set_libbpf_verbosity(bool verbose) {
    g_verbose = verbose;
    libbpf_set_print(print_libbpf);
}

EchoProgram::EchoProgram(const ProgramSettings& settings) {
    skel_.reset(echo_bpf::open());
    if (!skel_) fail("cannot open the BPF object", -errno);

    skel_->rodata->echo_port = settings.port;
    skel_->rodata->max_pending = settings.max_pending;
    skel_->rodata->sockops_inserts = settings.sockops_inserts ? 1 : 0;
    int ret = bpf_map__set_max_entries(skel_->maps.echo_sockets, settings.max_sockets);
    if (!ret) ret = bpf_map__set_max_entries(skel_->maps.echo_positions, settings.max_sockets);
    if (ret) fail("cannot size the socket hash", ret);
    if (!settings.meter) bpf_program__set_autoload(skel_->progs.echo_meter, false);
    if (!settings.sockops) bpf_program__set_autoload(skel_->progs.echo_sockops, false);
    // One of the two verdicts: a program calling a kfunc the kernel lacks would not load.
    const bool kfunc = settings.seq_read == SeqRead::kfunc ||
                       (settings.seq_read == SeqRead::automatic && kernel_has_function("bpf_cast_to_kern_ctx"));
    verdict_ = kfunc ? skel_->progs.echo_verdict : skel_->progs.echo_verdict_pr;
    bpf_program__set_autoload(kfunc ? skel_->progs.echo_verdict_pr : skel_->progs.echo_verdict, false);

    ret = echo_bpf::load(skel_.get());
    if (ret) fail("cannot load the BPF programs into the kernel", ret);

    int map_fd = bpf_map__fd(skel_->maps.echo_sockets);
    ret = bpf_prog_attach(bpf_program__fd(verdict_), map_fd, BPF_SK_SKB_VERDICT, 0);
    if (ret) fail("cannot attach the sk_skb verdict to the socket hash", ret);
    verdict_attached_ = true;
    if (settings.meter) {
        ret = bpf_prog_attach(bpf_program__fd(skel_->progs.echo_meter), map_fd, BPF_SK_MSG_VERDICT, 0);
        if (ret) fail("cannot attach the sk_msg meter to the socket hash", ret);
        meter_attached_ = true;
    }
}

EchoProgram::~EchoProgram() {
    if (!skel_) return;
    int map_fd = bpf_map__fd(skel_->maps.echo_sockets);
    if (meter_attached_) bpf_prog_detach2(bpf_program__fd(skel_->progs.echo_meter), map_fd, BPF_SK_MSG_VERDICT);
    if (verdict_attached_) bpf_prog_detach2(bpf_program__fd(verdict_), map_fd, BPF_SK_SKB_VERDICT);
    // destroy() (the deleter) destroys the sockops link and closes every fd.
}

void EchoProgram::attach_sockops(int cgroup_fd, const std::string& cgroup_path) {
    bpf_link* link = bpf_program__attach_cgroup(skel_->progs.echo_sockops, cgroup_fd);
    if (!link) fail("cannot attach sockops to " + cgroup_path, -errno);
    skel_->links.echo_sockops = link;  // destroyed with the skeleton
}

int EchoProgram::sockets_fd() const {
    return bpf_map__fd(skel_->maps.echo_sockets);
}
int EchoProgram::events_fd() const {
    return bpf_map__fd(skel_->maps.echo_events);
}

ObjectIds EchoProgram::ids() const {
    ObjectIds ids;
    if (bpf_program__autoload(skel_->progs.echo_sockops)) ids.sockops = prog_id(skel_->progs.echo_sockops);
    ids.verdict = prog_id(verdict_);
    if (bpf_program__autoload(skel_->progs.echo_meter)) ids.meter = prog_id(skel_->progs.echo_meter);
    ids.sockets = map_id(skel_->maps.echo_sockets);
    ids.positions = map_id(skel_->maps.echo_positions);
    ids.counters = map_id(skel_->maps.echo_counters);
    ids.events = map_id(skel_->maps.echo_events);
    ids.bss = map_id(skel_->maps.bss);
    if (skel_->links.echo_sockops) {
        bpf_link_info info{};
        std::uint32_t len = sizeof(info);
        if (bpf_obj_get_info_by_fd(bpf_link__fd(skel_->links.echo_sockops), &info, &len) == 0)
            ids.sockops_link = info.id;
    }
    return ids;
}

const char* EchoProgram::seq_read() const {
    return verdict_ == skel_->progs.echo_verdict ? "bpf_cast_to_kern_ctx" : "bpf_probe_read_kernel";
}

}  // namespace kecho::loader
