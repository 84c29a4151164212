// SPDX-License-Identifier: GPL-2.0-only
#include "process/process_output.hpp"

#include "common/text.hpp"

namespace nfsleuth {

namespace {

using ojson = nlohmann::ordered_json;

ojson or_null(const std::string& s) {
    return s.empty() ? ojson(nullptr) : ojson(s);
}

}  // namespace

nlohmann::ordered_json ancestors_json(const std::vector<Ancestor>& ancestors) {
    auto list = ojson::array();
    for (const auto& a : ancestors) list.push_back({{"pid", a.pid}, {"comm", a.comm}});
    return list;
}

void add_cgroup_json(nlohmann::ordered_json& j, const std::optional<CgroupIdentity>& cgroup) {
    j["cgroup"] = cgroup ? ojson(cgroup->path) : ojson(nullptr);
    const Workload w = cgroup ? cgroup->workload : Workload{};
    j["container"] = w.in_container() ? ojson{{"runtime", w.runtime},
                                              {"id", w.container_id},
                                              {"name", or_null(w.container_name)}}
                                      : ojson(nullptr);
    j["pod"] = w.in_pod() ? ojson{{"namespace", or_null(w.pod_namespace)},
                                  {"name", or_null(w.pod_name)},
                                  {"uid", w.pod_uid},
                                  {"qos", or_null(w.qos)}}
                          : ojson(nullptr);
    j["unit"] = or_null(w.unit);
}

void add_process_json(nlohmann::ordered_json& j, const Process& p, const std::optional<CgroupIdentity>& cgroup,
                      const char* netns_key) {
    j["pid"] = p.pid;
    j["tid"] = p.tid;
    j["comm"] = p.comm;
    j["cmdline"] = p.cmdline();
    j["argv"] = p.argv;
    j["argv_truncated"] = p.args_truncated;
    j["uid"] = p.uid;
    j["gid"] = p.gid;
    add_cgroup_json(j, cgroup);
    j["cgroup_id"] = p.cgroup_id;
    j[netns_key] = p.netns;
    j["ancestors"] = ancestors_json(p.ancestors);
}

std::string workload_words(const Workload& w) {
    std::string s;
    if (w.in_container()) {
        s += " container=" + w.runtime + ":" + short_container_id(w);
        if (!w.container_name.empty()) s += "(" + escape_for_terminal(w.container_name) + ")";
    }
    if (w.in_pod()) s += " pod=" + escape_for_terminal(pod_label(w));
    return s;
}

std::string cgroup_words(const std::optional<CgroupIdentity>& cgroup) {
    if (!cgroup) return {};
    std::string s = " cgroup=" + escape_for_terminal(cgroup->path) + workload_words(cgroup->workload);
    if (!cgroup->workload.unit.empty()) s += " unit=" + escape_for_terminal(cgroup->workload.unit);
    return s;
}

std::string process_words(const Process& p, const std::optional<CgroupIdentity>& cgroup) {
    std::string s = format_task(p.comm, p.pid) + " uid=" + std::to_string(p.uid) + " netns=" + std::to_string(p.netns);
    s += cgroup_words(cgroup);
    s += " cmd=\"" + escape_for_terminal(p.cmdline()) + "\"";
    if (!p.ancestors.empty()) s += " parents=" + format_ancestry(p.ancestors);
    return s;
}

}  // namespace nfsleuth
