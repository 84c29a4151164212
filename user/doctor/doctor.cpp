// SPDX-License-Identifier: GPL-2.0-only
#include "doctor/doctor.hpp"
#include "kernel/capabilities.hpp"
#include "kernel/module_state.hpp"

#include <bpf/libbpf.h>
#include <sys/utsname.h>

#include <algorithm>
#include <cstdio>
#include <functional>
#include <iostream>
#include <map>
#include <nlohmann/json.hpp>

#include "activations/activation_source.hpp"
#include "common/json_line.hpp"
#include "common/text.hpp"
#include "creations/creation_source.hpp"
#include "drops/drop_source.hpp"
#include "kernel/bpf_support.hpp"
#include "kernel/hooks.hpp"
#include "kernel/kallsyms.hpp"
#include "kernel/kernel_probe.hpp"
#include "kernel/netns.hpp"
#include "modules/module_source.hpp"
#include "why/journal_findings.hpp"

namespace nfsleuth {

namespace {

constexpr Flavor all_flavors[] = {Flavor::fentry, Flavor::fexit,  Flavor::kprobe,    Flavor::kretprobe,
                                  Flavor::tp_btf, Flavor::raw_tp, Flavor::tracepoint};

std::string yes_no(bool b) { return b ? "yes" : "no"; }

void print_row(const std::string& key, const std::string& value) {
    std::printf("  %-22s %s\n", key.c_str(), value.c_str());
}

std::string opt_number(const std::optional<uint64_t>& v) { return v ? std::to_string(*v) : "-"; }

// The hooks of every source as the commands get them: the source's real
// programs loaded and attached, then released. The empty programs say which
// attach types work; only nfsleuth's own programs show what the kernel
// refuses of them (a tracepoint record laid out differently, as on 6.1
// PREEMPT_RT, passes the first test and fails this one).
struct Trial {
    std::map<std::string, HookOutcome> hooks;  // by hook name
    std::vector<std::string> not_started;      // sources that could not start, and why
};

Trial try_real_programs(const CommonOptions& options, KernelProbe& probe) {
    Trial t;
    auto keep = [&](const std::vector<HookOutcome>& outcomes) {
        for (const auto& o : outcomes) t.hooks.insert_or_assign(o.hook, o);
    };
    auto attempt = [&](const std::string& source, const std::function<void()>& run) {
        try {
            run();
        } catch (const HookRefused& f) {
            keep(f.outcomes());
        } catch (const Failure& f) {
            t.not_started.push_back(source + ": " + f.what());
        }
    };
    if (KernelProbe::modules_supported()) {
        attempt("module events", [&] {
            ModuleSource s(options, probe, [](const ModuleRecord&) {});
            keep(s.hooks().outcomes());
        });
    }
    attempt("conntrack drops", [&] {
        DropSource s(options, DropOptions{}, probe, [](const DropRecord&, const DropContext&) {});
        keep(s.hooks().outcomes());
    });
    attempt("conntrack creations", [&] {
        CreationSource s(options, probe, plan_cause_hooks(probe, std::nullopt), DropOptions{}.max_flows);
        keep(s.hooks().outcomes());
    });
    attempt("conntrack activations", [&] {
        ActivationSource s(options, probe, [](const ActivationRecord&) {});
        keep(s.hooks().outcomes());
    });
    return t;
}

bool refused(const HookOutcome& o) {
    return o.failed_at == HookStage::load || o.failed_at == HookStage::attach;
}

// A hook as planned, completed with what its real programs did.
nlohmann::ordered_json hook_json(const HookSpec& spec, const HookPlan& plan, const HookOutcome* tried) {
    nlohmann::ordered_json h = {{"hook", spec.name}, {"purpose", spec.purpose}, {"required", spec.required}};
    // The source's own choice where it ran (the drop cause hooks share one
    // backend there).
    const std::optional<AttachCandidate>& chosen = tried && tried->chosen ? tried->chosen : plan.chosen;
    if (chosen) {
        h["backend"] = to_string(backend_of(chosen->flavor));
        h["attach"] = std::string(to_string(chosen->flavor)) + ":" + chosen->target;
    } else {
        h["backend"] = nullptr;
        h["attach"] = nullptr;
    }
    h["rejected"] = plan.rejected;
    // null: not tried (no candidate, or its source did not start).
    if (tried && (tried->traced || refused(*tried)))
        h["works"] = tried->traced;
    else
        h["works"] = nullptr;
    if (tried && refused(*tried))
        h["refused"] = {{"stage", to_string(*tried->failed_at)}, {"reason", tried->reason}};
    else
        h["refused"] = nullptr;
    return h;
}

// The counter_mismatch events of a daemon's journal, rotated files first.
MismatchHistory journal_mismatches(const std::string& journal) {
    MismatchHistory history;
    read_journal_files(
        journal, [&](std::istream& in) { read_mismatches(in, history); }, [](const std::string&) {},
        "give the file `nfsleuth watch --journal` writes, and run nfsleuth doctor as root");
    return history;
}

nlohmann::ordered_json agreement_json(const std::optional<std::string>& journal, const MismatchHistory& history) {
    nlohmann::ordered_json last = nlohmann::ordered_json::array();
    for (const auto& ev : history.last) last.push_back(ev);
    return {{"journal", journal ? nlohmann::ordered_json(*journal) : nlohmann::ordered_json(nullptr)},
            {"mismatches", history.mismatches},
            {"last", last},
            {"skipped_lines", history.skipped_lines}};
}

}  // namespace

ExitCode run_doctor(const CommonOptions& options, const DoctorOptions& doctor) {
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
    int hooks_refused = 0;
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
        auto drop_side = drop_hooks(kfree_skb_args(probe));
        all_hooks.insert(all_hooks.end(), drop_side.begin(), drop_side.end());
        all_hooks.insert(all_hooks.end(), drop_cause_hooks().begin(), drop_cause_hooks().end());
        all_hooks.push_back(helper_drop_hook());
        all_hooks.insert(all_hooks.end(), activation_hooks().begin(), activation_hooks().end());
        Trial trial = try_real_programs(options, probe);
        for (const auto& spec : all_hooks) {
            auto tried = trial.hooks.find(spec.name);
            hooks.push_back(hook_json(spec, plan_hook(spec, probe, std::nullopt),
                                      tried == trial.hooks.end() ? nullptr : &tried->second));
            if (tried != trial.hooks.end()) trial.hooks.erase(tried);
        }
        // Hooks a source plans by itself (conntrack creations).
        for (const auto& [name, o] : trial.hooks) {
            HookSpec spec{o.hook, o.purpose, o.required, {}};
            HookPlan plan;
            plan.chosen = o.chosen;
            if (o.failed_at == HookStage::plan) plan.rejected.push_back(o.reason);
            hooks.push_back(hook_json(spec, plan, &o));
        }
        for (const auto& h : hooks) {
            if (h["refused"].is_null()) continue;
            std::string note = "the kernel refused nfsleuth's programs for " + h["hook"].get<std::string>() + " (" +
                               h["purpose"].get<std::string>() + ") at " + h["refused"]["stage"].get<std::string>() +
                               ": " + h["refused"]["reason"].get<std::string>() + "; ";
            note += h["required"].get<bool>() ? "commands that need it exit 3" : "commands run without it";
            notes.push_back(note);
            ++hooks_refused;
        }
        for (const auto& why : trial.not_started) notes.push_back("not tried: " + why);
    } else {
        j["ringbuf"] = nullptr;
        notes.push_back("not privileged: attach types were not probed (needs CAP_BPF and CAP_PERFMON, or root)");
    }
    j["attach_types"] = attach;
    j["hooks"] = hooks;
    if (caps.can_trace()) {
        CausePlan cause = plan_cause_hooks(probe, std::nullopt);
        j["drop_backend"] = cause.backend ? to_string(*cause.backend) : "tracepoint";
        j["drop_causes_follow_module"] = cause.follows_module;
        const bool by_reason = kfree_skb_args(probe) == KfreeSkbArgs::reason;
        const bool site_known = by_reason || RunningKernelSymbols().function_range("nf_hook_slow").has_value();
        const bool drop_hook = std::any_of(hooks.begin(), hooks.end(), [](const nlohmann::ordered_json& h) {
            return h["hook"] == "ct_drop" && !h["attach"].is_null();
        });
        if (drop_hook && by_reason)
            j["drop_recognised_by"] = "kfree_skb reason NETFILTER_DROP";
        else if (drop_hook && site_known)
            j["drop_recognised_by"] = "kfree_skb called from nf_hook_slow (the kernel has no drop reasons)";
        else
            j["drop_recognised_by"] = nullptr;
        if (!drop_hook) {
            // The BTF (the kernel's, or --btf) has no kfree_skb tracepoint.
            notes.push_back("netfilter drops cannot be recognised here: the BTF has no kfree_skb tracepoint to attach to");
            ++hooks_refused;
        } else if (!site_known) {
            // Every drop would go unseen: the worst answer, so a finding.
            notes.push_back("netfilter drops cannot be recognised here: skb:kfree_skb has no drop reason and "
                            "nf_hook_slow's address is not in /proc/kallsyms (kernel.kptr_restrict=2?)");
            ++hooks_refused;
        }
    } else {
        j["drop_backend"] = nullptr;
        j["drop_causes_follow_module"] = nullptr;
        j["drop_recognised_by"] = nullptr;
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
    // What the daemon found while it ran: its disagreements with the
    // kernel's own drop counters.
    const std::optional<std::string> journal = journal_to_read(doctor.journal);
    MismatchHistory mismatches = journal ? journal_mismatches(*journal) : MismatchHistory{};
    j["kernel_agreement"] = agreement_json(journal, mismatches);
    if (mismatches.mismatches) {
        notes.push_back("the journal " + *journal + " records " + std::to_string(mismatches.mismatches) +
                        " disagreement(s) of nfsleuth's drop counts with the kernel's own counters "
                        "(counter_mismatch): drops went unseen or were named wrongly; the last: " +
                        describe_mismatch(mismatches.last.back()));
    }
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
        if (!j["drop_backend"].is_null()) {
            std::printf("\nDrops recognised by: %s\n", j["drop_recognised_by"].is_null()
                                                             ? "NOTHING (see the notes)"
                                                             : j["drop_recognised_by"].get<std::string>().c_str());
            std::string from = j["drop_backend"] == "tracepoint"
                                   ? " (kfree_skb plus conntrack's per-CPU statistics; evictions not seen)"
                               : j["drop_causes_follow_module"].get<bool>()
                                   ? " (kfree_skb plus conntrack's per-CPU statistics; evictions from kprobes on "
                                     "early_drop while the nf_conntrack module is loaded, which leave it free to be "
                                     "unloaded)"
                                   : " (kfree_skb plus conntrack's per-CPU statistics; evictions from early_drop)";
            std::printf("Drop causes from: %s%s\n", j["drop_backend"].get<std::string>().c_str(), from.c_str());
        }
        std::printf("\nHooks (each source's real programs loaded and attached):\n");
        for (const auto& h : hooks) {
            std::string use = h["attach"].is_null() ? "unavailable" : h["backend"].get<std::string>() + " (" +
                                                                          h["attach"].get<std::string>() + ")";
            std::string why;
            if (h["attach"].is_null()) {
                for (const auto& r : h["rejected"]) why += (why.empty() ? ": " : "; ") + r.get<std::string>();
            } else if (!h["refused"].is_null()) {
                why = ": REFUSED at " + h["refused"]["stage"].get<std::string>() + ": " +
                      h["refused"]["reason"].get<std::string>();
            } else {
                why = h["works"].is_null() ? ", not tried" : ", works";
            }
            std::printf("  %-20s %s%s\n", h["hook"].get<std::string>().c_str(), use.c_str(), why.c_str());
        }
        std::printf("\nKernel counters: %s\n",
                    !journal ? "no journal to check (--journal FILE)"
                    : mismatches.mismatches
                        ? ("DISAGREED " + std::to_string(mismatches.mismatches) + " time(s) in " + *journal).c_str()
                        : ("agreed throughout " + *journal).c_str());
        for (const auto& ev : mismatches.last) std::printf("  %s\n", describe_mismatch(ev).c_str());
        if (!notes.empty()) {
            std::printf("\nNotes:\n");
            for (const auto& n : notes) std::printf("  - %s\n", n.c_str());
        }
        std::fflush(stdout);
    }
    if (!caps.can_trace()) return ExitCode::privilege;
    // A hook the kernel offers but refuses nfsleuth's programs on is a
    // finding, not a property of the kernel: say so in the exit code.
    if (hooks_refused) return ExitCode::unsupported;
    return mismatches.mismatches ? ExitCode::failure : ExitCode::ok;
}

}  // namespace nfsleuth
