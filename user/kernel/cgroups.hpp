// SPDX-License-Identifier: GPL-2.0-only
#pragma once
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "common/unique_fd.hpp"

namespace nfsleuth {

// Maps cgroup v2 ids (the inode number of the cgroup's directory) to paths
// relative to the cgroup2 mount. An id seen for the first time is opened
// by its file handle (cgroupfs encodes a handle as the id itself), a few
// microseconds whatever the size of the hierarchy; where that is refused
// (no CAP_DAC_READ_SEARCH, a cgroup outside this mount), the hierarchy is
// walked instead, at most once a second on misses.
class CgroupPaths {
public:
    // root: the cgroup2 mount; by default found in /proc/self/mounts (it is
    // /sys/fs/cgroup on unified hosts, /sys/fs/cgroup/unified on hybrid ones).
    explicit CgroupPaths(std::optional<std::string> root = std::nullopt);
    std::optional<std::string> lookup(uint64_t id);

private:
    std::optional<std::string> open_by_id(uint64_t id) const;
    void rescan();

    std::optional<std::string> root_;
    UniqueFd root_fd_;
    // The root's own handle, which an id takes the place of; empty when this
    // filesystem's handles are not ids (not cgroupfs).
    std::vector<unsigned char> root_handle_;
    int handle_type_ = 0;
    std::unordered_map<uint64_t, std::string> paths_;
    std::chrono::steady_clock::time_point last_scan_{};
    bool scanned_ = false;
};

}  // namespace nfsleuth
