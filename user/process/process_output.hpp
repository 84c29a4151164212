// SPDX-License-Identifier: GPL-2.0-only
// How every attributed record shows its process, in JSON and in text.
#pragma once
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "process/process.hpp"

namespace nfsleuth {

// [{"pid": P, "comm": C}, ...], parent first.
nlohmann::ordered_json ancestors_json(const std::vector<Ancestor>& ancestors);

// Adds pid, tid, comm, cmdline, argv, argv_truncated, uid, gid, cgroup,
// cgroup_id, `netns_key` (the process's own namespace) and ancestors.
void add_process_json(nlohmann::ordered_json& j, const Process& p, const std::optional<std::string>& cgroup_path,
                      const char* netns_key = "netns");

// "comm[pid] uid=U netns=N cgroup=C cmd="..." parents=a[1] <- b[2]",
// escaped for a terminal.
std::string process_words(const Process& p, const std::optional<std::string>& cgroup_path);

}  // namespace nfsleuth
