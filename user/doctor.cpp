// SPDX-License-Identifier: GPL-2.0-only
#include "doctor.hpp"

#include <bpf/libbpf.h>
#include <sys/utsname.h>

#include <cstdio>
#include <iostream>
#include <nlohmann/json.hpp>

#include "bpf_support.hpp"
#include "hooks.hpp"
#include "json_line.hpp"
#include "kernel_probe.hpp"
#include "netns.hpp"
#include "text.hpp"

namespace nfsleuth {

namespace {

constexpr Flavor all_flavors[] = {Flavor::fentry, Flavor::fexit,  Flavor::kprobe,    Flavor::kretprobe,
                                  Flavor::tp_btf, Flavor::raw_tp, Flavor::tracepoint};

std::string yes_no(bool b) { return b ? "yes" : "no"; }

void print_row(const std::string& key, const std::string& value) {
    std::printf("  %-22s %s\n", key.c_str(), value.c_str());
}

std::string opt_number(const std::optional<uint64_t>& v) { return v ? std::to_string(*v) : "-"; }

}  // namespace

ExitCode run_doctor(const CommonOptions& options) {
    nlohmann::ordered_json j;
    std::vector<std::string> notes;

    utsname uts{};
    uname(&uts);
    j["kernel_release"] = uts.release;

    KernelProbe probe(options.btf);
    j["btf"] = {{"available", probe.has_btf()}, {"path", probe.btf_source()}};

    Capabilities caps = Capabilities::of_current_process();
    j["privileges"] = {{"cap_bpf", caps.bpf},           {"cap_perfmon", caps.perfmon},
                       {"cap_sys_admin", caps.sys_admin}, {"cap_net_admin", caps.net_admin},
                       {"sufficient", caps.can_trace()}};

    bool modules = KernelProbe::modules_supported();
    j["loadable_modules"] = modules;
    bool module_tps = probe.kallsyms_has("__tracepoint_module_request") && probe.kallsyms_has("__tracepoint_module_load");
    j["module_tracepoints"] = module_tps;
    auto tracefs = probe.tracefs_root();
    j["tracefs"] = {{"mounted", tracefs.has_value()}, {"path", tracefs ? nlohmann::ordered_json(*tracefs) : nlohmann::ordered_json(nullptr)}};

    nlohmann::ordered_json attach = nlohmann::ordered_json::object();
    nlohmann::ordered_json hooks = nlohmann::ordered_json::array();
    if (caps.can_trace()) {
        {
            QuietLibbpf quiet;
            j["ringbuf"] = libbpf_probe_bpf_map_type(BPF_MAP_TYPE_RINGBUF, nullptr) == 1;
        }
        for (Flavor f : all_flavors) {
            const ProbeResult& r = probe.attach_type(f);
            attach[to_string(f)] = {{"works", r.works}, {"detail", r.detail}};
        }
        std::vector<HookSpec> all_hooks = module_hooks();
        all_hooks.insert(all_hooks.end(), drop_hooks().begin(), drop_hooks().end());
        all_hooks.insert(all_hooks.end(), drop_cause_hooks().begin(), drop_cause_hooks().end());
        all_hooks.insert(all_hooks.end(), activation_hooks().begin(), activation_hooks().end());
        for (const auto& spec : all_hooks) {
            HookPlan plan = plan_hook(spec, probe, std::nullopt);
            nlohmann::ordered_json h = {{"hook", spec.name}, {"purpose", spec.purpose}, {"required", spec.required}};
            if (plan.chosen) {
                h["backend"] = to_string(backend_of(plan.chosen->flavor));
                h["attach"] = std::string(to_string(plan.chosen->flavor)) + ":" + plan.chosen->target;
            } else {
                h["backend"] = nullptr;
                h["attach"] = nullptr;
            }
            h["rejected"] = plan.rejected;
            hooks.push_back(h);
        }
    } else {
        j["ringbuf"] = nullptr;
        notes.push_back("not privileged: attach types were not probed (needs CAP_BPF and CAP_PERFMON, or root)");
    }
    j["attach_types"] = attach;
    j["hooks"] = hooks;
    if (caps.can_trace()) {
        auto cause = choose_cause_backend(probe, std::nullopt);
        j["drop_backend"] = cause ? to_string(*cause) : "tracepoint";
    } else {
        j["drop_backend"] = nullptr;
    }

    auto works = [&](Flavor f) { return attach.contains(to_string(f)) && attach[to_string(f)]["works"].get<bool>(); };
    j["backends"] = {{"fentry", works(Flavor::fentry) && works(Flavor::fexit)},
                     {"kprobe", works(Flavor::kprobe) && works(Flavor::kretprobe)},
                     {"tracepoint", works(Flavor::tp_btf) || works(Flavor::raw_tp) || works(Flavor::tracepoint)}};

    ModuleState ct = conntrack_state();
    auto namespaces = list_network_namespaces();
    read_conntrack_fill(namespaces);
    nlohmann::ordered_json ns_list = nlohmann::ordered_json::array();
    for (const auto& ns : namespaces) {
        ns_list.push_back({{"netns", ns.inode},
                           {"name", ns.name},
                           {"count", ns.ct_count ? nlohmann::ordered_json(*ns.ct_count) : nlohmann::ordered_json(nullptr)},
                           {"max", ns.ct_max ? nlohmann::ordered_json(*ns.ct_max) : nlohmann::ordered_json(nullptr)}});
    }
    j["nf_conntrack"] = {{"state", to_string(ct)}, {"namespaces", ns_list}};

    if (caps.can_trace()) {
        if (!j["backends"]["fentry"].get<bool>()) notes.push_back("fentry/fexit are unavailable on this kernel");
        if (!j["backends"]["kprobe"].get<bool>()) notes.push_back("kprobes are unavailable on this kernel");
        if (!j["backends"]["fentry"].get<bool>() && !j["backends"]["kprobe"].get<bool>())
            notes.push_back("only tracepoints can be used here");
    }
    if (!modules) {
        notes.push_back("this kernel has no loadable-module support (CONFIG_MODULES is not set): nothing can be "
                        "autoloaded, `nfsleuth modules` has nothing to trace");
    }
    if (ct == ModuleState::builtin) notes.push_back("nf_conntrack is built into the kernel: it cannot be unloaded");
    if (!tracefs)
        notes.push_back("tracefs is not mounted: classic tracepoints cannot attach "
                        "(mount -t tracefs nodev /sys/kernel/tracing); tp_btf/raw_tp do not need it");
    j["notes"] = notes;

    if (options.json) {
        std::cout << json_line(j) << std::endl;
    } else {
        std::printf("nfsleuth doctor\n");
        print_row("kernel release", uts.release);
        print_row("BTF", probe.has_btf() ? "yes (" + probe.btf_source() + ")" : "no");
        std::string priv = caps.can_trace() ? "sufficient" : "insufficient";
        priv += std::string(" (CAP_BPF ") + yes_no(caps.bpf) + ", CAP_PERFMON " + yes_no(caps.perfmon) +
                ", CAP_SYS_ADMIN " + yes_no(caps.sys_admin) + ", CAP_NET_ADMIN " + yes_no(caps.net_admin) + ")";
        print_row("privileges", priv);
        print_row("ring buffer", j["ringbuf"].is_null() ? "not probed" : yes_no(j["ringbuf"].get<bool>()));
        print_row("loadable modules", modules ? "yes" : "no (CONFIG_MODULES is not set)");
        print_row("module tracepoints", yes_no(module_tps));
        print_row("tracefs", tracefs ? "mounted at " + *tracefs : "not mounted");
        print_row("nf_conntrack", to_string(ct));
        std::printf("\nAttach types (an empty program loaded and attached for real):\n");
        for (Flavor f : all_flavors) {
            if (!attach.contains(to_string(f))) {
                std::printf("  %-11s not probed\n", to_string(f));
                continue;
            }
            const auto& a = attach[to_string(f)];
            std::printf("  %-11s %-4s %s\n", to_string(f), a["works"].get<bool>() ? "yes" : "no",
                        a["detail"].get<std::string>().c_str());
        }
        std::printf("\nBackends: fentry %s, kprobe %s, tracepoint %s\n",
                    yes_no(j["backends"]["fentry"].get<bool>()).c_str(),
                    yes_no(j["backends"]["kprobe"].get<bool>()).c_str(),
                    yes_no(j["backends"]["tracepoint"].get<bool>()).c_str());
        std::printf("\nConntrack per network namespace:\n  %-12s %-10s %-10s %s\n", "netns", "count", "max", "name");
        for (const auto& ns : namespaces) {
            std::printf("  %-12llu %-10s %-10s %s\n", static_cast<unsigned long long>(ns.inode),
                        opt_number(ns.ct_count).c_str(), opt_number(ns.ct_max).c_str(),
                        escape_for_terminal(ns.name).c_str());
        }
        if (!j["drop_backend"].is_null())
            std::printf("\nDrop causes from: %s%s\n", j["drop_backend"].get<std::string>().c_str(),
                        j["drop_backend"] == "tracepoint" ? " (kfree_skb plus conntrack's per-CPU statistics)"
                                                           : " (conntrack's own functions)");
        std::printf("\nHooks:\n");
        for (const auto& h : hooks) {
            std::string use = h["attach"].is_null() ? "unavailable" : h["backend"].get<std::string>() + " (" +
                                                                          h["attach"].get<std::string>() + ")";
            std::string why;
            if (h["attach"].is_null()) {
                for (const auto& r : h["rejected"]) why += (why.empty() ? ": " : "; ") + r.get<std::string>();
            }
            std::printf("  %-20s %s%s\n", h["hook"].get<std::string>().c_str(), use.c_str(), why.c_str());
        }
        if (!notes.empty()) {
            std::printf("\nNotes:\n");
            for (const auto& n : notes) std::printf("  - %s\n", n.c_str());
        }
        std::fflush(stdout);
    }
    return caps.can_trace() ? ExitCode::ok : ExitCode::privilege;
}

}  // namespace nfsleuth
