// SPDX-License-Identifier: GPL-2.0-only
// The running instance, as other invocations see it: a lock and a small JSON state file in the
// runtime directory (default /run/kecho-bpf). One instance per runtime directory.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <nlohmann/json_fwd.hpp>
#include <optional>
#include <string>

#include "echo_program.h"
#include "kecho/unique_fd.h"

namespace kecho::loader {

inline constexpr const char* default_run_dir = "/run/kecho-bpf";

struct InstanceState {
    pid_t pid = 0;
    std::string address;  // "0.0.0.0:23001"
    std::uint16_t port = 0;
    std::string cgroup;
    bool cgroup_owned = false;  // created for this instance: removed with it
    bool meter = true;
    std::string insert;    // sockops | loader | none
    std::string seq_read;  // how the verdict reads sequence numbers (EchoProgram::seq_read)
    std::uint64_t max_pending = 0;
    int threads = 1;           // accept threads
    std::int64_t started = 0;  // unix seconds
    ObjectIds ids;
};

// The state as the state file holds it (and `status --json` shows it): its fields and its ids.
nlohmann::json instance_json(const InstanceState& state);

// The ids as {"programs": {...}, "maps": {...}, "links": {...}} keyed by object_fields' names: the
// state file and `status --json` write them this one way.
void ids_to_json(nlohmann::json& out, const ObjectIds& ids);
ObjectIds ids_from_json(const nlohmann::json& in);

// Held by `attach` for its whole life (flock on <dir>/lock; released by the kernel if it dies).
class InstanceLock {
public:
    // Throws Error("another echo-loader is already running ...") when the lock is taken.
    explicit InstanceLock(const std::string& run_dir);
    InstanceLock(const InstanceLock&) = delete;
    InstanceLock& operator=(const InstanceLock&) = delete;
    ~InstanceLock();

    // Publishes the state (atomically: temporary file + rename).
    void publish(const InstanceState& state);

private:
    std::string dir_;
    UniqueFd fd_;
    bool published_ = false;
};

// True while an `attach` holds the lock of `run_dir`.
bool instance_running(const std::string& run_dir);

// The published state, nullopt if there is none (never started, or stopped cleanly).
std::optional<InstanceState> read_instance_state(const std::string& run_dir);

// Removes the state file of a dead instance (after SIGKILL).
void remove_stale_state(const std::string& run_dir);

}  // namespace kecho::loader
