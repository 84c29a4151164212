// SPDX-License-Identifier: GPL-2.0-only
#include "modules/module_output.hpp"

#include <cstring>

#include "common/text.hpp"
#include "kernel/kallsyms.hpp"
#include "process/process_output.hpp"

namespace nfsleuth {

namespace {

std::string errno_name(int negative_errno) {
    const char* name = strerrorname_np(-negative_errno);
    return name ? name : std::to_string(negative_errno);
}

}  // namespace

nlohmann::ordered_json to_json(const ModuleRecord& r) {
    const ModuleEvent& ev = r.event;
    const Process& p = ev.proc;
    nlohmann::ordered_json j;
    j["type"] = to_string(ev.type);
    j["ts"] = r.ts;
    j["module"] = ev.module;
    j["wait"] = ev.type == ModuleEventType::request ? nlohmann::ordered_json(ev.wait) : nlohmann::ordered_json(nullptr);
    j["error"] = ev.type == ModuleEventType::load_error ? nlohmann::ordered_json(errno_name(ev.error)) : nlohmann::ordered_json(nullptr);
    add_process_json(j, p, r.cgroup);
    j["kstack"] = r.kstack;
    j["syscall"] = ev.type == ModuleEventType::request ? nlohmann::ordered_json(syscall_from_stack(r.kstack)) : nlohmann::ordered_json(nullptr);
    if (r.trigger) {
        j["trigger"] = {{"pid", r.trigger->pid},
                        {"comm", r.trigger->comm},
                        {"cmdline", r.trigger->cmdline},
                        {"requested", r.trigger->requested}};
    } else {
        j["trigger"] = nullptr;
    }
    j["backend"] = r.backend;
    return j;
}

std::string to_human_line(const ModuleRecord& r) {
    const ModuleEvent& ev = r.event;
    const Process& p = ev.proc;
    std::string line = r.ts + " ";
    switch (ev.type) {
        case ModuleEventType::request: line += "request "; break;
        case ModuleEventType::load: line += "load    "; break;
        case ModuleEventType::load_error: line += "failed  "; break;
        case ModuleEventType::free: line += "unload  "; break;
    }
    line += escape_for_terminal(ev.module);
    if (ev.type == ModuleEventType::load_error) line += " error=" + errno_name(ev.error);
    line += " by " + process_words(p, r.cgroup);
    if (ev.type == ModuleEventType::request) {
        auto syscall = syscall_from_stack(r.kstack);
        if (!syscall.empty()) line += " syscall=" + syscall;
    }
    if (r.trigger) {
        line += " trigger=" + format_task(r.trigger->comm, r.trigger->pid) +
                " requested=" + escape_for_terminal(r.trigger->requested);
    }
    return line;
}

ModuleSummary::Root* ModuleSummary::find_or_add(uint32_t pid, uint64_t key_ts, const Root& fresh) {
    for (auto& root : roots_) {
        if (root.pid == pid && root.key_ts == key_ts) return &root;
    }
    if (roots_.size() >= max_roots_) {
        // Count each dropped trigger once, remembering at most max_roots_ of them.
        if (dropped_keys_.size() >= max_roots_) ++dropped_roots_;
        else if (dropped_keys_.insert({pid, key_ts}).second) ++dropped_roots_;
        return nullptr;
    }
    roots_.push_back(fresh);
    return &roots_.back();
}

void ModuleSummary::add(const ModuleRecord& r) {
    const ModuleEvent& ev = r.event;
    const Process& p = ev.proc;
    if (ev.type == ModuleEventType::request && !r.trigger) {
        find_or_add(p.pid, ev.ts_boot_ns, {p.pid, p.comm, p.cmdline(), p.ancestors, ev.module, ev.ts_boot_ns, {}});
        return;
    }
    if (ev.type != ModuleEventType::load) return;
    Root* root;
    if (r.trigger) {
        const Trigger& t = *r.trigger;
        root = find_or_add(t.pid, t.ts_boot_ns, {t.pid, t.comm, t.cmdline, t.ancestors, t.requested, t.ts_boot_ns, {}});
    } else {
        root = find_or_add(p.pid, 0, {p.pid, p.comm, p.cmdline(), p.ancestors, std::nullopt, 0, {}});
    }
    if (root) root->loaded.push_back(ev.module);
}

bool matches_filter(const CommonOptions& o, const ModuleRecord& r) {
    const Process& p = r.event.proc;
    if (o.pid && p.pid != *o.pid && !(r.trigger && r.trigger->pid == *o.pid)) return false;
    if (o.comm && p.comm != *o.comm && !(r.trigger && r.trigger->comm == *o.comm)) return false;
    return true;
}

std::vector<std::string> ModuleSummary::human_lines() const {
    std::vector<std::string> lines;
    for (const auto& root : roots_) {
        std::string line = format_task(root.comm, root.pid);
        if (!root.ancestors.empty()) line += " (" + format_ancestry(root.ancestors) + ")";
        line += " \"" + escape_for_terminal(root.cmdline) + "\"";
        if (root.requested) line += " -> " + escape_for_terminal(*root.requested);
        line += " -> ";
        if (root.loaded.empty()) {
            line += "(nothing loaded)";
        } else {
            for (std::size_t i = 0; i < root.loaded.size(); ++i) {
                if (i) line += ", ";
                line += escape_for_terminal(root.loaded[i]);
            }
        }
        lines.push_back(std::move(line));
    }
    if (dropped_roots_) lines.push_back("(" + std::to_string(dropped_roots_) + " more triggers not kept)");
    return lines;
}

nlohmann::ordered_json ModuleSummary::to_json() const {
    auto list = nlohmann::ordered_json::array();
    for (const auto& root : roots_) {
        list.push_back({{"pid", root.pid},
                        {"comm", root.comm},
                        {"cmdline", root.cmdline},
                        {"ancestors", ancestors_json(root.ancestors)},
                        {"requested", root.requested ? nlohmann::ordered_json(*root.requested) : nlohmann::ordered_json(nullptr)},
                        {"loaded", root.loaded}});
    }
    return {{"triggers", list}, {"triggers_not_kept", dropped_roots_}};
}

nlohmann::ordered_json module_summary_json(const ModuleSummary& summary, const ModuleAccounting& acc) {
    nlohmann::ordered_json j = summary.to_json();
    j["events_seen"] = acc.seen;
    j["events_delivered"] = acc.delivered;
    j["events_lost"] = acc.lost;
    j["decode_errors"] = acc.malformed;
    return j;
}

std::vector<std::string> module_summary_lines(const ModuleSummary& summary, const ModuleAccounting& acc) {
    std::vector<std::string> lines = {"Module loads by trigger:"};
    auto roots = summary.human_lines();
    if (roots.empty()) lines.push_back("  (none)");
    for (const auto& l : roots) lines.push_back("  " + l);
    std::string events = "Module events: " + std::to_string(acc.seen) + " seen, " + std::to_string(acc.delivered) +
                         " delivered, " + std::to_string(acc.lost) + " lost (ring buffer full)";
    if (acc.malformed) events += ", " + std::to_string(acc.malformed) + " malformed";
    lines.push_back(std::move(events));
    return lines;
}

}  // namespace nfsleuth
