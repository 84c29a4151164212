// SPDX-License-Identifier: GPL-2.0-only
// A cgroup id as an operator knows it: the cgroup's path, and the
// container, pod or systemd unit it stands for.
#pragma once
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <stop_token>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "kernel/cgroups.hpp"
#include "process/workload.hpp"

namespace nfsleuth {

// What the kubelet's log directories name: pods by uid, their container
// directories, and containers by id.
struct PodIndex {
    std::unordered_map<std::string, PodDirName> pods;                           // by uid
    std::unordered_map<std::string, std::vector<std::string>> pod_containers;  // uid: container directories
    std::unordered_map<std::string, std::string> container_names;              // by container id
    bool containers_listed = false;  // the links' directory was read
};
// Reads them (bounded); missing directories read as empty.
PodIndex read_pod_directories(const PodDirectories& dirs);

// Pod and container names, read from the kubelet's directories once at
// construction and again by a thread of their own, so that naming never
// waits for a directory: a lookup reads the last index, and one that misses
// asks for a new reading (read at most once per `min_gap`; a name a reading
// did not find is not asked for again within `retry`). A pod's first event
// may thus carry only its uid, its later ones its names.
class PodNames {
public:
    explicit PodNames(PodDirectories dirs, std::chrono::milliseconds min_gap = std::chrono::seconds(2),
                      std::chrono::seconds retry = std::chrono::seconds(30));
    PodNames(const PodNames&) = delete;
    PodNames& operator=(const PodNames&) = delete;
    // Fills w's pod and container names where the last reading has them.
    void name(Workload& w);
    // Readings of the directories so far, the constructor's included.
    uint64_t readings() const;

private:
    std::shared_ptr<const PodIndex> index() const;
    void ask(const std::string& key);
    void read_when_asked(std::stop_token stop);

    const PodDirectories dirs_;
    const std::chrono::milliseconds min_gap_;
    const std::chrono::seconds retry_;
    // The caller's: names asked for, and when.
    std::unordered_map<std::string, std::chrono::steady_clock::time_point> asked_;
    // Shared with the reader.
    mutable std::mutex mutex_;
    std::condition_variable_any wake_;
    bool wanted_ = false;
    uint64_t readings_ = 1;
    std::chrono::steady_clock::time_point read_at_ = std::chrono::steady_clock::now();  // the last reading's start
    std::shared_ptr<const PodIndex> index_;
    // Started by the first miss. Last, so destroyed first: its stop request
    // wakes it from wake_, and it is joined before what it uses goes.
    std::jthread reader_;
};

struct CgroupIdentity {
    std::string path;  // from the v2 root: "/kubepods.slice/..."
    Workload workload;
};

// cgroup ids (from BPF) to paths and workloads, cached.
// One per process, shared by its sources.
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
