// SPDX-License-Identifier: GPL-2.0-only
#include "why/why_report.hpp"

#include <algorithm>
#include <initializer_list>

#include "common/text.hpp"
#include "kernel/module_state.hpp"
#include "why/journal_input.hpp"

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

// Bounds on what one journal record contributes to the report.
constexpr std::size_t kMaxFieldBytes = 4096;  // nfsleuth's own strings are far shorter
constexpr std::size_t kMaxListed = 16;        // ancestors, rules
constexpr uint64_t kMaxPid = 4194304;         // PID_MAX_LIMIT

// `s` cut to at most `limit` bytes without splitting a UTF-8 sequence.
std::string cut_utf8(const std::string& s, std::size_t limit) {
    if (s.size() <= limit) return s;
    std::size_t n = limit;
    while (n > 0 && (static_cast<unsigned char>(s[n]) & 0xC0) == 0x80) --n;
    return s.substr(0, n);
}

// The fields of `from` named in `strings` and `integers` (with their
// maxima) copied to `to`, in the record's order, when of the right type and
// in range; the rest are left out. Only scalars are copied, never nested
// values.
void copy_valid(const ojson& from, ojson& to, std::initializer_list<std::string_view> strings,
                std::initializer_list<std::pair<std::string_view, uint64_t>> integers) {
    for (const auto& item : from.items()) {
        const std::string& k = item.key();
        const ojson& v = item.value();
        if (std::find(strings.begin(), strings.end(), k) != strings.end()) {
            if (v.is_string()) to[k] = cut_utf8(v.get_ref<const std::string&>(), kMaxFieldBytes);
            continue;
        }
        auto limit = std::find_if(integers.begin(), integers.end(), [&](const auto& i) { return i.first == k; });
        if (limit == integers.end() || !v.is_number_integer()) continue;
        if (v.is_number_unsigned() ? v.get<uint64_t>() <= limit->second
                                   : v.get<int64_t>() >= 0 && static_cast<uint64_t>(v.get<int64_t>()) <= limit->second)
            to[k] = v;
    }
}

// The first kMaxListed objects of the array `key`, each reduced to its
// valid `strings` and pid; left out when there is no such array.
void copy_list(const ojson& from, ojson& to, const char* key, std::initializer_list<std::string_view> strings) {
    auto it = from.find(key);
    if (it == from.end() || !it->is_array()) return;
    ojson list = ojson::array();
    for (const auto& item : *it) {
        if (list.size() == kMaxListed) break;
        if (!item.is_object()) continue;
        ojson kept = ojson::object();
        copy_valid(item, kept, strings, {{"pid", kMaxPid}});
        list.push_back(std::move(kept));
    }
    to[key] = std::move(list);
}

// A history event as the report keeps it, from a journal record.
ojson history_event(const ojson& ev, bool activation) {
    ojson h = ojson::object();
    if (activation) {
        copy_valid(ev, h, {"ts", "type", "netns_name", "family", "comm", "cmdline", "confidence"},
                   {{"netns", UINT32_MAX}, {"pid", kMaxPid}});
        copy_list(ev, h, "ancestors", {"comm"});
        copy_list(ev, h, "rules", {"source", "table", "chain", "rule", "needs"});
    } else {
        copy_valid(ev, h, {"ts", "type", "module", "comm", "cmdline"}, {{"pid", kMaxPid}});
        copy_list(ev, h, "ancestors", {"comm"});
        auto trigger = ev.find("trigger");
        if (trigger != ev.end() && trigger->is_object()) {
            h["trigger"] = ojson::object();
            copy_valid(*trigger, h["trigger"], {"comm", "cmdline", "requested"}, {{"pid", kMaxPid}});
        }
    }
    return h;
}

// A validated field as text for a terminal; `absent` when missing.
std::string field(const ojson& h, const char* key, const char* absent = "") {
    auto it = h.find(key);
    if (it == h.end()) return absent;
    return it->is_string() ? escape_for_terminal(it->get_ref<const std::string&>()) : it->dump();
}

// "comm[pid]", "?" for what the record did not hold.
std::string task_text(const ojson& p) { return field(p, "comm", "?") + "[" + field(p, "pid", "?") + "]"; }

// "comm[pid] "cmdline"" of a record or its trigger.
std::string who_text(const ojson& p) { return task_text(p) + " \"" + field(p, "cmdline") + "\""; }

// " (parent[pid] <- grandparent[pid] ...)" of a history event, or "".
std::string parents_text(const ojson& h) {
    auto it = h.find("ancestors");
    if (it == h.end() || it->empty()) return {};
    std::string parents;
    for (const auto& a : *it) parents += (parents.empty() ? "" : " <- ") + task_text(a);
    return " (" + parents + ")";
}

// "  TS ct_activate ipv4 in netns NAME by comm[pid] "cmd" (parents) for
// TABLE CHAIN: RULE", from a ct_activate history event.
std::string activation_line(const ojson& h) {
    std::string netns = field(h, "netns_name");
    if (netns.empty()) netns = field(h, "netns", "?");
    std::string line = "  " + field(h, "ts") + " ct_activate " + field(h, "family") + " in netns " + netns + " by " +
                       who_text(h) + parents_text(h);
    auto rules = h.find("rules");
    if (rules != h.end() && !rules->empty()) {
        const ojson& r = rules->front();
        line += " for " + field(r, "table") + " " + field(r, "chain") + ": " + field(r, "rule");
    }
    return line;
}

// "  TS module_load MODULE by comm[pid] "cmd" for trigger[pid] "cmd"" (or
// the parents when no trigger is known), from a module history event.
std::string module_event_line(const ojson& h) {
    std::string line = "  " + field(h, "ts") + " " + field(h, "type") + " " + field(h, "module") + " by " + who_text(h);
    auto trigger = h.find("trigger");
    return trigger != h.end() ? line + " for " + who_text(*trigger) : line + parents_text(h);
}

}  // namespace

ModuleHistoryReader::ModuleHistoryReader(std::set<std::string> modules, std::size_t kept_per_type)
    : modules_(std::move(modules)), kept_per_type_(kept_per_type) {}

void ModuleHistoryReader::read(std::istream& journal) {
    std::string line;
    for (LineRead r; (r = read_bounded_line(journal, line, kMaxJournalLine)) != LineRead::end;) {
        if (r == LineRead::too_long)
            ++history_.skipped_lines;
        else
            add_line(line);
    }
}

void ModuleHistoryReader::add_line(const std::string& line) {
    // Checked before parsing: the document is then shallow enough for
    // anything done with it.
    if (json_nesting_exceeds(line, kMaxJournalDepth)) {
        ++history_.skipped_lines;
        return;
    }
    const ojson ev = ojson::parse(line, nullptr, false);
    auto type_it = ev.is_object() ? ev.find("type") : ev.end();
    if (!ev.is_object() || type_it == ev.end() || !type_it->is_string()) {
        ++history_.skipped_lines;
        return;
    }
    const std::string& type = type_it->get_ref<const std::string&>();
    const bool activation = type == "ct_activate";
    if (activation) {
        // Conntrack's own history: where and by whom it was switched on.
        if (!modules_.count("nf_conntrack")) return;
    } else if (type == "module_request" || type == "module_load" || type == "module_load_failed") {
        auto module = ev.find("module");
        if (module == ev.end() || !module->is_string()) {
            ++history_.skipped_lines;
            return;
        }
        if (!modules_.count(module->get_ref<const std::string&>())) return;
    } else {
        return;
    }
    auto& newest = newest_[type];
    newest.emplace_back(next_seq_++, history_event(ev, activation));
    if (newest.size() > kept_per_type_) {
        newest.pop_front();
        ++history_.older_not_shown[type];
    }
}

JournalHistory ModuleHistoryReader::history() const {
    JournalHistory out = history_;
    std::vector<const std::pair<uint64_t, ojson>*> kept;
    for (const auto& [type, events] : newest_)
        for (const auto& e : events) kept.push_back(&e);
    std::sort(kept.begin(), kept.end(), [](const auto* a, const auto* b) { return a->first < b->first; });
    for (const auto* e : kept) out.events.push_back(e->second);
    return out;
}

JournalHistory module_history(std::istream& journal, const std::set<std::string>& modules) {
    ModuleHistoryReader reader(modules);
    reader.read(journal);
    return reader.history();
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
    j["history"] = {{"journal", f.journal ? ojson(*f.journal) : ojson(nullptr)},
                    {"events", f.history.events},
                    {"older_not_shown", f.history.older_not_shown},
                    {"skipped_lines", f.history.skipped_lines},
                    {"skipped_files", f.history.skipped_files}};
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
    } else if (f.history.events.empty()) {
        out.push_back("  no load of these modules and no conntrack activation in " + e(*f.journal));
    }
    for (const auto& [type, count] : f.history.older_not_shown)
        out.push_back("  (" + std::to_string(count) + " older " + e(type) + " event" + (count == 1 ? "" : "s") +
                      " not shown)");
    for (const auto& h : f.history.events)
        out.push_back(h.value("type", "") == "ct_activate" ? activation_line(h) : module_event_line(h));
    if (f.history.skipped_lines)
        out.push_back("  (" + std::to_string(f.history.skipped_lines) + " journal line" +
                      (f.history.skipped_lines == 1 ? "" : "s") +
                      " skipped: too long, nested too deep, not JSON, or not an nfsleuth event)");
    for (const auto& file : f.history.skipped_files) out.push_back("  (not read: " + e(file) + ")");
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
