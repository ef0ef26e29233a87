// SPDX-License-Identifier: GPL-2.0-only
#include "instance.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <fstream>
#include <nlohmann/json.hpp>

#include "kecho/error.h"

namespace kecho::loader {
namespace {

std::string lock_path(const std::string& dir) {
    return dir + "/lock";
}
std::string state_path(const std::string& dir) {
    return dir + "/state.json";
}

const char* group_name(ObjectKind kind) {
    switch (kind) {
        case ObjectKind::program:
            return "programs";
        case ObjectKind::map:
            return "maps";
        case ObjectKind::link:
            return "links";
    }
    return "objects";
}

}  // namespace

nlohmann::json instance_json(const InstanceState& s) {
    nlohmann::json j = {{"pid", s.pid},         {"address", s.address},           {"port", s.port},
                        {"cgroup", s.cgroup},   {"cgroup_owned", s.cgroup_owned}, {"meter", s.meter},
                        {"insert", s.insert},   {"max_pending", s.max_pending},   {"threads", s.threads},
                        {"started", s.started}, {"seq_read", s.seq_read}};
    ids_to_json(j, s.ids);
    return j;
}

namespace {

InstanceState from_json(const nlohmann::json& j) {
    InstanceState s;
    s.pid = j.at("pid").get<pid_t>();
    s.address = j.at("address").get<std::string>();
    s.port = j.at("port").get<std::uint16_t>();
    s.cgroup = j.at("cgroup").get<std::string>();
    s.cgroup_owned = j.at("cgroup_owned").get<bool>();
    s.meter = j.at("meter").get<bool>();
    s.insert = j.at("insert").get<std::string>();
    s.seq_read = j.value("seq_read", "");
    s.max_pending = j.at("max_pending").get<std::uint64_t>();
    s.threads = j.value("threads", 1);
    s.started = j.at("started").get<std::int64_t>();
    s.ids = ids_from_json(j);
    return s;
}

}  // namespace

void ids_to_json(nlohmann::json& out, const ObjectIds& ids) {
    for (const auto& field : object_fields) out[group_name(field.kind)][field.name] = ids.*field.id;
}

ObjectIds ids_from_json(const nlohmann::json& in) {
    ObjectIds ids;
    for (const auto& field : object_fields)
        ids.*field.id = in.at(group_name(field.kind)).at(field.name).get<std::uint32_t>();
    return ids;
}

InstanceLock::InstanceLock(const std::string& run_dir) : dir_(run_dir) {
    if (::mkdir(dir_.c_str(), 0755) != 0 && errno != EEXIST) throw_errno("cannot create " + dir_, errno);
    fd_.reset(::open(lock_path(dir_).c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644));
    if (!fd_) throw_errno("cannot open " + lock_path(dir_), errno);
    if (::flock(fd_.get(), LOCK_EX | LOCK_NB) != 0) {
        if (errno != EWOULDBLOCK) throw_errno("cannot lock " + lock_path(dir_), errno);
        std::string who = "another echo-loader is already running";
        if (auto state = read_instance_state(dir_))
            who += " (pid " + std::to_string(state->pid) + ", " + state->address + ")";
        throw Error(who + ": stop it with 'echo-loader detach' first");
    }
}

InstanceLock::~InstanceLock() {
    if (published_) ::unlink(state_path(dir_).c_str());
    // The lock file stays (unlinking it would race with a starting instance); the flock goes with fd_.
}

void InstanceLock::publish(const InstanceState& state) {
    std::string tmp = state_path(dir_) + ".tmp";
    {
        std::ofstream out(tmp, std::ios::trunc);
        out << instance_json(state).dump(2) << "\n";
        if (!out) throw Error("cannot write " + tmp);
    }
    if (::rename(tmp.c_str(), state_path(dir_).c_str()) != 0) throw_errno("cannot write " + state_path(dir_), errno);
    published_ = true;
}

bool instance_running(const std::string& run_dir) {
    UniqueFd fd(::open(lock_path(run_dir).c_str(), O_RDONLY | O_CLOEXEC));
    if (!fd) return false;
    if (::flock(fd.get(), LOCK_SH | LOCK_NB) == 0) return false;  // nobody holds it
    return errno == EWOULDBLOCK;
}

std::optional<InstanceState> read_instance_state(const std::string& run_dir) {
    std::ifstream in(state_path(run_dir));
    if (!in) return std::nullopt;
    try {
        return from_json(nlohmann::json::parse(in));
    } catch (const nlohmann::json::exception&) {
        return std::nullopt;
    }
}

void remove_stale_state(const std::string& run_dir) {
    ::unlink(state_path(run_dir).c_str());
}

}  // namespace kecho::loader
