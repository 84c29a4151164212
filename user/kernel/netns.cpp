// SPDX-License-Identifier: GPL-2.0-only
#include "kernel/netns.hpp"

#include <sys/stat.h>

#include <algorithm>
#include <charconv>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <set>

namespace nfsleuth {

namespace fs = std::filesystem;

std::optional<uint64_t> parse_number(std::string_view text) {
    const char* begin = text.data();
    const char* end = begin + text.size();
    while (begin < end && *begin == ' ') ++begin;
    uint64_t v = 0;
    auto [p, ec] = std::from_chars(begin, end, v);
    if (ec != std::errc() || p == begin) return std::nullopt;
    return v;
}

std::optional<std::string> read_whole_file(const std::string& path) {
    std::ifstream in(path);
    if (!in) return std::nullopt;
    return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

std::optional<uint64_t> read_number_file(const std::string& path) {
    auto text = read_whole_file(path);
    if (!text) return std::nullopt;
    return parse_number(*text);
}

std::optional<uint64_t> inode_of(const std::string& path) {
    struct stat st{};
    if (::stat(path.c_str(), &st) != 0) return std::nullopt;
    return st.st_ino;
}

namespace {

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
        out.push_back({*ino, std::move(name), path, std::nullopt, std::nullopt, std::nullopt});
    };
    add("/proc/1/ns/net", "init");
    add("/proc/self/ns/net", "self");
    // Explicit increment(ec): a range-for's ++ throws when an entry goes
    // away under it, which processes do all the time.
    std::error_code ec;
    std::vector<fs::path> named;
    for (fs::directory_iterator it("/run/netns", ec), end; !ec && it != end; it.increment(ec))
        named.push_back(it->path());
    std::sort(named.begin(), named.end());
    for (const auto& p : named) add(p.string(), p.filename().string());
    std::vector<long> pids;
    for (fs::directory_iterator it("/proc", ec), end; !ec && it != end; it.increment(ec)) {
        const auto name = it->path().filename().string();
        if (!name.empty() && name.size() < 10 && std::all_of(name.begin(), name.end(), ::isdigit))
            pids.push_back(std::stol(name));
    }
    std::sort(pids.begin(), pids.end());
    for (long pid : pids) {
        auto s = std::to_string(pid);
        add("/proc/" + s + "/ns/net", "pid " + s + " (" + read_comm(s) + ")");
    }
    return out;
}

bool run_in_netns(const std::string& netns_path, const std::function<void()>& fn) {
    return in_netns({netns_path, 0}, fn).ok();
}

void read_conntrack_fill(std::vector<NetnsInfo>& namespaces, NetnsAccess& access) {
    for (auto& ns : namespaces) {
        auto files = read_conntrack_files(access, {ns.path, ns.inode});
        ns.ct_count = files.count;
        ns.ct_max = files.max;
        if (files.stat) ns.ct_stat = total(*files.stat);
    }
}

}  // namespace nfsleuth
