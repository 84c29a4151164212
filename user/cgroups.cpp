// SPDX-License-Identifier: GPL-2.0-only
#include "cgroups.hpp"

#include <sys/stat.h>

#include <filesystem>

namespace nfsleuth {

namespace fs = std::filesystem;

void CgroupPaths::rescan() {
    constexpr std::size_t max_entries = 100000;  // bound the walk on huge hosts
    paths_.clear();
    std::error_code ec;
    struct stat st{};
    if (::stat(root_.c_str(), &st) == 0) paths_[st.st_ino] = "/";
    auto it = fs::recursive_directory_iterator(root_, fs::directory_options::skip_permission_denied, ec);
    for (; !ec && it != fs::recursive_directory_iterator() && paths_.size() < max_entries; it.increment(ec)) {
        if (!it->is_directory(ec) || it->is_symlink(ec)) continue;
        if (::stat(it->path().c_str(), &st) != 0) continue;
        paths_[st.st_ino] = "/" + fs::relative(it->path(), root_, ec).string();
    }
    last_scan_ = std::chrono::steady_clock::now();
    scanned_ = true;
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
