// SPDX-License-Identifier: GPL-2.0-only
#include "trace.h"

#include <bpf/libbpf.h>
#include <poll.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>

#include "echo_program.h"
#include "echo_trace.skel.h"
#include "kecho/error.h"
#include "kecho/signals.h"
#include "kernel_btf.h"
#include "libbpf_ptr.h"
#include "system_checks.h"

namespace kecho::loader {
namespace {

using TraceSkeleton = SkeletonPtr<echo_trace_bpf>;

TraceSkeleton load_tracer(std::uint16_t port) {
    TraceSkeleton skel(echo_trace_bpf::open());
    if (!skel) throw_errno("cannot open the trace BPF object", errno);
    skel->rodata->trace_port = port;
    // Resets are counted where tcp_send_reset says why (sk, skb, reason: 6.10+).
    if (tracepoint_arguments("tcp_send_reset") < 3) bpf_program__set_autoload(skel->progs.trace_reset, false);
    int ret = echo_trace_bpf::load(skel.get());
    if (ret)
        throw Error(errno_message("cannot load the trace programs", -ret) +
                    " (they need BTF at /sys/kernel/btf/vmlinux, tp_btf tracepoints and root)");
    ret = echo_trace_bpf::attach(skel.get());
    if (ret) throw Error(errno_message("cannot attach the trace programs to their tracepoints", -ret));
    return skel;
}

int take_record(void* context, void* data, std::size_t size) {
    if (size < sizeof(echo_trace_record)) return 0;
    auto* records = static_cast<std::vector<echo_trace_record>*>(context);
    records->push_back(*static_cast<const echo_trace_record*>(data));
    return 0;
}

// Polls the records until the time is up or a shutdown signal; shows progress on a terminal.
std::vector<echo_trace_record> collect(echo_trace_bpf& skel, const TraceOptions& options) {
    std::vector<echo_trace_record> records;
    RingBufferPtr rb(ring_buffer__new(bpf_map__fd(skel.maps.records), take_record, &records, nullptr));
    if (!rb) throw_errno("cannot open the trace ring buffer", errno);
    ShutdownSignal shutdown;
    const bool progress = ::isatty(STDERR_FILENO);
    const auto start = std::chrono::steady_clock::now();
    auto next_progress = start + std::chrono::seconds(1);
    std::fprintf(stderr, "tracing port %u%s\n", options.port, options.seconds > 0 ? "" : " (Ctrl-C to stop)");
    for (;;) {
        const auto now = std::chrono::steady_clock::now();
        if (options.seconds > 0 && now - start >= std::chrono::duration<double>(options.seconds)) break;
        pollfd p{shutdown.fd(), POLLIN, 0};
        if (::poll(&p, 1, 0) > 0 && shutdown.requested()) break;
        int n = ring_buffer__poll(rb.get(), 100);
        if (n < 0 && n != -EINTR) throw Error(errno_message("cannot read the trace ring buffer", -n));
        if (progress && now >= next_progress) {
            std::fprintf(stderr, "\r%zu exchanges traced", records.size());
            next_progress = now + std::chrono::seconds(1);
        }
    }
    ring_buffer__consume(rb.get());
    if (progress) std::fprintf(stderr, "\r");
    return records;
}

double percentile(const std::vector<double>& sorted, double p) {
    return sorted[std::min(sorted.size() - 1, static_cast<std::size_t>(p * static_cast<double>(sorted.size())))];
}

// Opened before tracing starts, so a path that cannot be written fails at once, not after the run.
std::ofstream open_records_csv(const std::string& path) {
    std::ofstream out(path);
    if (!out) throw_errno("cannot write --records " + path, errno);
    return out;
}

void write_records_csv(std::ofstream& out, const std::string& path, const std::vector<echo_trace_record>& records) {
    out << "client_port,accepted_first,arrived,readable,server_read,work_queued,work_started,echoed,client_read\n";
    for (const auto& r : records)
        out << r.client_port << ',' << (r.flags & ECHO_TRACE_ACCEPTED_FIRST ? 1 : 0) << ',' << r.arrived << ','
            << r.readable << ',' << r.server_read << ',' << r.work_queued << ',' << r.work_started << ',' << r.echoed
            << ',' << r.client_read << '\n';
    if (!out.flush()) throw_errno("cannot write " + path, errno);
}

nlohmann::json phase_json(const PhaseSummary& s) {
    return {{"count", s.count},   {"mean_us", s.mean_us}, {"p50_us", s.p50_us},
            {"p90_us", s.p90_us}, {"p99_us", s.p99_us},   {"max_us", s.max_us}};
}

// The sides of enum echo_trace_reset_side, in its order.
constexpr const char* reset_sides[ECHO_TRACE_RESET_SIDES] = {"server_abort", "server_answer", "client_abort",
                                                             "client_answer", "no_socket"};

// Resets sent on the port, by side, each with its count per reason (the kernel's names, lowercase,
// without SK_RST_REASON_); null where the kernel does not say why it resets.
nlohmann::json resets_json(const echo_trace_bpf& skel) {
    if (!bpf_program__autoload(skel.progs.trace_reset)) return nullptr;
    const auto names = kernel_enum_names("sk_rst_reason", ECHO_TRACE_RESET_REASONS);
    nlohmann::json j = nlohmann::json::object();
    for (int side = 0; side < ECHO_TRACE_RESET_SIDES; ++side) {
        std::uint64_t total = 0;
        nlohmann::json reasons = nlohmann::json::object();
        for (int r = 0; r < ECHO_TRACE_RESET_REASONS; ++r) {
            const std::uint64_t n = __atomic_load_n(&skel.bss->resets_sent[side][r], __ATOMIC_RELAXED);
            if (n == 0) continue;
            std::string name = names[r].empty() ? "reason " + std::to_string(r) : names[r];
            if (name.rfind("SK_RST_REASON_", 0) == 0) name = name.substr(14);
            std::transform(name.begin(), name.end(), name.begin(), [](unsigned char c) { return std::tolower(c); });
            reasons[name] = n;
            total += n;
        }
        j[reset_sides[side]] = {{"total", total}, {"reasons", reasons}};
    }
    return j;
}

void print_resets(const nlohmann::json& resets) {
    if (resets.is_null()) {
        std::printf("resets: not counted on this kernel (tcp_send_reset gives no reason before 6.10)\n");
        return;
    }
    std::printf("resets sent:");
    for (const char* side : reset_sides) {
        const auto& count = resets[side];
        std::printf("%s %s %llu", side == reset_sides[0] ? "" : ";", side,
                    static_cast<unsigned long long>(count["total"].get<std::uint64_t>()));
        std::string why;
        for (const auto& [reason, n] : count["reasons"].items())
            why += (why.empty() ? "" : ", ") + reason + " " + std::to_string(n.get<std::uint64_t>());
        if (!why.empty()) std::printf(" (%s)", why.c_str());
    }
    std::printf("\n");
}

void print_report(const TraceOptions& options, const std::vector<echo_trace_record>& records, std::uint64_t lost,
                  const nlohmann::json& resets) {
    const auto phases = summarize_phases(records);
    const auto accepted_first = std::count_if(records.begin(), records.end(), [](const echo_trace_record& r) {
        return (r.flags & ECHO_TRACE_ACCEPTED_FIRST) != 0;
    });
    if (options.json) {
        nlohmann::json j = {{"port", options.port},
                            {"exchanges", records.size()},
                            {"accepted_before_arrival", accepted_first},
                            {"records_lost", lost},
                            {"resets_sent", resets}};
        for (std::size_t i = 0; i < phases.size(); ++i) j["phases"][trace_phases[i].name] = phase_json(phases[i]);
        std::cout << j.dump(2) << std::endl;
        return;
    }
    std::printf("port %u: %zu exchanges (%lld with the socket accepted before the bytes arrived)", options.port,
                records.size(), static_cast<long long>(accepted_first));
    std::printf(lost ? ", %llu records lost\n" : "\n", static_cast<unsigned long long>(lost));
    std::printf("%-42s %8s %10s %10s %10s %10s %10s\n", "phase (us)", "count", "mean", "p50", "p90", "p99", "max");
    for (std::size_t i = 0; i < phases.size(); ++i) {
        const auto& s = phases[i];
        if (s.count == 0) continue;
        std::printf("%-42s %8zu %10.1f %10.1f %10.1f %10.1f %10.1f\n", trace_phases[i].name, s.count, s.mean_us,
                    s.p50_us, s.p90_us, s.p99_us, s.max_us);
    }
    print_resets(resets);
}

}  // namespace

std::vector<PhaseSummary> summarize_phases(const std::vector<echo_trace_record>& records) {
    std::vector<PhaseSummary> out;
    for (const auto& phase : trace_phases) {
        std::vector<double> us;
        for (const auto& r : records)
            if (r.*phase.from && r.*phase.to && r.*phase.to >= r.*phase.from)
                us.push_back(static_cast<double>(r.*phase.to - r.*phase.from) / 1e3);
        PhaseSummary s;
        s.count = us.size();
        if (!us.empty()) {
            std::sort(us.begin(), us.end());
            double total = 0;
            for (double v : us) total += v;
            s.mean_us = total / static_cast<double>(us.size());
            s.p50_us = percentile(us, 0.5);
            s.p90_us = percentile(us, 0.9);
            s.p99_us = percentile(us, 0.99);
            s.max_us = us.back();
        }
        out.push_back(s);
    }
    return out;
}

int run_trace(const TraceOptions& options) {
    require_privileges();
    set_libbpf_verbosity(options.verbose);
    std::ofstream csv;
    if (!options.records_csv.empty()) csv = open_records_csv(options.records_csv);
    TraceSkeleton skel = load_tracer(options.port);
    const auto records = collect(*skel, options);
    if (csv.is_open()) write_records_csv(csv, options.records_csv, records);
    print_report(options, records, __atomic_load_n(&skel->bss->records_lost, __ATOMIC_RELAXED), resets_json(*skel));
    return 0;
}

}  // namespace kecho::loader
