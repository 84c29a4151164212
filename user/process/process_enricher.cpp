// SPDX-License-Identifier: GPL-2.0-only
#include "process/process_enricher.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>

#include "common/text.hpp"
#include "common/unique_fd.hpp"
#include "kernel/netns.hpp"

namespace nfsleuth {

namespace {

// More of a command line than anyone reads in an event.
constexpr std::size_t kMaxCmdlineBytes = 64 << 10;

// A /proc file's first `limit` bytes; nullopt when it cannot be read whole
// up to there (a process exiting while it is read fails the read with ESRCH).
std::optional<std::string> read_proc_file(const std::string& path, std::size_t limit) {
    UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (!fd) return std::nullopt;
    std::string out;
    char buf[4096];
    while (out.size() < limit) {
        ssize_t n = ::read(fd.get(), buf, std::min(sizeof buf, limit - out.size()));
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) return std::nullopt;
        if (n == 0) break;
        out.append(buf, static_cast<std::size_t>(n));
    }
    return out;
}

}  // namespace

std::optional<std::string> ProcessEnricher::netns_name(uint32_t inode) noexcept {
    try {
        auto it = netns_.find(inode);
        if (it != netns_.end()) return it->second;
        auto now = std::chrono::steady_clock::now();
        if (now - last_scan_ > std::chrono::seconds(1)) {
            last_scan_ = now;
            if (netns_.size() > 4096) netns_.clear();
            for (const auto& ns : list_network_namespaces()) netns_[static_cast<uint32_t>(ns.inode)] = ns.name;
            it = netns_.find(inode);
            if (it != netns_.end()) return it->second;
        }
    } catch (const std::exception&) {
        // Unnamed rather than lost: the event goes out without the name.
    }
    return std::nullopt;
}

std::optional<std::string> ProcessEnricher::cmdline(uint32_t pid) noexcept {
    try {
        if (auto it = cmdlines_.find(pid); it != cmdlines_.end()) return it->second;
        auto block = read_proc_file("/proc/" + std::to_string(pid) + "/cmdline", kMaxCmdlineBytes);
        if (!block || block->empty()) return std::nullopt;  // gone (also while being read), or a kernel thread
        if (cmdlines_.size() > 4096) cmdlines_.clear();
        return cmdlines_[pid] = join_args(split_args(*block));
    } catch (const std::exception&) {
        return std::nullopt;
    }
}

std::optional<CgroupIdentity> ProcessEnricher::cgroup(uint64_t id) noexcept {
    return cgroups_.lookup(id);
}

}  // namespace nfsleuth
