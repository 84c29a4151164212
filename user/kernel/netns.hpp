// SPDX-License-Identifier: GPL-2.0-only
// Network namespaces visible from here, and their conntrack table fill.
#pragma once
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "conntrack/ct_stat.hpp"
#include "kernel/netns_access.hpp"

namespace nfsleuth {

struct NetnsInfo {
    uint64_t inode = 0;
    std::string name;             // "init", the /run/netns name, or "pid N (comm)"
    std::string path;             // a file that refers to it (for setns)
    std::optional<uint64_t> ct_count;
    std::optional<uint64_t> ct_max;
    std::optional<CtCpuStat> ct_stat;  // conntrack statistics summed over CPUs
};

// Every distinct network namespace reachable through /run/netns and
// /proc/PID/ns/net, the initial one first.
std::vector<NetnsInfo> list_network_namespaces();

// Fills ct_count, ct_max and ct_stat from the conntrack sysctls and
// statistics each namespace has, opened inside it through `access`.
void read_conntrack_fill(std::vector<NetnsInfo>& namespaces, NetnsAccess& access = in_process_netns());

// Runs fn inside the namespace `netns_path` refers to (see in_netns).
// Returns false (fn not run) if the namespace cannot be entered.
bool run_in_netns(const std::string& netns_path, const std::function<void()>& fn);

// Reads one unsigned number from a file ("/proc/sys/..."), nullopt if
// absent or not a number (parse_number).
std::optional<uint64_t> read_number_file(const std::string& path);
// The unsigned decimal number a sysctl or sysfs file holds ("262144\n"):
// leading spaces are skipped, anything after the digits (the newline) is
// ignored. nullopt when no digit comes first (a sign, other white space,
// nothing at all) or the number does not fit.
std::optional<uint64_t> parse_number(std::string_view text);
// A whole file's contents, nullopt when it cannot be opened.
std::optional<std::string> read_whole_file(const std::string& path);
// The inode of the file at `path` (following links: /proc/PID/ns/net names
// its namespace so), nullopt when it cannot be stat()ed.
std::optional<uint64_t> inode_of(const std::string& path);

}  // namespace nfsleuth
