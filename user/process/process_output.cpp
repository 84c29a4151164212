// SPDX-License-Identifier: GPL-2.0-only
#include "process/process_output.hpp"

#include "common/text.hpp"

namespace nfsleuth {

nlohmann::ordered_json ancestors_json(const std::vector<Ancestor>& ancestors) {
    auto list = nlohmann::ordered_json::array();
    for (const auto& a : ancestors) list.push_back({{"pid", a.pid}, {"comm", a.comm}});
    return list;
}

void add_process_json(nlohmann::ordered_json& j, const Process& p, const std::optional<std::string>& cgroup_path,
                      const char* netns_key) {
    j["pid"] = p.pid;
    j["tid"] = p.tid;
    j["comm"] = p.comm;
    j["cmdline"] = p.cmdline();
    j["argv"] = p.argv;
    j["argv_truncated"] = p.args_truncated;
    j["uid"] = p.uid;
    j["gid"] = p.gid;
    j["cgroup"] = cgroup_path ? nlohmann::ordered_json(*cgroup_path) : nlohmann::ordered_json(nullptr);
    j["cgroup_id"] = p.cgroup_id;
    j[netns_key] = p.netns;
    j["ancestors"] = ancestors_json(p.ancestors);
}

std::string process_words(const Process& p, const std::optional<std::string>& cgroup_path) {
    std::string s = format_task(p.comm, p.pid) + " uid=" + std::to_string(p.uid) + " netns=" + std::to_string(p.netns);
    if (cgroup_path) s += " cgroup=" + escape_for_terminal(*cgroup_path);
    s += " cmd=\"" + escape_for_terminal(p.cmdline()) + "\"";
    if (!p.ancestors.empty()) s += " parents=" + format_ancestry(p.ancestors);
    return s;
}

}  // namespace nfsleuth
