// SPDX-License-Identifier: GPL-2.0-only
#include "doctor/doctor.hpp"

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
#include "doctor/doctor_facts.hpp"
#include "drops/drop_source.hpp"
#include "kernel/bpf_support.hpp"
#include "kernel/capabilities.hpp"
#include "kernel/hooks.hpp"
#include "kernel/kallsyms.hpp"
#include "kernel/kernel_probe.hpp"
#include "kernel/module_state.hpp"
#include "kernel/netns.hpp"
#include "modules/module_source.hpp"
#include "why/journal_findings.hpp"

namespace nfsleuth {

namespace {

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
    CgroupResolver cgroups(options.pod_dirs);
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
            ModuleSource s(options, probe, cgroups, [](const ModuleRecord&) {});
            keep(s.hooks().outcomes());
        });
    }
    attempt("conntrack drops", [&] {
        DropSource s(options, DropOptions{}, probe, cgroups, [](const DropRecord&, const DropContext&) {});
        keep(s.hooks().outcomes());
    });
    attempt("conntrack creations", [&] {
        CreationSource s(options, probe, plan_cause_hooks(probe, std::nullopt), DropOptions{}.max_flows);
        keep(s.hooks().outcomes());
    });
    attempt("conntrack activations", [&] {
        ActivationSource s(options, probe, cgroups, [](const ActivationRecord&) {});
        keep(s.hooks().outcomes());
    });
    return t;
}

bool refused(const HookOutcome& o) {
    return o.failed_at == HookStage::load || o.failed_at == HookStage::attach;
}

// A hook as planned, completed with what its real programs did.
HookFact hook_fact(const HookSpec& spec, const HookPlan& plan, const HookOutcome* tried) {
    HookFact h;
    h.hook = spec.name;
    h.purpose = spec.purpose;
    h.required = spec.required;
    // The source's own choice where it ran (the drop cause hooks share one
    // backend there).
    const std::optional<AttachCandidate>& chosen = tried && tried->chosen ? tried->chosen : plan.chosen;
    if (chosen) {
        h.flavor = chosen->flavor;
        h.target = chosen->target;
    }
    h.rejected = plan.rejected;
    // Not tried: no candidate, or its source did not start.
    if (tried && (tried->traced || refused(*tried))) h.works = tried->traced;
    if (tried && refused(*tried)) h.refused = HookFact::Refusal{to_string(*tried->failed_at), tried->reason};
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

// Every hook of every source, planned and tried with its real programs.
void collect_hooks(const CommonOptions& options, KernelProbe& probe, DoctorFacts& f) {
    std::vector<HookSpec> all_hooks = module_hooks();
    auto drop_side = drop_hooks(kfree_skb_args(probe));
    all_hooks.insert(all_hooks.end(), drop_side.begin(), drop_side.end());
    all_hooks.insert(all_hooks.end(), drop_cause_hooks().begin(), drop_cause_hooks().end());
    all_hooks.push_back(helper_drop_hook());
    all_hooks.insert(all_hooks.end(), activation_hooks().begin(), activation_hooks().end());
    Trial trial = try_real_programs(options, probe);
    for (const auto& spec : all_hooks) {
        auto tried = trial.hooks.find(spec.name);
        f.hooks.push_back(hook_fact(spec, plan_hook(spec, probe, std::nullopt),
                                    tried == trial.hooks.end() ? nullptr : &tried->second));
        if (tried != trial.hooks.end()) trial.hooks.erase(tried);
    }
    // Hooks a source plans by itself (conntrack creations).
    for (const auto& [name, o] : trial.hooks) {
        HookSpec spec{o.hook, o.purpose, o.required, {}};
        HookPlan plan;
        plan.chosen = o.chosen;
        if (o.failed_at == HookStage::plan) plan.rejected.push_back(o.reason);
        f.hooks.push_back(hook_fact(spec, plan, &o));
    }
    for (const auto& h : f.hooks) {
        if (!h.refused) continue;
        f.notes.push_back("the kernel refused nfsleuth's programs for " + h.hook + " (" + h.purpose + ") at " +
                          h.refused->stage + ": " + h.refused->reason + "; " +
                          (h.required ? "commands that need it exit 3" : "commands run without it"));
    }
    for (const auto& why : trial.not_started) f.notes.push_back("not tried: " + why);
}

// How drops are recognised here, and where their causes come from.
void collect_drops(KernelProbe& probe, DoctorFacts& f) {
    CausePlan cause = plan_cause_hooks(probe, std::nullopt);
    DropFacts d;
    d.backend = cause.backend ? to_string(*cause.backend) : "tracepoint";
    d.follows_module = cause.follows_module;
    const bool by_reason = kfree_skb_args(probe) == KfreeSkbArgs::reason;
    const bool site_known = by_reason || RunningKernelSymbols().function_range("nf_hook_slow").has_value();
    const bool drop_hook = std::any_of(f.hooks.begin(), f.hooks.end(),
                                       [](const HookFact& h) { return h.hook == "ct_drop" && h.flavor; });
    if (drop_hook && by_reason)
        d.recognised_by = "kfree_skb reason NETFILTER_DROP";
    else if (drop_hook && site_known)
        d.recognised_by = "kfree_skb called from nf_hook_slow (the kernel has no drop reasons)";
    if (!drop_hook) {
        // The BTF (the kernel's, or --btf) has no kfree_skb tracepoint.
        f.notes.push_back("netfilter drops cannot be recognised here: the BTF has no kfree_skb tracepoint to attach to");
    } else if (!site_known) {
        // Every drop would go unseen: the worst answer, so a finding.
        f.notes.push_back("netfilter drops cannot be recognised here: skb:kfree_skb has no drop reason and "
                          "nf_hook_slow's address is not in /proc/kallsyms (kernel.kptr_restrict=2?)");
    }
    f.drops = d;
}

DoctorFacts collect_facts(const CommonOptions& options, const DoctorOptions& doctor) {
    DoctorFacts f;
    utsname uts{};
    uname(&uts);
    f.kernel_release = uts.release;
    KernelProbe probe(options.btf);
    f.btf_available = probe.has_btf();
    f.btf_path = probe.btf_source();
    f.caps = Capabilities::of_current_process();
    f.loadable_modules = KernelProbe::modules_supported();
    f.module_tracepoints =
        probe.kallsyms_has("__tracepoint_module_request") && probe.kallsyms_has("__tracepoint_module_load");
    f.tracefs = probe.tracefs_root();
    if (f.caps.can_trace()) {
        {
            QuietLibbpf quiet;
            f.ringbuf = libbpf_probe_bpf_map_type(BPF_MAP_TYPE_RINGBUF, nullptr) == 1;
        }
        for (Flavor fl : kAllFlavors) f.attach_types[fl] = probe.attach_type(fl);
        collect_hooks(options, probe, f);
        collect_drops(probe, f);
    } else {
        f.notes.push_back("not privileged: attach types were not probed (needs CAP_BPF and CAP_PERFMON, or root)");
    }
    ModuleState ct = conntrack_state();
    f.conntrack_state = to_string(ct);
    auto namespaces = list_network_namespaces();
    read_conntrack_fill(namespaces);
    for (const auto& ns : namespaces) f.namespaces.push_back({ns.inode, ns.name, ns.ct_count, ns.ct_max});

    if (f.caps.can_trace()) {
        if (!f.backend_works(Backend::fentry)) f.notes.push_back("fentry/fexit are unavailable on this kernel");
        if (!f.backend_works(Backend::kprobe)) f.notes.push_back("kprobes are unavailable on this kernel");
        if (!f.backend_works(Backend::fentry) && !f.backend_works(Backend::kprobe))
            f.notes.push_back("only tracepoints can be used here");
    }
    if (!f.loadable_modules) {
        f.notes.push_back("this kernel has no loadable-module support (CONFIG_MODULES is not set): nothing can be "
                          "autoloaded, `nfsleuth modules` has nothing to trace");
    }
    if (ct == ModuleState::builtin) f.notes.push_back("nf_conntrack is built into the kernel: it cannot be unloaded");
    if (!f.tracefs)
        f.notes.push_back("tracefs is not mounted: classic tracepoints cannot attach "
                          "(mount -t tracefs nodev /sys/kernel/tracing); tp_btf/raw_tp do not need it");
    // What the daemon found while it ran: its disagreements with the
    // kernel's own drop counters.
    f.journal = journal_to_read(doctor.journal);
    if (f.journal) f.mismatches = journal_mismatches(*f.journal);
    if (f.mismatches.mismatches) {
        f.notes.push_back("the journal " + *f.journal + " records " + std::to_string(f.mismatches.mismatches) +
                          " disagreement(s) of nfsleuth's drop counts with the kernel's own counters "
                          "(counter_mismatch): drops went unseen or were named wrongly; the last: " +
                          describe_mismatch(f.mismatches.last.back()));
    }
    return f;
}

}  // namespace

ExitCode run_doctor(const CommonOptions& options, const DoctorOptions& doctor) {
    const DoctorFacts facts = collect_facts(options, doctor);
    if (options.json)
        std::cout << json_line(to_json(facts)) << std::endl;
    else
        std::cout << to_text(facts) << std::flush;
    return exit_code(facts);
}

}  // namespace nfsleuth
