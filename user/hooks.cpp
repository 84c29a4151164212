// SPDX-License-Identifier: GPL-2.0-only
#include "hooks.hpp"

#include <bpf/libbpf.h>

namespace nfsleuth {

HookPlan plan_hook(const HookSpec& spec, KernelProbe& probe, std::optional<Backend> forced) {
    HookPlan plan;
    plan.spec = &spec;
    for (const auto& c : spec.candidates) {
        if (forced && !spec.neutral && backend_of(c.flavor) != *forced) continue;
        ProbeResult r = probe.can_attach(c.flavor, c.target);
        if (r.works) {
            plan.chosen = c;
            return plan;
        }
        plan.rejected.push_back(r.detail);
    }
    if (plan.rejected.empty() && forced && !spec.neutral)
        plan.rejected.push_back(std::string("no ") + to_string(*forced) + " hook exists for " + spec.name);
    return plan;
}

const std::vector<HookSpec>& drop_hooks() {
    static const std::vector<HookSpec> hooks = {
        {"ct_drop", "netfilter drops", true,
         {{Flavor::tp_btf, "kfree_skb", {"btf_kfree_skb"}}, {Flavor::raw_tp, "kfree_skb", {"raw_kfree_skb"}}},
         true},
        {"sock_owner", "the process behind a connecting socket", false,
         {{Flavor::tp_btf, "inet_sock_set_state", {"btf_inet_sock_set_state"}},
          {Flavor::raw_tp, "inet_sock_set_state", {"raw_inet_sock_set_state"}}},
         true},
    };
    return hooks;
}

const std::vector<HookSpec>& drop_cause_hooks() {
    auto twins = [](const std::string& fn, const std::string& prog, bool entry, bool exit) {
        // Exit programs first: attached in this order, no entry is seen
        // whose exit could be missed.
        std::vector<std::string> fentry, kprobe;
        if (exit) {
            fentry.push_back("fexit_" + prog);
            kprobe.push_back("kretprobe_" + prog);
        }
        if (entry) {
            fentry.push_back("fentry_" + prog);
            kprobe.push_back("kprobe_" + prog);
        }
        return std::vector<AttachCandidate>{{Flavor::fentry, fn, fentry}, {Flavor::kprobe, fn, kprobe}};
    };
    static const std::vector<HookSpec> hooks = {
        {"nf_hook_slow", "the netfilter hook a packet is in", true, twins("nf_hook_slow", "nf_hook_slow", true, true)},
        {"nf_conntrack_in", "conntrack's verdict on a packet", true,
         twins("nf_conntrack_in", "nf_conntrack_in", true, true)},
        {"ct_alloc", "entry allocation failures (table full)", true,
         twins("__nf_conntrack_alloc", "nf_conntrack_alloc", false, true)},
        {"ct_confirm", "insert clashes on confirm", true,
         twins("__nf_conntrack_confirm", "nf_conntrack_confirm", true, true)},
        {"early_drop", "evictions to make room", true, twins("early_drop", "early_drop", true, true)},
        {"ct_delete", "the evicted entries", true, twins("nf_ct_delete", "nf_ct_delete", true, false)},
    };
    return hooks;
}

std::optional<Backend> choose_cause_backend(KernelProbe& probe, std::optional<Backend> forced) {
    if (forced == Backend::tracepoint) return std::nullopt;
    std::vector<Backend> order = forced ? std::vector<Backend>{*forced} : std::vector<Backend>{Backend::fentry, Backend::kprobe};
    for (Backend b : order) {
        std::string missing;
        for (const auto& spec : drop_cause_hooks()) {
            HookPlan plan = plan_hook(spec, probe, b);
            if (!plan.chosen) {
                missing = spec.name + ": " + (plan.rejected.empty() ? "no candidate" : plan.rejected.front());
                break;
            }
        }
        if (missing.empty()) return b;
        if (forced)
            throw Failure(ExitCode::unsupported,
                          std::string("the ") + to_string(b) + " backend cannot be used here: " + missing,
                          "run `nfsleuth doctor`; without --backend, nfsleuth picks what the kernel offers");
    }
    return std::nullopt;
}

const std::vector<HookSpec>& activation_hooks() {
    static const std::vector<HookSpec> hooks = {
        {"ct_activate", "conntrack activation per network namespace", true,
         {{Flavor::fentry, "nf_register_net_hook", {"fentry_nf_register_net_hook"}},
          {Flavor::kprobe, "nf_register_net_hook", {"kprobe_nf_register_net_hook"}},
          {Flavor::tp_btf, "sock_send_length", {"btf_sock_send_length"}},
          {Flavor::raw_tp, "sock_send_length", {"raw_sock_send_length"}}}},
    };
    return hooks;
}

const std::vector<HookSpec>& module_hooks() {
    // Module events exist only as tracepoints: the requested name is the
    // formatted argument of trace_module_request(), not a function argument.
    // tp_btf is preferred (typed arguments); raw_tp needs no kernel BTF.
    static const std::vector<HookSpec> hooks = {
        {"module_request", "autoload requests (request_module)", true,
         {{Flavor::tp_btf, "module_request", {"btf_module_request"}},
          {Flavor::raw_tp, "module_request", {"raw_module_request"}}}},
        {"module_load", "module loads", true,
         {{Flavor::tp_btf, "module_load", {"btf_module_load"}}, {Flavor::raw_tp, "module_load", {"raw_module_load"}}}},
        {"module_free", "module unloads", true,
         {{Flavor::tp_btf, "module_free", {"btf_module_free"}}, {Flavor::raw_tp, "module_free", {"raw_module_free"}}}},
        {"finit_module_error", "failed finit_module() loads", false,
         {{Flavor::tracepoint, "syscalls/sys_exit_finit_module", {"tp_finit_module_exit"}}}},
        {"init_module_error", "failed init_module() loads", false,
         {{Flavor::tracepoint, "syscalls/sys_exit_init_module", {"tp_init_module_exit"}}}},
    };
    return hooks;
}

HookSelection::HookSelection(bpf_object* obj, const std::vector<HookSpec>& specs, KernelProbe& probe,
                             std::optional<Backend> forced) {
    bpf_program* prog;
    bpf_object__for_each_program(prog, obj) bpf_program__set_autoload(prog, false);
    for (const auto& spec : specs) {
        HookPlan plan = plan_hook(spec, probe, forced);
        std::string why;
        for (const auto& r : plan.rejected) why += (why.empty() ? "" : "; ") + r;
        if (!plan.chosen) {
            if (spec.required)
                throw Failure(ExitCode::unsupported, "cannot trace " + spec.purpose + ": " + why,
                              "run `nfsleuth doctor` to see what this kernel offers");
            skipped_.push_back(spec.name + " (" + why + ")");
            continue;
        }
        std::vector<bpf_program*> progs;
        for (const auto& name : plan.chosen->programs) {
            bpf_program* p = bpf_object__find_program_by_name(obj, name.c_str());
            if (!p) throw Failure(ExitCode::failure, "BPF object has no program " + name);
            bpf_program__set_autoload(p, true);
            progs.push_back(p);
        }
        chosen_.push_back({spec.name, *plan.chosen, progs});
    }
}

void HookSelection::attach() {
    for (auto& c : chosen_) {
        for (bpf_program* p : c.progs) links_.push_back(attach_program(p));
    }
}

std::string HookSelection::describe() const {
    std::string s;
    for (const auto& c : chosen_) s += (s.empty() ? "" : ", ") + c.hook + "=" + to_string(c.candidate.flavor);
    return s;
}

std::string HookSelection::banner(const std::string& what, const std::string& backend_name, bool timed) const {
    std::string s = "nfsleuth: tracing " + what + " (backend " + backend_name + ": " + describe() + ")";
    for (const auto& skipped : skipped_) s += "; not traced: " + skipped;
    return timed ? s : s + "; Ctrl-C to stop";
}

std::vector<bpf_program*> HookSelection::programs() const {
    std::vector<bpf_program*> out;
    for (const auto& c : chosen_) out.insert(out.end(), c.progs.begin(), c.progs.end());
    return out;
}

std::string HookSelection::backend() const {
    std::string s;
    for (const auto& c : chosen_) {
        std::string b = to_string(backend_of(c.candidate.flavor));
        if (s.find(b) == std::string::npos) s += (s.empty() ? "" : "+") + b;
    }
    return s;
}

}  // namespace nfsleuth
