// SPDX-License-Identifier: GPL-2.0-only
#include "bpf_objects.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include <cerrno>
#include <cstring>

#include "kecho/error.h"
#include "kecho/unique_fd.h"

namespace kecho::loader {

void RingBufferDeleter::operator()(ring_buffer* rb) const {
    ring_buffer__free(rb);
}
namespace {

UniqueFd map_by_id(std::uint32_t id, const char* what) {
    UniqueFd fd(bpf_map_get_fd_by_id(id));
    if (!fd) {
        int err = errno;
        if (err == ENOENT) throw Error(std::string("the ") + what + " map (id " + std::to_string(id) + ") is gone");
        if (err == EPERM || err == EACCES)
            throw Error(std::string("cannot read the ") + what + " map: need root (CAP_BPF)");
        throw_errno(std::string("cannot open the ") + what + " map (id " + std::to_string(id) + ")", err);
    }
    return fd;
}

void add_loader_stats(echo_loader_stats& sum, const echo_loader_stats& one) {
    sum.accepted += one.accepted;
    sum.active += one.active;
    sum.inserted_by_loader += one.inserted_by_loader;
    sum.fallback += one.fallback;
    sum.fallback_bytes += one.fallback_bytes;
    sum.guard_resets += one.guard_resets;
    sum.drain_timeouts += one.drain_timeouts;
    sum.closed += one.closed;
    sum.drain_checks += one.drain_checks;
}

// The loader's counters: the sum of every accept thread's slot in the .bss.
echo_loader_stats read_loader_stats(std::uint32_t bss_id) {
    echo_loader_stats sum{};
    std::uint32_t zero = 0;
    UniqueFd bss = map_by_id(bss_id, "bss");
    bpf_map_info info{};
    std::uint32_t len = sizeof(info);
    if (bpf_obj_get_info_by_fd(bss.get(), &info, &len) != 0) throw_errno("cannot inspect the bss map", errno);
    constexpr int slots = ECHO_MAX_THREADS + 1;  // the accept threads' and the main thread's
    if (info.value_size < sizeof(echo_loader_stats) * slots) throw Error("the bss map is smaller than expected");
    std::vector<char> value(info.value_size);
    if (bpf_map_lookup_elem(bss.get(), &zero, value.data()) != 0) throw_errno("cannot read the bss map", errno);
    // One slot per thread: the instance's counters are their sums.
    for (int slot = 0; slot < slots; ++slot) {
        echo_loader_stats one{};
        std::memcpy(&one, value.data() + sizeof(one) * static_cast<std::size_t>(slot), sizeof(one));
        add_loader_stats(sum, one);
    }

    return sum;
}

}  // namespace

std::vector<BpfObjectInfo> list_bpf_objects(const std::string& prefix) {
    std::vector<BpfObjectInfo> found;
    std::uint32_t id = 0;
    // Bounded: ids are finite and strictly increasing.
    for (int guard = 0; guard < 1'000'000 && bpf_prog_get_next_id(id, &id) == 0; ++guard) {
        UniqueFd fd(bpf_prog_get_fd_by_id(id));
        if (!fd) continue;  // unloaded meanwhile
        bpf_prog_info info{};
        std::uint32_t len = sizeof(info);
        if (bpf_obj_get_info_by_fd(fd.get(), &info, &len) != 0) continue;
        std::string name = info.name;
        if (name.rfind(prefix, 0) == 0) found.push_back({"prog", id, name});
    }
    id = 0;
    for (int guard = 0; guard < 1'000'000 && bpf_map_get_next_id(id, &id) == 0; ++guard) {
        UniqueFd fd(bpf_map_get_fd_by_id(id));
        if (!fd) continue;
        bpf_map_info info{};
        std::uint32_t len = sizeof(info);
        if (bpf_obj_get_info_by_fd(fd.get(), &info, &len) != 0) continue;
        std::string name = info.name;
        if (name.rfind(prefix, 0) == 0) found.push_back({"map", id, name});
    }
    return found;
}

bool prog_exists(std::uint32_t id) {
    if (id == 0) return false;
    UniqueFd fd(bpf_prog_get_fd_by_id(id));
    return fd.valid() || errno != ENOENT;
}

bool map_exists(std::uint32_t id) {
    if (id == 0) return false;
    UniqueFd fd(bpf_map_get_fd_by_id(id));
    return fd.valid() || errno != ENOENT;
}

bool link_exists(std::uint32_t id) {
    if (id == 0) return false;
    UniqueFd fd(bpf_link_get_fd_by_id(id));
    return fd.valid() || errno != ENOENT;
}

bool object_exists(ObjectKind kind, std::uint32_t id) {
    switch (kind) {
        case ObjectKind::program:
            return prog_exists(id);
        case ObjectKind::map:
            return map_exists(id);
        case ObjectKind::link:
            return link_exists(id);
    }
    return false;
}

StatsSnapshot read_stats(const ObjectIds& ids) {
    StatsSnapshot snap;

    UniqueFd counters = map_by_id(ids.counters, "counters");
    int cpus = libbpf_num_possible_cpus();
    if (cpus <= 0) throw Error("cannot count the possible cpus");
    std::vector<echo_counters> per_cpu(static_cast<size_t>(cpus));
    std::uint32_t zero = 0;
    if (bpf_map_lookup_elem(counters.get(), &zero, per_cpu.data()) != 0)
        throw_errno("cannot read the counters map", errno);
    for (const auto& c : per_cpu)
        for (int i = 0; i < ECHO_COUNTER_MAX; ++i) snap.bpf[static_cast<size_t>(i)] += c.value[i];

    snap.loader = read_loader_stats(ids.bss);
    UniqueFd sockets = map_by_id(ids.sockets, "socket hash");
    std::uint64_t key = 0;
    std::uint64_t* prev = nullptr;
    for (int guard = 0; guard < 10'000'000 && bpf_map_get_next_key(sockets.get(), prev, &key) == 0; ++guard) {
        ++snap.in_map;
        prev = &key;
    }
    auto runs = [](std::uint32_t id) {
        StatsSnapshot::ProgramRuns r;
        if (id == 0) return r;
        UniqueFd fd(bpf_prog_get_fd_by_id(id));
        bpf_prog_info info{};
        std::uint32_t len = sizeof(info);
        if (fd && bpf_obj_get_info_by_fd(fd.get(), &info, &len) == 0) {
            r.runs = info.run_cnt;
            r.run_time_ns = info.run_time_ns;
        }
        return r;
    };
    snap.sockops = runs(ids.sockops);
    snap.verdict = runs(ids.verdict);
    snap.meter = runs(ids.meter);
    return snap;
}

}  // namespace kecho::loader
