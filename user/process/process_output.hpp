// SPDX-License-Identifier: GPL-2.0-only
// How every attributed record shows its process, in JSON and in text.
#pragma once
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "process/cgroup_identity.hpp"
#include "process/process.hpp"

namespace nfsleuth {

// [{"pid": P, "comm": C}, ...], parent first.
nlohmann::ordered_json ancestors_json(const std::vector<Ancestor>& ancestors);

// Adds cgroup (the path), container ({runtime, id, name}), pod
// ({namespace, name, uid, qos}) and unit (systemd), each null when the
// cgroup says nothing of it.
void add_cgroup_json(nlohmann::ordered_json& j, const std::optional<CgroupIdentity>& cgroup);

// Adds pid, tid, comm, cmdline, argv, argv_truncated, uid, gid, the
// cgroup's (add_cgroup_json), cgroup_id, `netns_key` (the process's own
// namespace) and ancestors.
void add_process_json(nlohmann::ordered_json& j, const Process& p, const std::optional<CgroupIdentity>& cgroup,
                      const char* netns_key = "netns");

// " container=containerd:0123456789abc(nginx) pod=default/web-0", the
// parts known; empty outside containers and pods.
std::string workload_words(const Workload& w);

// " cgroup=C container=containerd:0123456789abc(nginx) pod=default/web-0"
// or " cgroup=C unit=nginx.service": what is known, escaped for a terminal.
std::string cgroup_words(const std::optional<CgroupIdentity>& cgroup);

// "comm[pid] uid=U netns=N cgroup=C container=... pod=... cmd="..."
// parents=a[1] <- b[2]", escaped for a terminal.
std::string process_words(const Process& p, const std::optional<CgroupIdentity>& cgroup);

}  // namespace nfsleuth
