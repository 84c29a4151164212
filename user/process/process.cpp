// SPDX-License-Identifier: GPL-2.0-only
#include "process/process.hpp"

#include <algorithm>

#include "common/text.hpp"

namespace nfsleuth {

std::string Process::cmdline() const { return join_args(argv); }

Process decode_process(const nfs_proc& raw) {
    Process p;
    p.pid = raw.pid;
    p.tid = raw.tid;
    p.uid = raw.uid;
    p.gid = raw.gid;
    p.cgroup_id = raw.cgroup_id;
    p.netns = raw.netns_ino;
    p.kernel_thread = raw.flags & NFS_PROC_KTHREAD;
    p.args_truncated = raw.flags & NFS_PROC_ARGS_TRUNCATED;
    p.args_unreadable = raw.flags & NFS_PROC_ARGS_UNREADABLE;
    p.comm = std::string(bounded_cstr(raw.comm, sizeof raw.comm));
    std::size_t args_len = std::min<std::size_t>(raw.args_len, sizeof raw.args);
    p.argv = split_args(std::string_view(raw.args, args_len));
    std::size_t n = std::min<std::size_t>(raw.n_ancestors, NFS_MAX_ANCESTORS);
    for (std::size_t i = 0; i < n; ++i) {
        const auto& a = raw.ancestors[i];
        p.ancestors.push_back({a.pid, std::string(bounded_cstr(a.comm, sizeof a.comm)),
                               static_cast<bool>(a.flags & NFS_PROC_KTHREAD)});
    }
    return p;
}

std::string format_task(const std::string& comm, uint32_t pid) {
    return escape_for_terminal(comm) + "[" + std::to_string(pid) + "]";
}

std::string format_ancestry(const std::vector<Ancestor>& ancestors) {
    std::string out;
    for (const auto& a : ancestors) {
        if (!out.empty()) out += " <- ";
        out += format_task(a.comm, a.pid);
    }
    return out;
}

}  // namespace nfsleuth
