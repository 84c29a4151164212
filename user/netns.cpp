// SPDX-License-Identifier: GPL-2.0-only
#include "netns.hpp"

#include <fcntl.h>
#include <sched.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <set>
#include <thread>

namespace nfsleuth {

namespace fs = std::filesystem;

std::optional<uint64_t> read_number_file(const std::string& path) {
    std::ifstream in(path);
    uint64_t v;
    if (in >> v) return v;
    return std::nullopt;
}

namespace {

std::optional<uint64_t> inode_of(const std::string& path) {
    struct stat st{};
    if (::stat(path.c_str(), &st) != 0) return std::nullopt;
    return st.st_ino;
}

std::string read_comm(const std::string& pid) {
    std::ifstream in("/proc/" + pid + "/comm");
    std::string comm;
    std::getline(in, comm);
    return comm;
}

}  // namespace

std::vector<NetnsInfo> list_network_namespaces() {
    std::vector<NetnsInfo> out;
    std::set<uint64_t> seen;
    auto add = [&](const std::string& path, std::string name) {
        auto ino = inode_of(path);
        if (!ino || !seen.insert(*ino).second) return;
        out.push_back({*ino, std::move(name), path, std::nullopt, std::nullopt});
    };
    add("/proc/1/ns/net", "init");
    add("/proc/self/ns/net", "self");
    std::error_code ec;
    std::vector<fs::path> named;
    for (const auto& e : fs::directory_iterator("/run/netns", ec)) named.push_back(e.path());
    std::sort(named.begin(), named.end());
    for (const auto& p : named) add(p.string(), p.filename().string());
    std::vector<long> pids;
    for (const auto& e : fs::directory_iterator("/proc", ec)) {
        const auto name = e.path().filename().string();
        if (!name.empty() && std::all_of(name.begin(), name.end(), ::isdigit)) pids.push_back(std::stol(name));
    }
    std::sort(pids.begin(), pids.end());
    for (long pid : pids) {
        auto s = std::to_string(pid);
        add("/proc/" + s + "/ns/net", "pid " + s + " (" + read_comm(s) + ")");
    }
    return out;
}

bool run_in_netns(const std::string& netns_path, const std::function<void()>& fn) {
    bool entered = false;
    std::thread worker([&] {
        int fd = ::open(netns_path.c_str(), O_RDONLY | O_CLOEXEC);
        if (fd < 0) return;
        entered = ::setns(fd, CLONE_NEWNET) == 0;
        ::close(fd);
        if (entered) fn();
    });
    worker.join();
    return entered;
}

void read_conntrack_fill(std::vector<NetnsInfo>& namespaces) {
    for (auto& ns : namespaces) {
        run_in_netns(ns.path, [&ns] {
            ns.ct_count = read_number_file("/proc/sys/net/netfilter/nf_conntrack_count");
            ns.ct_max = read_number_file("/proc/sys/net/netfilter/nf_conntrack_max");
        });
    }
}

}  // namespace nfsleuth
