// SPDX-License-Identifier: GPL-2.0-only
#include "drops/drop_output.hpp"

#include <algorithm>

#include "common/text.hpp"
#include "process/process.hpp"
#include "process/process_output.hpp"

namespace nfsleuth {

namespace {

using ojson = nlohmann::ordered_json;

template <class T>
ojson or_null(const std::optional<T>& v) {
    return v ? ojson(*v) : ojson(nullptr);
}

ojson flow_json(const Flow& f) {
    ojson j;
    j["family"] = f.family == 0 ? ojson(nullptr) : ojson(f.family == 10 ? "ipv6" : "ipv4");
    j["proto"] = proto_name(f.proto);
    j["src"] = f.src;
    j["sport"] = f.has_ports ? ojson(f.sport) : ojson(nullptr);
    j["dst"] = f.dst;
    j["dport"] = f.has_ports ? ojson(f.dport) : ojson(nullptr);
    if (f.is_icmp) {
        j["icmp_type"] = f.icmp_type;
        j["icmp_code"] = f.icmp_code;
    }
    return j;
}


}  // namespace

ojson to_json(const DropRecord& r, const DropContext& c) {
    const Origin& o = r.origin;
    ojson j;
    j["type"] = "ct_drop";
    j["ts"] = c.ts;
    j["cause"] = cause_name(r.key);
    j["flow"] = flow_json(r.key.flow);
    j["netns"] = r.key.netns;
    j["netns_name"] = or_null(c.netns_name);
    j["zone"] = r.key.zone;
    j["hook"] = or_null(r.key.hook ? r.key.hook : r.origin.hook);
    j["in_if"] = or_null(o.in_if);
    j["out_if"] = or_null(o.out_if);
    j["local"] = o.local;
    j["pid"] = or_null(o.pid);
    j["comm"] = o.pid ? ojson(o.comm) : ojson(nullptr);
    j["cmdline"] = or_null(c.cmdline);
    add_cgroup_json(j, c.cgroup);
    j["uid"] = o.pid ? ojson(o.uid) : ojson(nullptr);
    j["count"] = r.count;
    j["first"] = r.first;
    j["backend"] = c.backend;
    return j;
}

ojson drop_causes_event(const std::string& ts, const std::string& backend, const std::string& message) {
    return {{"type", "drop_causes"}, {"ts", ts}, {"backend", backend}, {"message", message}};
}

bool matches_filter(const CommonOptions& o, const DropRecord& r) {
    if (o.pid && r.origin.pid != o.pid) return false;
    if (o.comm && (!r.origin.pid || r.origin.comm != *o.comm)) return false;
    return true;
}

ojson evictions_event(const std::string& ts, const EvictionNaming& change) {
    return {{"type", "ct_evictions"},
            {"ts", ts},
            {"named", change.named},
            {"arm_at_percent", change.arm_at_percent},
            {"disarm_below_percent", change.disarm_below_percent},
            {"message", change.message}};
}

std::string to_human_line(const DropRecord& r, const DropContext& c) {
    const Origin& o = r.origin;
    std::string line = c.ts + " drop " + cause_name(r.key) + " " + format_flow(r.key.flow);
    line += " netns=" + std::to_string(r.key.netns);
    if (c.netns_name) line += "(" + escape_for_terminal(*c.netns_name) + ")";
    if (auto hook = r.key.hook ? r.key.hook : r.origin.hook) line += " hook=" + *hook;
    if (o.in_if) line += " in=" + escape_for_terminal(*o.in_if);
    if (o.out_if) line += " out=" + escape_for_terminal(*o.out_if);
    if (o.pid) line += " by " + format_task(o.comm, *o.pid);
    if (c.cgroup) line += workload_words(c.cgroup->workload);
    line += (r.first ? " count=" : " count=+") + std::to_string(r.count);
    return line;
}

void DropSummary::add(const DropRecord& r, const DropContext& c) {
    std::string cause = cause_name(r.key);
    total_ += r.count;
    by_cause_[cause] += r.count;
    by_netns_cause_[r.key.netns][cause] += r.count;
    if (r.origin.pid) {
        by_process_[r.origin.comm + "[" + std::to_string(*r.origin.pid) + "]"] += r.count;
    } else {
        by_process_[r.origin.local ? "(local, no process)" : "(received or forwarded)"] += r.count;
    }
    by_destination_[format_destination(r.key.flow)] += r.count;
    if (c.cgroup && c.cgroup->workload.in_pod()) by_pod_[pod_label(c.cgroup->workload)] += r.count;
    if (c.cgroup && c.cgroup->workload.in_container()) by_container_[container_key(c.cgroup->workload)] += r.count;
}

std::vector<uint32_t> DropSummary::namespaces() const {
    std::vector<uint32_t> out;
    for (const auto& [ns, _] : by_netns_cause_) out.push_back(ns);
    return out;
}

std::vector<std::pair<std::string, uint64_t>> DropSummary::top(const Counts& counts) const {
    std::vector<std::pair<std::string, uint64_t>> v(counts.begin(), counts.end());
    std::stable_sort(v.begin(), v.end(), [](const auto& a, const auto& b) { return a.second > b.second; });
    if (v.size() > top_) v.resize(top_);
    return v;
}

std::vector<std::string> DropSummary::advice(const std::map<uint32_t, NetnsFill>& fill) const {
    std::vector<std::string> out;
    for (const auto& [ns, causes] : by_netns_cause_) {
        auto f = fill.find(ns);
        std::string where = "netns " + std::to_string(ns);
        if (f != fill.end() && f->second.name) where += " (" + escape_for_terminal(*f->second.name) + ")";
        std::string entries;
        if (f != fill.end() && f->second.count && f->second.max)
            entries = ": " + std::to_string(*f->second.count) + "/" + std::to_string(*f->second.max) + " entries";
        if (causes.count("table_full")) {
            out.push_back("table full in " + where + entries +
                          "; raise net.netfilter.nf_conntrack_max (and nf_conntrack_buckets), or exempt this "
                          "traffic from conntrack with NOTRACK (iptables -t raw ... -j CT --notrack, or nft "
                          "'notrack' in a raw-priority chain)");
        }
        if (causes.count("insert_failed"))
            out.push_back("insert clashes in " + where +
                          ": parallel packets of one new flow raced (typical for UDP DNS); check "
                          "net.netfilter.nf_conntrack_udp_timeout and NAT port allocation");
        if (causes.count("invalid"))
            out.push_back("conntrack dropped invalid packets in " + where +
                          ": see net.netfilter.nf_conntrack_tcp_be_liberal and nf_conntrack_log_invalid");
        if (causes.count("unknown"))
            out.push_back("some drops in " + where +
                          " could not be classified: this kernel's per-CPU conntrack statistics were unreadable");
    }
    return out;
}

std::vector<std::string> DropSummary::human_lines(const std::map<uint32_t, NetnsFill>& fill,
                                                  const DropAccounting& acc) const {
    std::vector<std::string> lines;
    lines.push_back("Conntrack drops: " + std::to_string(total_));
    auto section = [&](const std::string& title, const Counts& counts) {
        if (counts.empty()) return;
        lines.push_back(title + ":");
        for (const auto& [name, n] : top(counts))
            lines.push_back("  " + std::to_string(n) + "  " + escape_for_terminal(name));
        if (counts.size() > top_) lines.push_back("  (" + std::to_string(counts.size() - top_) + " more)");
    };
    section("By cause", by_cause_);
    if (!by_netns_cause_.empty()) lines.push_back("By netns:");
    for (const auto& [ns, causes] : by_netns_cause_) {
        uint64_t n = 0;
        std::string detail;
        for (const auto& [cause, c] : causes) {
            n += c;
            detail += (detail.empty() ? "" : ", ") + cause + " " + std::to_string(c);
        }
        std::string line = "  " + std::to_string(n) + "  " + std::to_string(ns);
        auto f = fill.find(ns);
        if (f != fill.end()) {
            if (f->second.name) line += " (" + escape_for_terminal(*f->second.name) + ")";
            if (f->second.count && f->second.max)
                line += " conntrack " + std::to_string(*f->second.count) + "/" + std::to_string(*f->second.max);
            if (f->second.kernel_drops) line += ", kernel drop counter +" + std::to_string(*f->second.kernel_drops);
        }
        lines.push_back(line + ": " + detail);
    }
    section("By process", by_process_);
    section("By pod", by_pod_);
    section("By container", by_container_);
    section("By destination", by_destination_);
    for (const auto& a : advice(fill)) lines.push_back("Advice: " + a);
    std::string accounting = "Accounting: " + std::to_string(acc.seen) + " drops seen in the kernel, " +
                             std::to_string(acc.reported) + " reported, " + std::to_string(acc.missed()) + " missed";
    if (acc.lost_records || acc.unaggregated)
        accounting += " (" + std::to_string(acc.lost_records) + " first-drop records lost, " +
                      std::to_string(acc.unaggregated) + " drops not aggregated)";
    lines.push_back(accounting);
    return lines;
}

ojson DropSummary::to_json(const std::map<uint32_t, NetnsFill>& fill, const DropAccounting& acc) const {
    auto list = [&](const Counts& counts, const char* key) {
        ojson a = ojson::array();
        for (const auto& [name, n] : top(counts)) a.push_back({{key, name}, {"count", n}});
        return a;
    };
    ojson j;
    j["type"] = "drop_summary";
    j["total"] = total_;
    j["by_cause"] = ojson::object();
    for (const auto& [cause, n] : by_cause_) j["by_cause"][cause] = n;
    ojson netns = ojson::array();
    for (const auto& [ns, causes] : by_netns_cause_) {
        ojson e;
        e["netns"] = ns;
        auto f = fill.find(ns);
        bool known = f != fill.end();
        e["name"] = known ? or_null(f->second.name) : ojson(nullptr);
        e["ct_count"] = known ? or_null(f->second.count) : ojson(nullptr);
        e["ct_max"] = known ? or_null(f->second.max) : ojson(nullptr);
        e["kernel_drops"] = known ? or_null(f->second.kernel_drops) : ojson(nullptr);
        e["by_cause"] = ojson::object();
        for (const auto& [cause, n] : causes) e["by_cause"][cause] = n;
        netns.push_back(e);
    }
    j["by_netns"] = netns;
    j["by_process"] = list(by_process_, "process");
    j["by_pod"] = list(by_pod_, "pod");
    j["by_container"] = list(by_container_, "container");
    j["by_destination"] = list(by_destination_, "destination");
    j["advice"] = advice(fill);
    j["seen"] = acc.seen;
    j["reported"] = acc.reported;
    j["missed"] = acc.missed();
    j["lost_records"] = acc.lost_records;
    j["unaggregated"] = acc.unaggregated;
    return j;
}

}  // namespace nfsleuth
