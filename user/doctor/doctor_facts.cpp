// SPDX-License-Identifier: GPL-2.0-only
#include "doctor/doctor_facts.hpp"

#include <algorithm>
#include <cstdio>

#include "common/text.hpp"

namespace nfsleuth {

namespace {

using ojson = nlohmann::ordered_json;

std::string yes_no(bool b) { return b ? "yes" : "no"; }

template <class T>
ojson or_null(const std::optional<T>& v) {
    return v ? ojson(*v) : ojson(nullptr);
}

std::string opt_number(const std::optional<uint64_t>& v) { return v ? std::to_string(*v) : "-"; }

// printf into a string (the text report's columns).
template <class... Args>
std::string format(const char* fmt, Args... args) {
    char buf[1024];
    std::snprintf(buf, sizeof buf, fmt, args...);
    return buf;
}

std::string row(const std::string& key, const std::string& value) {
    return format("  %-22s %s\n", key.c_str(), value.c_str());
}

ojson hook_json(const HookFact& h) {
    ojson j = {{"hook", h.hook}, {"purpose", h.purpose}, {"required", h.required}};
    if (h.flavor) {
        j["backend"] = to_string(backend_of(*h.flavor));
        j["attach"] = std::string(to_string(*h.flavor)) + ":" + h.target;
    } else {
        j["backend"] = nullptr;
        j["attach"] = nullptr;
    }
    j["rejected"] = h.rejected;
    j["works"] = or_null(h.works);
    if (h.refused)
        j["refused"] = {{"stage", h.refused->stage}, {"reason", h.refused->reason}};
    else
        j["refused"] = nullptr;
    return j;
}

std::string hook_line(const HookFact& h) {
    std::string use = h.flavor ? std::string(to_string(backend_of(*h.flavor))) + " (" + to_string(*h.flavor) + ":" +
                                     h.target + ")"
                               : "unavailable";
    std::string why;
    if (!h.flavor) {
        for (const auto& r : h.rejected) why += (why.empty() ? ": " : "; ") + r;
    } else if (h.refused) {
        why = ": REFUSED at " + h.refused->stage + ": " + h.refused->reason;
    } else {
        why = h.works ? ", works" : ", not tried";
    }
    return format("  %-20s %s%s\n", h.hook.c_str(), use.c_str(), why.c_str());
}

}  // namespace

bool DoctorFacts::backend_works(Backend b) const {
    auto works = [&](Flavor f) {
        auto it = attach_types.find(f);
        return it != attach_types.end() && it->second.works;
    };
    switch (b) {
        case Backend::fentry: return works(Flavor::fentry) && works(Flavor::fexit);
        case Backend::kprobe: return works(Flavor::kprobe) && works(Flavor::kretprobe);
        case Backend::tracepoint: return works(Flavor::tp_btf) || works(Flavor::raw_tp) || works(Flavor::tracepoint);
    }
    return false;
}

ojson to_json(const DoctorFacts& f) {
    ojson j;
    j["kernel_release"] = f.kernel_release;
    j["btf"] = {{"available", f.btf_available}, {"path", f.btf_path}};
    j["privileges"] = {{"cap_bpf", f.caps.bpf},           {"cap_perfmon", f.caps.perfmon},
                       {"cap_sys_admin", f.caps.sys_admin}, {"cap_net_admin", f.caps.net_admin},
                       {"sufficient", f.caps.can_trace()}};
    j["loadable_modules"] = f.loadable_modules;
    j["module_tracepoints"] = f.module_tracepoints;
    j["tracefs"] = {{"mounted", f.tracefs.has_value()}, {"path", or_null(f.tracefs)}};
    j["ringbuf"] = or_null(f.ringbuf);
    ojson attach = ojson::object();
    for (Flavor fl : kAllFlavors) {
        auto it = f.attach_types.find(fl);
        if (it != f.attach_types.end()) attach[to_string(fl)] = {{"works", it->second.works}, {"detail", it->second.detail}};
    }
    j["attach_types"] = attach;
    ojson hooks = ojson::array();
    for (const auto& h : f.hooks) hooks.push_back(hook_json(h));
    j["hooks"] = hooks;
    if (f.drops) {
        j["drop_backend"] = f.drops->backend;
        j["drop_causes_follow_module"] = f.drops->follows_module;
        j["drop_recognised_by"] = or_null(f.drops->recognised_by);
    } else {
        j["drop_backend"] = nullptr;
        j["drop_causes_follow_module"] = nullptr;
        j["drop_recognised_by"] = nullptr;
    }
    j["backends"] = {{"fentry", f.backend_works(Backend::fentry)},
                     {"kprobe", f.backend_works(Backend::kprobe)},
                     {"tracepoint", f.backend_works(Backend::tracepoint)}};
    ojson namespaces = ojson::array();
    for (const auto& ns : f.namespaces)
        namespaces.push_back({{"netns", ns.inode}, {"name", ns.name}, {"count", or_null(ns.count)}, {"max", or_null(ns.max)}});
    j["nf_conntrack"] = {{"state", f.conntrack_state}, {"namespaces", namespaces}};
    ojson last = ojson::array();
    for (const auto& ev : f.mismatches.last) last.push_back(ev);
    j["kernel_agreement"] = {{"journal", or_null(f.journal)},
                             {"mismatches", f.mismatches.mismatches},
                             {"last", last},
                             {"skipped_lines", f.mismatches.skipped_lines}};
    j["notes"] = f.notes;
    return j;
}

std::string to_text(const DoctorFacts& f) {
    std::string out = "nfsleuth doctor\n";
    out += row("kernel release", f.kernel_release);
    out += row("BTF", f.btf_available ? "yes (" + f.btf_path + ")" : "no");
    std::string priv = f.caps.can_trace() ? "sufficient" : "insufficient";
    priv += " (CAP_BPF " + yes_no(f.caps.bpf) + ", CAP_PERFMON " + yes_no(f.caps.perfmon) + ", CAP_SYS_ADMIN " +
            yes_no(f.caps.sys_admin) + ", CAP_NET_ADMIN " + yes_no(f.caps.net_admin) + ")";
    out += row("privileges", priv);
    out += row("ring buffer", f.ringbuf ? yes_no(*f.ringbuf) : "not probed");
    out += row("loadable modules", f.loadable_modules ? "yes" : "no (CONFIG_MODULES is not set)");
    out += row("module tracepoints", yes_no(f.module_tracepoints));
    out += row("tracefs", f.tracefs ? "mounted at " + *f.tracefs : "not mounted");
    out += row("nf_conntrack", f.conntrack_state);
    out += "\nAttach types (an empty program loaded and attached for real):\n";
    for (Flavor fl : kAllFlavors) {
        auto it = f.attach_types.find(fl);
        if (it == f.attach_types.end())
            out += format("  %-11s not probed\n", to_string(fl));
        else
            out += format("  %-11s %-4s %s\n", to_string(fl), it->second.works ? "yes" : "no", it->second.detail.c_str());
    }
    out += "\nBackends: fentry " + yes_no(f.backend_works(Backend::fentry)) + ", kprobe " +
           yes_no(f.backend_works(Backend::kprobe)) + ", tracepoint " + yes_no(f.backend_works(Backend::tracepoint)) +
           "\n";
    out += format("\nConntrack per network namespace:\n  %-12s %-10s %-10s %s\n", "netns", "count", "max", "name");
    for (const auto& ns : f.namespaces)
        out += format("  %-12llu %-10s %-10s %s\n", static_cast<unsigned long long>(ns.inode),
                      opt_number(ns.count).c_str(), opt_number(ns.max).c_str(), escape_for_terminal(ns.name).c_str());
    if (f.drops) {
        out += "\nDrops recognised by: " + (f.drops->recognised_by ? *f.drops->recognised_by : "NOTHING (see the notes)") + "\n";
        std::string from = f.drops->backend == "tracepoint"
                               ? " (kfree_skb plus conntrack's per-CPU statistics; evictions not seen)"
                           : f.drops->follows_module
                               ? " (kfree_skb plus conntrack's per-CPU statistics; evictions from kprobes on "
                                 "early_drop while the nf_conntrack module is loaded, which leave it free to be "
                                 "unloaded)"
                               : " (kfree_skb plus conntrack's per-CPU statistics; evictions from early_drop)";
        out += "Drop causes from: " + f.drops->backend + from + "\n";
    }
    out += "\nHooks (each source's real programs loaded and attached):\n";
    for (const auto& h : f.hooks) out += hook_line(h);
    out += "\nKernel counters: ";
    if (!f.journal)
        out += "no journal to check (--journal FILE)";
    else if (f.mismatches.mismatches)
        out += "DISAGREED " + std::to_string(f.mismatches.mismatches) + " time(s) in " + *f.journal;
    else
        out += "agreed throughout " + *f.journal;
    out += "\n";
    for (const auto& ev : f.mismatches.last) out += "  " + describe_mismatch(ev) + "\n";
    if (!f.notes.empty()) {
        out += "\nNotes:\n";
        for (const auto& n : f.notes) out += "  - " + n + "\n";
    }
    return out;
}

int DoctorFacts::hooks_refused() const {
    int n = static_cast<int>(std::count_if(hooks.begin(), hooks.end(), [](const HookFact& h) { return h.refused; }));
    return drops && !drops->recognised_by ? n + 1 : n;
}

ExitCode exit_code(const DoctorFacts& f) {
    if (!f.caps.can_trace()) return ExitCode::privilege;
    // A hook the kernel offers but refuses nfsleuth's programs on is a
    // finding, not a property of the kernel: say so in the exit code.
    if (f.hooks_refused()) return ExitCode::unsupported;
    return f.mismatches.mismatches ? ExitCode::failure : ExitCode::ok;
}

}  // namespace nfsleuth
