// SPDX-License-Identifier: GPL-2.0-only
#include "cgroup.h"

#include <fcntl.h>
#include <linux/magic.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <cerrno>
#include <fstream>
#include <sstream>

#include "kecho/error.h"

namespace kecho::loader {
namespace {

// This process's cgroup v2 path relative to the root ("/" or "/user.slice/..."), from
// /proc/self/cgroup ("0::<path>").
std::string current_cgroup2_path() {
    std::ifstream in("/proc/self/cgroup");
    std::string line;
    while (std::getline(in, line))
        if (line.rfind("0::", 0) == 0) return line.substr(3);
    return "/";
}

// True when `path` is a directory of a cgroup v2 file system.
bool is_cgroup2_dir(const std::string& path) {
    struct statfs fs {};
    return ::statfs(path.c_str(), &fs) == 0 && fs.f_type == CGROUP2_SUPER_MAGIC;
}

// True when the service manager delegated `dir` to the processes in it: under Delegate=yes
// systemd marks a unit's cgroup with the xattr trusted.delegate=1 (user.delegate in its user
// instances), so they may create cgroups below it (systemd.resource-control(5)).
bool delegated(const std::string& dir) {
    for (const char* name : {"trusted.delegate", "user.delegate"}) {
        char value[8] = {};
        if (::getxattr(dir.c_str(), name, value, sizeof(value) - 1) > 0 && value[0] == '1') return true;
    }
    return false;
}

}  // namespace

std::string default_echo_cgroup(const std::string& root) {
    std::string relative = current_cgroup2_path();
    if (relative != "/" && delegated(root + relative)) return root + relative + "/kecho-bpf";
    return root + "/kecho-bpf";
}

std::optional<std::string> find_cgroup2_root(const std::string& mountinfo) {
    std::ifstream in(mountinfo);
    std::string line;
    // "36 25 0:31 / /sys/fs/cgroup rw,nosuid - cgroup2 cgroup2 rw": the type follows " - ".
    while (std::getline(in, line)) {
        auto dash = line.find(" - ");
        if (dash == std::string::npos) continue;
        std::istringstream fields(line.substr(0, dash));
        std::string id, parent, devno, root, mount_point;
        fields >> id >> parent >> devno >> root >> mount_point;
        std::istringstream tail(line.substr(dash + 3));
        std::string fstype;
        tail >> fstype;
        if (fstype == "cgroup2" && root == "/") return mount_point;
    }
    return std::nullopt;
}

void move_to_cgroup(const std::string& dir) {
    std::string procs = dir + "/cgroup.procs";
    UniqueFd fd(::open(procs.c_str(), O_WRONLY | O_CLOEXEC));
    if (!fd) throw_errno("cannot open " + procs, errno);
    std::string text = std::to_string(::getpid());
    if (::write(fd.get(), text.data(), text.size()) != static_cast<ssize_t>(text.size()))
        throw_errno("cannot move process " + text + " into " + dir, errno);
}

CgroupMembership::CgroupMembership(const std::string& path, const std::string& root, bool owned)
    : path_(path), root_(root), owned_(owned) {
    std::string relative = current_cgroup2_path();
    original_ = relative == "/" ? root : root + relative;

    std::string parent = path_.substr(0, path_.find_last_of('/'));
    if (::mkdir(path_.c_str(), 0755) == 0) {
        created_ = true;
    } else if (errno != EEXIST) {
        int err = errno;
        if (!is_cgroup2_dir(parent.empty() ? "/" : parent))
            throw Error("cannot create cgroup " + path_ + ": " + (parent.empty() ? "/" : parent) +
                        " is not a cgroup v2 directory (pass --cgroup inside the v2 hierarchy " + root + ")");
        throw_errno("cannot create cgroup " + path_, err);
    }
    if (!is_cgroup2_dir(path_)) {
        if (created_) ::rmdir(path_.c_str());
        throw Error(path_ + " is not a cgroup v2 directory (pass --cgroup inside the v2 hierarchy " + root + ")");
    }
    fd_.reset(::open(path_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!fd_) {
        int err = errno;
        if (created_) ::rmdir(path_.c_str());
        throw_errno("cannot open cgroup " + path_, err);
    }
    try {
        move_to_cgroup(path_);
        moved_ = true;
    } catch (...) {
        fd_.reset();
        if (created_) ::rmdir(path_.c_str());
        throw;
    }
}

CgroupMembership::~CgroupMembership() {
    fd_.reset();
    if (moved_) {
        try {
            move_to_cgroup(original_);
        } catch (const Error&) {
            // The original cgroup vanished: fall back to the root so the directory can go.
            try {
                move_to_cgroup(root_);
            } catch (const Error&) {
            }
        }
    }
    if (created_ || owned_) ::rmdir(path_.c_str());
}

}  // namespace kecho::loader
