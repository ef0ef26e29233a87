#include "bench/target.h"

#include "kecho/error.h"
#include "kecho/ports.h"

namespace kecho::bench {

const std::vector<Mode>& all_modes() {
    static const std::vector<Mode> modes = {Mode::bpf, Mode::kmod, Mode::user, Mode::uring, Mode::floor, Mode::splice};
    return modes;
}

const char* mode_name(Mode mode) {
    switch (mode) {
        case Mode::bpf:
            return "bpf";
        case Mode::kmod:
            return "kmod";
        case Mode::user:
            return "user";
        case Mode::uring:
            return "uring";
        case Mode::floor:
            return "floor";
        case Mode::splice:
            return "splice";
    }
    return "?";
}

std::optional<Mode> parse_mode(const std::string& name) {
    for (Mode m : all_modes())
        if (name == mode_name(m)) return m;
    return std::nullopt;
}

std::uint16_t default_port(Mode mode) {
    switch (mode) {
        case Mode::bpf:
            return ports::bpf;
        case Mode::kmod:
            return ports::kmod;
        case Mode::user:
            return ports::user;
        case Mode::uring:
            return ports::uring;
        case Mode::floor:
            return ports::busypoll;
        case Mode::splice:
            return ports::splice;
    }
    return 0;
}

const char* start_hint(Mode mode) {
    switch (mode) {
        case Mode::bpf:
            return "sudo ./echo-loader attach";
        case Mode::kmod:
            return "sudo insmod kmod/kecho.ko; where the kernel cannot load modules: scripts/vm/compare-in-guest.sh";
        case Mode::user:
            return "./user-echo-server";
        case Mode::uring:
            return "./user-echo-server --engine uring";
        case Mode::floor:
            return "./user-echo-server --engine floor";
        case Mode::splice:
            return "./user-echo-server --engine splice";
    }
    return "?";
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
