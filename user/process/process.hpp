// SPDX-License-Identifier: GPL-2.0-only
// The process an event is attributed to, decoded from struct nfs_proc.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "proc.h"

namespace nfsleuth {

struct Ancestor {
    uint32_t pid = 0;
    std::string comm;
    bool kernel_thread = false;
};

struct Process {
    uint32_t pid = 0;
    uint32_t tid = 0;
    uint32_t uid = 0;
    uint32_t gid = 0;
    uint64_t cgroup_id = 0;
    uint32_t netns = 0;
    bool kernel_thread = false;
    bool args_truncated = false;
    bool args_unreadable = false;
    std::string comm;
    std::vector<std::string> argv;
    std::vector<Ancestor> ancestors;  // parent first

    std::string cmdline() const;
    // Spawned by the kernel (call_usermodehelper): its parent is a kernel thread.
    bool spawned_by_kernel() const { return !ancestors.empty() && ancestors.front().kernel_thread; }
};

Process decode_process(const nfs_proc& raw);

// "bash[1200] <- sshd[900] <- systemd[1]", escaped for a terminal.
std::string format_ancestry(const std::vector<Ancestor>& ancestors);
// "comm[pid]", escaped for a terminal.
std::string format_task(const std::string& comm, uint32_t pid);

}  // namespace nfsleuth
