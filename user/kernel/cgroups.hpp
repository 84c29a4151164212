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
    // root: the cgroup2 mount; by default found in /proc/self/mounts (it is
    // /sys/fs/cgroup on unified hosts, /sys/fs/cgroup/unified on hybrid ones).
    explicit CgroupPaths(std::optional<std::string> root = std::nullopt);
    std::optional<std::string> lookup(uint64_t id);

private:
    void rescan();
    std::optional<std::string> root_;
    std::unordered_map<uint64_t, std::string> paths_;
    std::chrono::steady_clock::time_point last_scan_{};
    bool scanned_ = false;
};

}  // namespace nfsleuth
