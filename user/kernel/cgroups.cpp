// SPDX-License-Identifier: GPL-2.0-only
#include "kernel/cgroups.hpp"

#include <fcntl.h>
#include <sys/stat.h>

#include <cstring>
#include <filesystem>
#include <fstream>

namespace nfsleuth {

namespace fs = std::filesystem;

namespace {

// Bounds the cache and the walk on huge hosts.
constexpr std::size_t kMaxEntries = 100000;

std::optional<std::string> find_cgroup2_mount() {
    std::ifstream mounts("/proc/self/mounts");
    std::string device, dir, type, rest;
    while (mounts >> device >> dir >> type && std::getline(mounts, rest)) {
        if (type == "cgroup2") return dir;
    }
    return std::nullopt;
}

// struct file_handle with room for a handle of `bytes`.
struct HandleBuffer {
    explicit HandleBuffer(std::size_t bytes) : storage(sizeof(file_handle) + bytes) {
        handle()->handle_bytes = static_cast<unsigned>(bytes);
    }
    file_handle* handle() { return reinterpret_cast<file_handle*>(storage.data()); }
    std::vector<unsigned char> storage;
};

}  // namespace

CgroupPaths::CgroupPaths(std::optional<std::string> root) : root_(root ? root : find_cgroup2_mount()) {
    if (!root_) return;
    root_fd_.reset(::open(root_->c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    struct stat st{};
    if (!root_fd_ || ::fstat(root_fd_.get(), &st) != 0) return;
    // cgroupfs (kernfs) hands out a 64-bit id as the whole handle: only
    // then can an id be turned into a handle.
    HandleBuffer buffer(MAX_HANDLE_SZ);
    int mount_id = 0;
    if (::name_to_handle_at(root_fd_.get(), "", buffer.handle(), &mount_id, AT_EMPTY_PATH) != 0) return;
    uint64_t encoded = 0;
    if (buffer.handle()->handle_bytes != sizeof encoded) return;
    std::memcpy(&encoded, buffer.handle()->f_handle, sizeof encoded);
    if (encoded != static_cast<uint64_t>(st.st_ino)) return;
    handle_type_ = buffer.handle()->handle_type;
    root_handle_.assign(buffer.handle()->f_handle, buffer.handle()->f_handle + sizeof encoded);
}

std::optional<std::string> CgroupPaths::open_by_id(uint64_t id) const {
    if (root_handle_.empty()) return std::nullopt;
    HandleBuffer buffer(sizeof id);
    buffer.handle()->handle_type = handle_type_;
    std::memcpy(buffer.handle()->f_handle, &id, sizeof id);
    UniqueFd fd(::open_by_handle_at(root_fd_.get(), buffer.handle(), O_PATH | O_CLOEXEC));
    struct stat st{};
    if (!fd || ::fstat(fd.get(), &st) != 0 || static_cast<uint64_t>(st.st_ino) != id || !S_ISDIR(st.st_mode))
        return std::nullopt;
    std::error_code ec;
    const fs::path target = fs::read_symlink("/proc/self/fd/" + std::to_string(fd.get()), ec);
    if (ec) return std::nullopt;
    // Reachable from this mount only: a cgroup beyond a cgroup namespace's
    // root reads as a path outside it.
    const fs::path relative = target.lexically_relative(*root_);
    if (relative.empty() || *relative.begin() == "..") return std::nullopt;
    return relative == "." ? std::string("/") : "/" + relative.string();
}

void CgroupPaths::rescan() {
    paths_.clear();
    last_scan_ = std::chrono::steady_clock::now();
    scanned_ = true;
    struct stat root_st{};
    if (!root_ || ::stat(root_->c_str(), &root_st) != 0) return;
    paths_[root_st.st_ino] = "/";
    std::error_code ec;
    struct stat st{};
    auto it = fs::recursive_directory_iterator(*root_, fs::directory_options::skip_permission_denied, ec);
    for (; !ec && it != fs::recursive_directory_iterator() && paths_.size() < kMaxEntries; it.increment(ec)) {
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
    if (auto path = open_by_id(id)) {
        if (paths_.size() >= kMaxEntries) paths_.clear();
        return paths_[id] = *path;
    }
    if (!scanned_ || std::chrono::steady_clock::now() - last_scan_ > std::chrono::seconds(1)) {
        rescan();
        if (auto it = paths_.find(id); it != paths_.end()) return it->second;
    }
    return std::nullopt;
}

}  // namespace nfsleuth
