// SPDX-License-Identifier: GPL-2.0-only
#include "process/cgroup_identity.hpp"

#include <filesystem>

namespace nfsleuth {

namespace fs = std::filesystem;

namespace {

// Bounds a node's listing (a few hundred pods is a busy node).
constexpr std::size_t kMaxEntries = 20000;

}  // namespace

PodNames::PodNames(PodDirectories dirs, std::chrono::seconds refresh) : dirs_(std::move(dirs)), refresh_(refresh) {}

void PodNames::rescan() {
    last_scan_ = std::chrono::steady_clock::now();
    scanned_ = true;
    pods_.clear();
    pod_containers_.clear();
    container_names_.clear();
    std::error_code ec;
    for (fs::directory_iterator it(dirs_.pods, ec), end; !ec && it != end && pods_.size() < kMaxEntries;
         it.increment(ec)) {
        PodDirName pod;
        if (!it->is_directory(ec) || !parse_pod_dir_name(it->path().filename().string(), pod)) continue;
        std::vector<std::string> containers;
        std::error_code inner;
        for (fs::directory_iterator c(it->path(), inner), cend; !inner && c != cend && containers.size() < 64;
             c.increment(inner))
            if (c->is_directory(inner)) containers.push_back(c->path().filename().string());
        pod_containers_[pod.uid] = std::move(containers);
        pods_[pod.uid] = std::move(pod);
    }
    ec.clear();
    for (fs::directory_iterator it(dirs_.containers, ec), end;
         !ec && it != end && container_names_.size() < kMaxEntries; it.increment(ec)) {
        ContainerLogName log;
        if (parse_container_log_name(it->path().filename().string(), log))
            container_names_[log.container_id] = log.container_name;
    }
}

bool PodNames::known(const Workload& w) const {
    if (w.in_pod() && !pods_.count(w.pod_uid)) return false;
    if (w.in_pod() && w.in_container() && !container_names_.count(w.container_id)) return false;
    return true;
}

void PodNames::name(Workload& w) {
    if (!w.in_pod()) return;
    if (!known(w) && (!scanned_ || std::chrono::steady_clock::now() - last_scan_ >= refresh_)) rescan();
    auto pod = pods_.find(w.pod_uid);
    if (pod == pods_.end()) return;
    w.pod_namespace = pod->second.pod_namespace;
    w.pod_name = pod->second.pod_name;
    if (!w.in_container()) return;
    if (auto c = container_names_.find(w.container_id); c != container_names_.end()) {
        w.container_name = c->second;
    } else if (auto dirs = pod_containers_.find(w.pod_uid);
               dirs != pod_containers_.end() && dirs->second.size() == 1) {
        // Without /var/log/containers, a pod of one container still names it.
        w.container_name = dirs->second.front();
    }
}

std::optional<CgroupIdentity> CgroupResolver::lookup(uint64_t id) noexcept {
    try {
        auto path = paths_.lookup(id);
        if (!path) return std::nullopt;
        CgroupIdentity identity{*path, parse_cgroup_path(*path)};
        pods_.name(identity.workload);
        return identity;
    } catch (const std::exception&) {
        return std::nullopt;
    }
}

}  // namespace nfsleuth
