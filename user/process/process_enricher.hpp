// SPDX-License-Identifier: GPL-2.0-only
// What an event's numbers stand for: namespace names, command lines and
// cgroup paths, looked up from /proc and cgroupfs when an event needs them.
#pragma once
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <unordered_map>

#include "process/cgroup_identity.hpp"

namespace nfsleuth {

// Namespace names, process command lines and cgroups (paths, containers,
// pods), looked up lazily and cached (bounded).
class ProcessEnricher {
public:
    // `cgroups` must outlive this.
    explicit ProcessEnricher(CgroupResolver& cgroups) : cgroups_(cgroups) {}
    // Each is nullopt when it cannot be found out, and none throws: an event
    // is delivered whatever its enrichment runs into.
    std::optional<std::string> netns_name(uint32_t inode) noexcept;
    std::optional<std::string> cmdline(uint32_t pid) noexcept;
    std::optional<CgroupIdentity> cgroup(uint64_t id) noexcept;

private:
    std::unordered_map<uint32_t, std::string> netns_;
    std::chrono::steady_clock::time_point last_scan_{};
    std::unordered_map<uint32_t, std::string> cmdlines_;
    CgroupResolver& cgroups_;
};

}  // namespace nfsleuth
