// SPDX-License-Identifier: GPL-2.0-only
#include "activations/activation_output.hpp"

#include "common/text.hpp"
#include "process/process_output.hpp"

namespace nfsleuth {

std::string confidence(const ActivationRecord& r) {
    if (r.event.method == ActivationMethod::hook_registered) return "exact";
    if (r.rules)
        for (const auto& rule : *r.rules)
            if (rule.source == "nftables") return "exact";
    return "uncertain";
}

nlohmann::ordered_json to_json(const ActivationRecord& r) {
    using ojson = nlohmann::ordered_json;
    ojson j;
    j["type"] = "ct_activate";
    j["ts"] = r.ts;
    j["netns"] = r.event.netns;
    j["netns_name"] = r.netns_name ? ojson(*r.netns_name) : ojson(nullptr);
    j["family"] = to_string(r.family);
    j["detected_by"] = to_string(r.event.method);
    j["hook"] = r.hook ? ojson(*r.hook) : ojson(nullptr);
    j["confidence"] = confidence(r);
    if (r.rules) {
        j["rules"] = ojson::array();
        for (const auto& rule : *r.rules)
            j["rules"].push_back({{"source", rule.source}, {"table", rule.table}, {"chain", rule.chain},
                                  {"rule", rule.rule}, {"needs", rule.needs}});
    } else {
        j["rules"] = nullptr;
    }
    j["rules_unread"] = r.rules_unread.empty() ? ojson(nullptr) : ojson(r.rules_unread);
    add_process_json(j, r.event.proc, r.cgroup, "process_netns");
    j["backend"] = r.backend;
    return j;
}

std::string to_human_line(const ActivationRecord& r) {
    std::string line = r.ts + " ct_activate " + to_string(r.family) + " netns=";
    line += r.netns_name ? escape_for_terminal(*r.netns_name) + "(" + std::to_string(r.event.netns) + ")"
                         : std::to_string(r.event.netns);
    line += " by " + process_words(r.event.proc, r.cgroup);
    if (!r.rules) {
        line += " rules=unread(" + escape_for_terminal(r.rules_unread) + ")";
    } else if (r.rules->empty()) {
        line += " rules=none";
    } else {
        const ConntrackRule& first = r.rules->front();
        line += " rule=\"" + escape_for_terminal(first.table + " " + first.chain + ": " + first.rule) + "\"";
        if (r.rules->size() > 1) line += " (+" + std::to_string(r.rules->size() - 1) + " more)";
    }
    line += " confidence=" + confidence(r);
    return line;
}

}  // namespace nfsleuth
