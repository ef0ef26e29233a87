// SPDX-License-Identifier: GPL-2.0-only
#include "bench/targets.h"

#include <algorithm>

#include "bench/results.h"
#include "bench/workloads.h"
#include "kecho/error.h"
#include "kecho/servers.h"

namespace kecho::bench {
namespace {

bool valid_name(const std::string& name) {
    return !name.empty() && std::all_of(name.begin(), name.end(), [](unsigned char c) {
        return std::isalnum(c) || c == '.' || c == '_' || c == '+' || c == '-';
    });
}

Target registry_target(const ServerEntry& server, const std::string& host, std::uint16_t port) {
    return {std::string(server.mode), parse_address(host, port), std::string(server.start)};
}

}  // namespace

std::string Target::describe() const {
    return name + " server at " + address.to_string();
}

std::string Target::label() const {
    return client_workers ? name + "/w" + std::to_string(client_workers) : name;
}

std::string Target::server_name() const {
    return server.empty() ? name : server;
}

Target parse_target(const std::string& spec) {
    const auto eq = spec.find('=');
    const auto colon = spec.rfind(':');
    if (eq == std::string::npos || colon == std::string::npos || colon < eq)
        throw Error("expected NAME=HOST:PORT, got '" + spec + "'");
    Target target;
    target.name = spec.substr(0, eq);
    if (!valid_name(target.name))
        throw Error("invalid target name '" + target.name + "': use letters, digits and . _ + -");
    target.address = parse_address(spec.substr(eq + 1, colon - eq - 1), parse_port(spec.substr(colon + 1)));
    return target;
}

std::vector<std::string> TargetOptions::selected_modes() const {
    if (modes.empty()) return ad_hoc.empty() ? std::vector<std::string>{"user"} : std::vector<std::string>{};
    std::vector<std::string> out;
    for (const auto& name : modes) {
        if (name == "all") return mode_names();
        if (std::find(out.begin(), out.end(), name) == out.end()) out.push_back(name);
    }
    return out;
}

std::vector<Target> TargetOptions::targets() const {
    std::vector<Target> out;
    for (const auto& mode : selected_modes()) {
        const ServerEntry* server = find_server(mode);
        std::uint16_t p = port ? port : server->port;  // --port excludes --mode-port
        if (auto it = mode_ports.find(mode); it != mode_ports.end()) p = it->second;
        out.push_back(registry_target(*server, host, p));
    }
    out.insert(out.end(), ad_hoc.begin(), ad_hoc.end());
    return out;
}

std::vector<std::string> TargetOptions::names() const {
    std::vector<std::string> out = selected_modes();
    for (const auto& t : ad_hoc) out.push_back(t.name);
    return out;
}

std::optional<std::string> probe(const Target& target) {
    try {
        // 4 s: past the SYN's first two retransmissions (1 s, 3 s), so a lossy network is not
        // taken for a missing server; a refused connection still answers at once.
        UniqueFd fd = connect_to(target.address, 4000);
    } catch (const Error& e) {
        // connect_to says "cannot connect to <address>: <reason>"; keep the reason only.
        return "no " + target.describe() + ": " + last_reason(e.what()) +
               (target.start.empty() ? "" : " (start it with " + target.start + ")");
    }
    return std::nullopt;
}

Targets probe_all(const std::vector<Target>& targets) {
    Targets out;
    for (const Target& t : targets) {
        if (auto why = probe(t))
            out.skipped.emplace_back(t, *why);
        else
            out.reachable.push_back(t);
    }
    return out;
}

std::vector<std::string> mode_names() {
    std::vector<std::string> names;
    for (const auto& s : servers) names.emplace_back(s.mode);
    return names;
}

std::string default_ports() {
    std::vector<const ServerEntry*> sorted;
    for (const auto& s : servers) sorted.push_back(&s);
    std::sort(sorted.begin(), sorted.end(), [](const auto* a, const auto* b) { return a->port < b->port; });
    std::vector<std::string> items;
    for (const auto* s : sorted) items.push_back(std::string(s->mode) + " " + std::to_string(s->port));
    return join(items);
}

std::string servers_table(bool heading) {
    std::vector<std::vector<std::string>> rows;
    if (heading) rows.push_back({"mode", "engine", "port", "program", "role", "start"});
    for (const auto& s : servers)
        rows.push_back({std::string(s.mode), std::string(s.engine), std::to_string(s.port), std::string(s.program),
                        std::string(role_name(s.role)), std::string(s.start)});
    return format_columns(rows, true);
}

}  // namespace kecho::bench
