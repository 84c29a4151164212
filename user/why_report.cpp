// SPDX-License-Identifier: GPL-2.0-only
#include "why_report.hpp"

#include "text.hpp"

namespace nfsleuth {

namespace {

using ojson = nlohmann::ordered_json;

constexpr const char* kModprobeFile = "/etc/modprobe.d/nfsleuth-no-conntrack.conf";
constexpr uint64_t kBucketBytes = 8;  // one hlist_nulls_head per bucket

const char* state_name(ModuleState s) {
    switch (s) {
        case ModuleState::loaded: return "loaded";
        case ModuleState::builtin: return "built in";
        case ModuleState::absent: return "not loaded";
    }
    return "unknown";
}

ojson tree_json(const ModuleNode& n) {
    ojson j;
    j["module"] = n.name;
    j["state"] = state_name(n.state);
    j["refcnt"] = n.refcnt ? ojson(*n.refcnt) : ojson(nullptr);
    j["other_users"] = n.other_users();
    j["holders"] = ojson::array();
    for (const auto& h : n.holders) j["holders"].push_back(tree_json(h));
    return j;
}

void tree_lines(const ModuleNode& n, const std::string& indent, std::vector<std::string>& out) {
    std::string line = indent + n.name;
    if (n.refcnt) line += " (refcnt " + std::to_string(*n.refcnt) + ")";
    if (uint64_t o = n.other_users()) line += ": " + std::to_string(o) + " reference" + (o == 1 ? "" : "s") +
                                            " besides its holders (rules, sockets)";
    out.push_back(line);
    for (const auto& h : n.holders) tree_lines(h, indent + "  ", out);
}

std::size_t rule_count(const WhyFacts& f) {
    std::size_t n = 0;
    for (const auto& ns : f.namespaces) n += ns.rules.size();
    return n;
}

// The remediation, in the order to carry it out.
ojson remediation(const WhyFacts& f) {
    ojson steps = ojson::array();
    auto step = [&](const std::string& what, const std::vector<std::string>& commands) {
        steps.push_back({{"step", what}, {"commands", commands}});
    };
    std::vector<std::string> removals;
    for (const auto& ns : f.namespaces)
        for (const auto& r : ns.rules)
            removals.push_back(ns.name == "init" ? r.remove : "ip netns exec " + ns.name + " " + r.remove);
    if (!removals.empty())
        step("Remove the rules that need conntrack (or move them to hosts meant to track connections)", removals);

    const auto order = unload_order(f.tree);
    if (f.tree.state == ModuleState::loaded) {
        std::vector<std::string> unload;
        for (const auto& m : order) unload.push_back("modprobe -r " + m);
        const auto blocked = blockers(f.tree);
        std::string what = "Unload " + f.module + " and what holds it (modprobe -r also removes dependencies nothing else uses)";
        if (!blocked.empty()) {
            what += removals.empty() ? "; still in use by something other than rules listed here (rules it could not "
                                       "read, open sockets), so this fails until that is gone: "
                                     : "; in use until the rules above are removed: ";
            for (std::size_t i = 0; i < blocked.size(); ++i) what += (i ? ", " : "") + blocked[i];
        }
        step(what, unload);
        std::vector<std::string> prevent;
        for (const auto& line : modprobe_d_lines(order)) prevent.push_back("echo '" + line + "' >> " + kModprobeFile);
        step(std::string("Stop the kernel loading them again: `blacklist` alone stops only loads by alias; ") +
                 "`install MODULE /bin/false` makes every load fail, explicit requests included",
             prevent);
    }

    std::vector<std::string> keep = {
        "iptables -t raw -A PREROUTING -p udp --dport 53 -j CT --notrack",
        "iptables -t raw -A OUTPUT -p udp --dport 53 -j CT --notrack",
        "nft add rule inet raw prerouting udp dport 53 notrack"};
    step("If conntrack must stay: exempt high-rate flows that need no state from tracking (example: DNS)", keep);
    if (f.ct_max) {
        std::string what = "If conntrack must stay: size the table for the peak (the commands double it, as an example); "
                           "nf_conntrack_max is " + std::to_string(*f.ct_max);
        if (f.ct_buckets) what += " with " + std::to_string(*f.ct_buckets) + " hash buckets";
        if (f.entry_bytes) {
            uint64_t bytes = *f.ct_max * *f.entry_bytes + f.ct_buckets.value_or(0) * kBucketBytes;
            what += "; a full table takes about " + std::to_string(bytes >> 20) + " MiB (" +
                    std::to_string(*f.entry_bytes) + " bytes per entry)";
        }
        step(what, {"sysctl -w net.netfilter.nf_conntrack_max=" + std::to_string(*f.ct_max * 2),
                    "echo " + std::to_string(f.ct_buckets.value_or(*f.ct_max / 4) * 2) +
                        " > /sys/module/nf_conntrack/parameters/hashsize"});
    }
    return steps;
}

std::string summary(const WhyFacts& f) {
    const std::size_t rules = rule_count(f);
    std::size_t active = 0;
    for (const auto& ns : f.namespaces) active += !ns.rules.empty();
    std::string s = f.module + " is " + state_name(f.tree.state);
    if (f.tree.state == ModuleState::builtin) s += ": it cannot be unloaded or kept from loading";
    if (f.tree.state != ModuleState::absent)
        s += "; " + std::to_string(rules) + " rule" + (rules == 1 ? "" : "s") + " in " + std::to_string(active) +
             " network namespace" + (active == 1 ? "" : "s") + " need" + (rules == 1 ? "s" : "") + " conntrack";
    return s;
}

// " (parent[pid] <- grandparent[pid] ...)" of a journal record, or "".
std::string parents_text(const ojson& h) {
    if (!h.contains("ancestors") || !h["ancestors"].is_array() || h["ancestors"].empty()) return {};
    std::string parents;
    for (const auto& a : h["ancestors"]) {
        if (!a.is_object()) continue;
        parents += (parents.empty() ? "" : " <- ") + escape_for_terminal(a.value("comm", "")) + "[" +
                   std::to_string(a.value("pid", 0)) + "]";
    }
    return " (" + parents + ")";
}

// "  TS ct_activate ipv4 in netns NAME by comm[pid] "cmd" (parents) for
// TABLE CHAIN: RULE", from a journal's ct_activate record.
template <class Who>
std::string activation_line(const ojson& h, const Who& who) {
    auto e = [](const std::string& s) { return escape_for_terminal(s); };
    auto text = [&](const char* key) { return h.contains(key) && h[key].is_string() ? e(h[key].get<std::string>()) : std::string(); };
    std::string netns = text("netns_name");
    if (netns.empty() && h.contains("netns") && h["netns"].is_number()) netns = std::to_string(h["netns"].get<uint64_t>());
    std::string line = "  " + text("ts") + " ct_activate " + text("family") + " in netns " + netns + " by " + who(h) +
                       parents_text(h);
    if (h.contains("rules") && h["rules"].is_array() && !h["rules"].empty() && h["rules"][0].is_object()) {
        const ojson& r = h["rules"][0];
        line += " for " + e(r.value("table", "")) + " " + e(r.value("chain", "")) + ": " + e(r.value("rule", ""));
    }
    return line;
}

}  // namespace

std::vector<ojson> module_history(std::istream& journal, const std::set<std::string>& modules) {
    std::vector<ojson> out;
    std::string line;
    while (std::getline(journal, line)) {
        ojson ev = ojson::parse(line, nullptr, false);
        if (ev.is_discarded() || !ev.is_object()) continue;
        const std::string type = ev.value("type", "");
        ojson h;
        if (type == "ct_activate") {
            // Conntrack's own history: where and by whom it was switched on.
            if (!modules.count("nf_conntrack")) continue;
            for (const char* k : {"ts", "type", "netns", "netns_name", "family", "pid", "comm", "cmdline", "ancestors",
                                  "rules", "confidence"})
                if (ev.contains(k)) h[k] = ev[k];
        } else if (type == "module_request" || type == "module_load" || type == "module_load_failed") {
            if (!ev.contains("module") || !ev["module"].is_string() || !modules.count(ev["module"].get<std::string>()))
                continue;
            for (const char* k : {"ts", "type", "module", "pid", "comm", "cmdline", "ancestors", "trigger"})
                if (ev.contains(k)) h[k] = ev[k];
        } else {
            continue;
        }
        out.push_back(std::move(h));
    }
    return out;
}

std::set<std::string> tree_modules(const ModuleNode& root) {
    std::set<std::string> out{root.name};
    for (const auto& h : root.holders) out.merge(tree_modules(h));
    return out;
}

ojson why_json(const WhyFacts& f) {
    ojson j;
    j["type"] = "why";
    j["module"] = f.module;
    j["state"] = state_name(f.tree.state);
    j["summary"] = summary(f);
    j["holders"] = tree_json(f.tree)["holders"];
    j["refcnt"] = f.tree.refcnt ? ojson(*f.tree.refcnt) : ojson(nullptr);
    j["namespaces"] = ojson::array();
    for (const auto& ns : f.namespaces) {
        ojson n{{"netns", ns.inode}, {"netns_name", ns.name},
                {"ct_count", ns.ct_count ? ojson(*ns.ct_count) : ojson(nullptr)}, {"rules", ojson::array()},
                {"unread", ns.unread}};
        for (const auto& r : ns.rules)
            n["rules"].push_back({{"source", r.source}, {"table", r.table}, {"chain", r.chain}, {"rule", r.rule},
                                  {"needs", r.needs}, {"remove", r.remove}});
        j["namespaces"].push_back(std::move(n));
    }
    j["history"] = {{"journal", f.journal ? ojson(*f.journal) : ojson(nullptr)}, {"events", f.history}};
    j["sizing"] = {{"nf_conntrack_max", f.ct_max ? ojson(*f.ct_max) : ojson(nullptr)},
                   {"buckets", f.ct_buckets ? ojson(*f.ct_buckets) : ojson(nullptr)},
                   {"bytes_per_entry", f.entry_bytes ? ojson(*f.entry_bytes) : ojson(nullptr)}};
    j["remediation"] = remediation(f);
    return j;
}

std::vector<std::string> why_lines(const WhyFacts& f) {
    // Names, rules and command lines come from the traced world: each is
    // escaped where it is placed.
    auto e = [](const std::string& s) { return escape_for_terminal(s); };
    std::vector<std::string> out{e(summary(f)) + "."};
    if (f.tree.state == ModuleState::loaded) {
        out.push_back("");
        out.push_back("What keeps it loaded (holders, each with its reference count):");
        std::vector<std::string> tree;
        tree_lines(f.tree, "  ", tree);
        for (const auto& line : tree) out.push_back(e(line));
    }
    out.push_back("");
    out.push_back("How it was loaded and switched on:");
    if (!f.journal) {
        out.push_back("  not recorded: `nfsleuth watch --journal FILE` records every module load, and every namespace");
        out.push_back("  where conntrack becomes active, with the process that caused it; then");
        out.push_back("  `nfsleuth why " + e(f.module) + " --journal FILE` shows them here");
    } else if (f.history.empty()) {
        out.push_back("  no load of these modules and no conntrack activation in " + e(*f.journal));
    }
    auto who = [&](const ojson& p) {
        return e(p.value("comm", "")) + "[" + std::to_string(p.value("pid", 0)) + "] \"" + e(p.value("cmdline", "")) +
               "\"";
    };
    for (const auto& h : f.history) {
        // A hand-edited journal may hold a field of another type.
        try {
            if (h.value("type", "") == "ct_activate") {
                out.push_back(activation_line(h, who));
                continue;
            }
            std::string line = "  " + e(h.value("ts", "")) + " " + e(h.value("type", "")) + " " +
                               e(h.value("module", "")) + " by " + who(h);
            if (h.contains("trigger") && h["trigger"].is_object())
                line += " for " + who(h["trigger"]);
            else
                line += parents_text(h);
            out.push_back(line);
        } catch (const nlohmann::json::exception&) {
            out.push_back("  (a journal record with fields of the wrong type)");
        }
    }
    out.push_back("");
    out.push_back("Rules that need conntrack:");
    if (rule_count(f) == 0) out.push_back("  none");
    for (const auto& ns : f.namespaces) {
        for (const auto& r : ns.rules)
            out.push_back("  netns " + e(ns.name) + ", " + r.source + " " + e(r.table) + " " + e(r.chain) + " (" +
                          e(r.needs) + "): " + e(r.rule));
        for (const auto& u : ns.unread) out.push_back("  netns " + e(ns.name) + ": " + u + " ruleset not read");
    }
    out.push_back("");
    out.push_back("What to do, in order (--json gives the commands unescaped):");
    int n = 0;
    for (const auto& s : remediation(f)) {
        out.push_back("  " + std::to_string(++n) + ". " + e(s["step"].get<std::string>()));
        for (const auto& c : s["commands"]) out.push_back("       " + e(c.get<std::string>()));
    }
    return out;
}

}  // namespace nfsleuth
