// SPDX-License-Identifier: GPL-2.0-only
// Network namespaces visible from here, and their conntrack table fill.
#pragma once
#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "ct_stat.hpp"

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

// Fills ct_count, ct_max and ct_stat by reading the conntrack sysctls and
// statistics from inside each namespace.
void read_conntrack_fill(std::vector<NetnsInfo>& namespaces);

// Runs fn on a short-lived thread inside the namespace `netns_path` refers
// to; setns() moves only that thread, the caller never leaves its own.
// Returns false (fn not run) if the namespace cannot be entered.
bool run_in_netns(const std::string& netns_path, const std::function<void()>& fn);

// Runs the program at `program` (an absolute path) with argv inside the
// namespace `netns_path` refers to and returns its standard output, or
// nullopt when it could not run, failed, or outlived `timeout` (it is
// killed). `required_path`, when not empty, must exist inside the
// namespace or the program is not run: it keeps tools from making the
// kernel autoload what they would look at.
std::optional<std::string> output_in_netns(const std::string& netns_path, const std::string& program,
                                           const std::vector<std::string>& argv, const std::string& required_path,
                                           std::chrono::milliseconds timeout);

// Reads one unsigned number from a file ("/proc/sys/..."), nullopt if absent.
std::optional<uint64_t> read_number_file(const std::string& path);

}  // namespace nfsleuth
