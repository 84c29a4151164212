// SPDX-License-Identifier: GPL-2.0-only
#include "kernel/cgroups.hpp"

#include <sys/stat.h>

#include <filesystem>
#include <fstream>

namespace nfsleuth {

namespace fs = std::filesystem;

namespace {

std::optional<std::string> find_cgroup2_mount() {
    std::ifstream mounts("/proc/self/mounts");
    std::string device, dir, type, rest;
    while (mounts >> device >> dir >> type && std::getline(mounts, rest)) {
        if (type == "cgroup2") return dir;
    }
    return std::nullopt;
}

}  // namespace

CgroupPaths::CgroupPaths(std::optional<std::string> root) : root_(root ? root : find_cgroup2_mount()) {}

void CgroupPaths::rescan() {
    constexpr std::size_t max_entries = 100000;  // bound the walk on huge hosts
    paths_.clear();
    last_scan_ = std::chrono::steady_clock::now();
    scanned_ = true;
    struct stat root_st{};
    if (!root_ || ::stat(root_->c_str(), &root_st) != 0) return;
    paths_[root_st.st_ino] = "/";
    std::error_code ec;
    struct stat st{};
    auto it = fs::recursive_directory_iterator(*root_, fs::directory_options::skip_permission_denied, ec);
    for (; !ec && it != fs::recursive_directory_iterator() && paths_.size() < max_entries; it.increment(ec)) {
        if (!it->is_directory(ec) || it->is_symlink(ec)) continue;
        // Another filesystem mounted inside is not part of the hierarchy.
        if (::stat(it->path().c_str(), &st) != 0 || st.st_dev != root_st.st_dev) {
            it.disable_recursion_pending();
            continue;
        }
        paths_[st.st_ino] = "/" + fs::relative(it->path(), *root_, ec).string();
    }
}

std::optional<std::string> CgroupPaths::lookup(uint64_t id) {
    if (auto it = paths_.find(id); it != paths_.end()) return it->second;
    if (!scanned_ || std::chrono::steady_clock::now() - last_scan_ > std::chrono::seconds(1)) {
        rescan();
        if (auto it = paths_.find(id); it != paths_.end()) return it->second;
    }
    return std::nullopt;
}

}  // namespace nfsleuth
