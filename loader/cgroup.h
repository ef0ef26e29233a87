// SPDX-License-Identifier: GPL-2.0-only
// cgroup v2 handling: where the v2 hierarchy is mounted, and a membership that moves this process
// into an echo cgroup and back.
#pragma once

#include <optional>
#include <string>

#include "kecho/unique_fd.h"

namespace kecho::loader {

// Mount point of the cgroup v2 hierarchy from /proc/self/mountinfo (e.g. /sys/fs/cgroup on a
// unified host, /sys/fs/cgroup/unified on a hybrid one); nullopt when none is mounted.
std::optional<std::string> find_cgroup2_root(const std::string& mountinfo = "/proc/self/mountinfo");

// Where `attach` runs without --cgroup: kecho-bpf inside this process's own cgroup when that cgroup
// was delegated to it (a systemd unit with Delegate=yes: the echo then stays inside its service,
// which tracks, logs and cleans it up), otherwise kecho-bpf under the v2 root `root`.
std::string default_echo_cgroup(const std::string& root);

// Moves this process into `path` (created if missing; its parent must be a cgroup v2 directory).
// The destructor moves the process back where it was and removes the directory if it created it,
// or if `owned` (the default kecho-bpf cgroup, perhaps left by a killed instance). Writing
// cgroup.procs moves the whole process, every thread with it.
class CgroupMembership {
public:
    CgroupMembership(const std::string& path, const std::string& root, bool owned);
    CgroupMembership(const CgroupMembership&) = delete;
    CgroupMembership& operator=(const CgroupMembership&) = delete;
    ~CgroupMembership();

    bool created() const { return created_; }
    int fd() const { return fd_.get(); }

private:
    std::string path_;
    std::string root_;
    std::string original_;  // absolute directory we came from
    bool created_ = false;
    bool owned_ = false;
    bool moved_ = false;
    UniqueFd fd_;
};

// Writes this process's pid into <dir>/cgroup.procs. Throws Error.
void move_to_cgroup(const std::string& dir);

}  // namespace kecho::loader
