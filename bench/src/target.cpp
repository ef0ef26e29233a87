// SPDX-License-Identifier: GPL-2.0-only
#include "bench/target.h"

#include "kecho/error.h"
#include "kecho/ports.h"

namespace kecho::bench {
namespace {

struct ModeInfo {
    Mode mode;
    const char* name;
    std::uint16_t port;
    const char* start;  // the command that starts its server
};

// Every mode in the order --mode all runs them.
constexpr ModeInfo modes[] = {
    {Mode::bpf, "bpf", ports::bpf, "sudo ./echo-loader attach"},
    {Mode::kmod, "kmod", ports::kmod,
     "sudo insmod kmod/kecho.ko; where the kernel cannot load modules: scripts/vm/compare-in-guest.sh"},
    {Mode::user, "user", ports::user, "./user-echo-server"},
    {Mode::uring, "uring", ports::uring, "./user-echo-server --engine uring"},
    {Mode::floor, "floor", ports::floor, "./user-echo-server --engine floor"},
    {Mode::splice, "splice", ports::splice, "./user-echo-server --engine splice"},
};

const ModeInfo& info(Mode mode) {
    return modes[static_cast<int>(mode)];
}

}  // namespace

const std::vector<Mode>& all_modes() {
    static const std::vector<Mode> all = [] {
        std::vector<Mode> out;
        for (const auto& m : modes) out.push_back(m.mode);
        return out;
    }();
    return all;
}

const char* mode_name(Mode mode) {
    return info(mode).name;
}
std::uint16_t default_port(Mode mode) {
    return info(mode).port;
}
const char* start_hint(Mode mode) {
    return info(mode).start;
}

std::optional<Mode> parse_mode(const std::string& name) {
    for (const auto& m : modes)
        if (name == m.name) return m.mode;
    return std::nullopt;
}

std::string Target::describe() const {
    return std::string(mode_name(mode)) + " server at " + address.to_string();
}

std::optional<std::string> probe(const Target& target, int timeout_ms) {
    try {
        UniqueFd fd = connect_to(target.address, timeout_ms);
    } catch (const Error& e) {
        std::string why = e.what();
        // connect_to says "cannot connect to <address>: <reason>"; keep the reason only.
        auto colon = why.rfind(": ");
        if (colon != std::string::npos) why = why.substr(colon + 2);
        return "no " + target.describe() + ": " + why + " (start it with " + start_hint(target.mode) + ")";
    }
    return std::nullopt;
}

}  // namespace kecho::bench
