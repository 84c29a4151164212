// SPDX-License-Identifier: GPL-2.0-only
#include "drops/agreement_output.hpp"

#include "common/text.hpp"

namespace nfsleuth {

using ojson = nlohmann::ordered_json;

namespace {

std::string where(uint32_t netns, const std::optional<std::string>& name) {
    std::string s = "netns " + std::to_string(netns);
    if (name) s += " (" + escape_for_terminal(*name) + ")";
    return s;
}

std::size_t disagreeing(const std::vector<NamespaceAgreement>& report) {
    std::size_t n = 0;
    for (const auto& ns : report) n += ns.disagreements.empty() ? 0 : 1;
    return n;
}

std::string compared_counters(const KernelAgreement& a) {
    return a.sees_evictions() ? "drop, insert_failed, early_drop" : "drop, insert_failed";
}

}  // namespace

ojson to_json(const Disagreement& d, const std::optional<std::string>& netns_name, const std::string& ts) {
    ojson j;
    j["type"] = "counter_mismatch";
    j["ts"] = ts;
    j["netns"] = d.netns;
    j["netns_name"] = netns_name ? ojson(*netns_name) : ojson(nullptr);
    j["counter"] = to_string(d.counter);
    j["direction"] = d.missed ? "unseen" : "misnamed";
    j["kernel_min"] = d.kernel_min;
    j["kernel_max"] = d.kernel_max;
    j["nfsleuth"] = d.nfsleuth;
    j["message"] = d.describe();
    return j;
}

std::string to_warning_line(const Disagreement& d, const std::optional<std::string>& netns_name) {
    return "nfsleuth: WARNING: " + where(d.netns, netns_name) + ": " + d.describe() +
           "; run `nfsleuth doctor` to see how drops are traced on this kernel";
}

std::vector<std::string> agreement_lines(const KernelAgreement& a, const NetnsNamer& name) {
    auto report = a.report();
    std::size_t checked = 0;
    for (const auto& ns : report) checked += ns.checked ? 1 : 0;
    std::vector<std::string> lines;
    std::size_t bad = disagreeing(report);
    if (bad == 0) {
        lines.push_back("Kernel counters: agree in " + std::to_string(checked) + " namespace" +
                        (checked == 1 ? "" : "s") + " (" + compared_counters(a) + ")");
    } else {
        lines.push_back("Kernel counters: MISMATCH in " + std::to_string(bad) + " of " + std::to_string(checked) +
                        " namespaces: nfsleuth's drop counts are not to be trusted there");
        for (const auto& ns : report)
            for (const auto& d : ns.disagreements)
                lines.push_back("  " + where(ns.netns, name(ns.netns)) + ": " + d.describe());
    }
    for (const auto& why : a.not_compared()) lines.push_back("  not compared: " + why);
    return lines;
}

ojson agreement_json(const KernelAgreement& a, const NetnsNamer& name) {
    auto report = a.report();
    ojson j;
    j["agree"] = disagreeing(report) == 0;
    ojson namespaces = ojson::array();
    for (const auto& ns : report) {
        if (!ns.checked) continue;
        ojson e;
        e["netns"] = ns.netns;
        auto n = name(ns.netns);
        e["name"] = n ? ojson(*n) : ojson(nullptr);
        e["kernel"] = {{"drop", ns.kernel_delta.drop},
                       {"insert_failed", ns.kernel_delta.insert_failed},
                       {"early_drop", ns.kernel_delta.early_drop}};
        e["nfsleuth"] = {{"conntrack_drops", ns.nfsleuth.drop},
                         {"insert_failed", ns.nfsleuth.insert_failed},
                         {"early_drop", ns.nfsleuth.early_drop}};
        ojson ds = ojson::array();
        for (const auto& d : ns.disagreements) ds.push_back(to_json(d, n, ""));
        for (auto& d : ds) d.erase("ts");
        e["mismatches"] = std::move(ds);
        namespaces.push_back(std::move(e));
    }
    j["namespaces"] = std::move(namespaces);
    j["compared"] = compared_counters(a);
    j["not_compared"] = a.not_compared();
    return j;
}

}  // namespace nfsleuth
