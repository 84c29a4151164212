// SPDX-License-Identifier: GPL-2.0-only
#include "process/cgroup_identity.hpp"

#include <filesystem>

namespace nfsleuth {

namespace fs = std::filesystem;

namespace {

// Bounds a node's listing (a few hundred pods is a busy node).
constexpr std::size_t kMaxEntries = 20000;

}  // namespace

PodIndex read_pod_directories(const PodDirectories& dirs) {
    PodIndex index;
    std::error_code ec;
    for (fs::directory_iterator it(dirs.pods, ec), end; !ec && it != end && index.pods.size() < kMaxEntries;
         it.increment(ec)) {
        PodDirName pod;
        if (!it->is_directory(ec) || !parse_pod_dir_name(it->path().filename().string(), pod)) continue;
        std::vector<std::string> containers;
        std::error_code inner;
        for (fs::directory_iterator c(it->path(), inner), cend; !inner && c != cend && containers.size() < 64;
             c.increment(inner))
            if (c->is_directory(inner)) containers.push_back(c->path().filename().string());
        index.pod_containers[pod.uid] = std::move(containers);
        index.pods[pod.uid] = std::move(pod);
    }
    ec.clear();
    fs::directory_iterator links(dirs.containers, ec);
    index.containers_listed = !ec;
    for (fs::directory_iterator it = std::move(links), end;
         !ec && it != end && index.container_names.size() < kMaxEntries; it.increment(ec)) {
        ContainerLogName log;
        if (parse_container_log_name(it->path().filename().string(), log))
            index.container_names[log.container_id] = log.container_name;
    }
    return index;
}

PodNames::PodNames(PodDirectories dirs, std::chrono::milliseconds min_gap, std::chrono::seconds retry)
    : dirs_(std::move(dirs)),
      min_gap_(min_gap),
      retry_(retry),
      index_(std::make_shared<const PodIndex>(read_pod_directories(dirs_))) {}

uint64_t PodNames::readings() const {
    std::lock_guard lock(mutex_);
    return readings_;
}

std::shared_ptr<const PodIndex> PodNames::index() const {
    std::lock_guard lock(mutex_);
    return index_;
}

void PodNames::ask(const std::string& key) {
    const auto now = std::chrono::steady_clock::now();
    auto [it, fresh] = asked_.try_emplace(key, now);
    if (!fresh && now - it->second < retry_) return;
    it->second = now;
    if (asked_.size() > kMaxEntries) asked_.clear();
    {
        std::lock_guard lock(mutex_);
        wanted_ = true;
    }
    wake_.notify_one();
    if (!reader_.joinable()) reader_ = std::jthread([this](std::stop_token stop) { read_when_asked(stop); });
}

void PodNames::read_when_asked(std::stop_token stop) {
    std::unique_lock lock(mutex_);
    while (!stop.stop_requested()) {
        if (!wake_.wait(lock, stop, [this] { return wanted_; })) return;
        // Paced: misses keep coming while a pod has no directory.
        if (wake_.wait_until(lock, stop, read_at_ + min_gap_, [] { return false; }) || stop.stop_requested()) return;
        wanted_ = false;
        read_at_ = std::chrono::steady_clock::now();
        lock.unlock();
        auto fresh = std::make_shared<const PodIndex>(read_pod_directories(dirs_));
        lock.lock();
        index_ = std::move(fresh);
        ++readings_;
    }
}

void PodNames::name(Workload& w) {
    if (!w.in_pod()) return;
    const auto index = this->index();
    auto pod = index->pods.find(w.pod_uid);
    if (pod == index->pods.end()) {
        ask(w.pod_uid);
        return;
    }
    w.pod_namespace = pod->second.pod_namespace;
    w.pod_name = pod->second.pod_name;
    if (!w.in_container()) return;
    if (auto c = index->container_names.find(w.container_id); c != index->container_names.end()) {
        w.container_name = c->second;
        return;
    }
    if (auto dirs = index->pod_containers.find(w.pod_uid);
        dirs != index->pod_containers.end() && dirs->second.size() == 1) {
        // Without its link, a pod of one container still names it.
        w.container_name = dirs->second.front();
    } else if (index->containers_listed) {
        ask(w.container_id);  // a link the kubelet makes just after the container starts
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
