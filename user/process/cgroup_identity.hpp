// SPDX-License-Identifier: GPL-2.0-only
// A cgroup id as an operator knows it: the cgroup's path, and the
// container, pod or systemd unit it stands for.
#pragma once
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "kernel/cgroups.hpp"
#include "process/workload.hpp"

namespace nfsleuth {

// Pod and container names read from the kubelet's log directories. Read
// again when a lookup misses, at most once per `refresh`: a pod that
// starts is named within that, and a host without Kubernetes pays one
// failed stat per period.
class PodNames {
public:
    explicit PodNames(PodDirectories dirs, std::chrono::seconds refresh = std::chrono::seconds(10));
    // Fills w's pod and container names where the directories have them.
    void name(Workload& w);

private:
    void rescan();
    bool known(const Workload& w) const;

    PodDirectories dirs_;
    std::chrono::seconds refresh_;
    std::chrono::steady_clock::time_point last_scan_{};
    bool scanned_ = false;
    std::unordered_map<std::string, PodDirName> pods_;                         // by uid
    std::unordered_map<std::string, std::vector<std::string>> pod_containers_;  // uid: container directories
    std::unordered_map<std::string, std::string> container_names_;             // by container id
};

struct CgroupIdentity {
    std::string path;  // from the v2 root: "/kubepods.slice/..."
    Workload workload;
};

// cgroup ids (from BPF) to paths and workloads, cached.
class CgroupResolver {
public:
    explicit CgroupResolver(PodDirectories dirs = {}) : pods_(std::move(dirs)) {}
    // nullopt when the id names no cgroup found in the hierarchy (gone, or
    // no v2 hierarchy). Never throws.
    std::optional<CgroupIdentity> lookup(uint64_t id) noexcept;

private:
    CgroupPaths paths_;
    PodNames pods_;
};

}  // namespace nfsleuth
