// SPDX-License-Identifier: GPL-2.0-only
// The BPF side of the echo, owned by RAII: skeleton, the two map attachments, the sockops link.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "echo.h"
#include "echo.skel.h"
#include "libbpf_ptr.h"

namespace kecho::loader {

// How the verdict reads each skb's sequence number (TCP_SKB_CB(skb)->seq): through the
// bpf_cast_to_kern_ctx kfunc (6.2+), or with bpf_probe_read_kernel (6.1); automatic takes the
// kfunc where the kernel has it.
enum class SeqRead { automatic, kfunc, probe_read };

struct ProgramSettings {
    std::uint16_t port = 0;
    std::uint64_t max_pending = ECHO_DEFAULT_MAX_PENDING;
    std::uint32_t max_sockets = ECHO_DEFAULT_MAX_SOCKETS;
    bool meter = true;            // attach the sk_msg meter
    bool sockops = true;          // attach sockops (it deletes each socket's echo position at close)
    bool sockops_inserts = true;  // sockops inserts sockets (false: the loader does, after accept)
    SeqRead seq_read = SeqRead::automatic;
    bool verbose = false;  // libbpf debug output
};

// Ids of everything loaded, for `status`, `detach` and the tests.
struct ObjectIds {
    std::uint32_t sockops = 0, verdict = 0, meter = 0;                            // programs
    std::uint32_t sockets = 0, positions = 0, counters = 0, events = 0, bss = 0;  // maps
    std::uint32_t sockops_link = 0;
};

enum class ObjectKind { program, map, link };

// One row per id of ObjectIds: the one list that serializing, `status --json`, `detach`'s leftover
// check and the tests walk (0 in a field: not loaded).
struct ObjectField {
    ObjectKind kind;
    const char* name;  // the kernel's name of the program or map
    std::uint32_t ObjectIds::*id;
};
inline constexpr ObjectField object_fields[] = {
    {ObjectKind::program, "echo_sockops", &ObjectIds::sockops},
    {ObjectKind::program, "echo_verdict", &ObjectIds::verdict},
    {ObjectKind::program, "echo_meter", &ObjectIds::meter},
    {ObjectKind::map, "echo_sockets", &ObjectIds::sockets},
    {ObjectKind::map, "echo_positions", &ObjectIds::positions},
    {ObjectKind::map, "echo_counters", &ObjectIds::counters},
    {ObjectKind::map, "echo_events", &ObjectIds::events},
    {ObjectKind::map, "bss", &ObjectIds::bss},
    {ObjectKind::link, "sockops", &ObjectIds::sockops_link},
};

// Opens, configures and loads echo.bpf.o, then attaches the verdict (and meter) to the socket hash.
// attach_sockops() attaches sockops to a cgroup with a bpf_link. Everything is detached and unloaded
// by the destructor (and by the kernel if the process dies: links and map attachments are released
// with the last fd).
class EchoProgram {
public:
    explicit EchoProgram(const ProgramSettings& settings);
    EchoProgram(const EchoProgram&) = delete;
    EchoProgram& operator=(const EchoProgram&) = delete;
    ~EchoProgram();

    void attach_sockops(int cgroup_fd, const std::string& cgroup_path);

    int sockets_fd() const;
    int events_fd() const;
    // The loader's counters: ECHO_MAX_THREADS + 1 slots, one per accept thread and the main thread's.
    echo_loader_stats* loader_stats() { return skel_->bss->loader_stats; }
    // sockops' failed inserts since load, written by the kernel (read with an atomic load).
    const __u64* sockops_insert_failures() const { return &skel_->bss->sockops_insert_failures; }
    ObjectIds ids() const;
    // The verdict loaded: "bpf_cast_to_kern_ctx" or "bpf_probe_read_kernel", how it reads sequence
    // numbers.
    const char* seq_read() const;

private:
    SkeletonPtr<echo_bpf> skel_;
    bpf_program* verdict_ = nullptr;  // echo_verdict or echo_verdict_pr
    bool verdict_attached_ = false;
    bool meter_attached_ = false;
};

// libbpf's print callback: warnings always, debug lines only when verbose.
void set_libbpf_verbosity(bool verbose);

}  // namespace kecho::loader
