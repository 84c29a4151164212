// SPDX-License-Identifier: GPL-2.0-only
#pragma once
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <unordered_map>

namespace nfsleuth {

// Maps cgroup v2 ids (the inode number of the cgroup's directory) to paths
// relative to the cgroup2 mount, by walking the hierarchy. The walk is
// repeated on a miss at most once a second, since new cgroups appear all
// the time (containers, systemd scopes).
class CgroupPaths {
public:
    explicit CgroupPaths(std::string root = "/sys/fs/cgroup") : root_(std::move(root)) {}
    std::optional<std::string> lookup(uint64_t id);

private:
    void rescan();
    std::string root_;
    std::unordered_map<uint64_t, std::string> paths_;
    std::chrono::steady_clock::time_point last_scan_{};
    bool scanned_ = false;
};

}  // namespace nfsleuth
