// SPDX-License-Identifier: GPL-2.0-only
#include "kernel/hooks.hpp"

#include <bpf/libbpf.h>

#include <algorithm>
#include <cerrno>

#include "kernel/hook_report.hpp"
#include "kernel/module_state.hpp"

namespace nfsleuth {

HookPlan plan_hook(const HookSpec& spec, AttachProbe& probe, std::optional<Backend> forced) {
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

KfreeSkbArgs kfree_skb_args(const AttachProbe& probe) {
    // Without BTF the arguments are unknown: assume a current kernel.
    auto arity = probe.tracepoint_arity("kfree_skb");
    return arity && *arity < 3 ? KfreeSkbArgs::location : KfreeSkbArgs::reason;
}

std::vector<HookSpec> drop_hooks(KfreeSkbArgs args, bool capture) {
    std::string suffix = std::string(capture ? "_pcap" : "") + (args == KfreeSkbArgs::location ? "_at" : "");
    return {
        {"ct_drop", "netfilter drops", true,
         {{Flavor::tp_btf, "kfree_skb", {"btf_kfree_skb" + suffix}},
          {Flavor::raw_tp, "kfree_skb", {"raw_kfree_skb" + suffix}}},
         true},
    };
}

const HookSpec& helper_drop_hook() {
    static const HookSpec hook{"helper_drop",
                               "telling conntrack helpers' drops (FTP, SIP, ...) from rule drops",
                               false,
                               {{Flavor::kprobe, "nf_ct_helper_log", {"kprobe_nf_ct_helper_log"}}},
                               true};
    return hook;
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
    // Paths of a full table only: early_drop() is entered only then;
    // nf_ct_delete() is attached only while a table fills, and returns at
    // once outside early_drop().
    static const std::vector<HookSpec> hooks = {
        {"early_drop", "evictions to make room", true, twins("early_drop", "early_drop", true, true)},
        {kEvictedEntriesHook, "the evicted entries", true, twins("nf_ct_delete", "nf_ct_delete", true, false)},
    };
    return hooks;
}

CausePlan plan_cause_hooks(AttachProbe& probe, std::optional<Backend> forced) {
    if (forced == Backend::tracepoint) return {};
    auto refuse = [](Backend b, const std::string& missing) {
        return Failure(ExitCode::unsupported, std::string("the ") + to_string(b) + " backend cannot be used here: " + missing,
                       "run `nfsleuth doctor`; without --backend, nfsleuth picks what the kernel offers");
    };
    // fentry would keep nf_conntrack from being unloaded while attached (the
    // trampoline holds a reference on the module), and cannot be loaded
    // before the module is: where conntrack is a module, kprobes follow it
    // instead, unless fentry is asked for.
    if (forced != Backend::fentry && probe.conntrack_in_module()) {
        const ProbeResult& kprobe = probe.attach_type(Flavor::kprobe);
        if (kprobe.works && probe.kallsyms_has("nf_hook_slow")) return {Backend::kprobe, true};
        if (forced) throw refuse(*forced, kprobe.works ? "no kernel symbol nf_hook_slow" : kprobe.detail);
        return {};
    }
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
        if (missing.empty()) return {b, false};
        if (forced) throw refuse(b, missing);
    }
    return {};
}

std::vector<std::string> cause_programs(Backend b, const std::optional<std::string>& hook) {
    std::vector<std::string> names;
    for (const auto& spec : drop_cause_hooks()) {
        if (hook && spec.name != *hook) continue;
        for (const auto& c : spec.candidates)
            if (backend_of(c.flavor) == b) names.insert(names.end(), c.programs.begin(), c.programs.end());
    }
    return names;
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

const char* to_string(HookStage s) {
    switch (s) {
        case HookStage::plan: return "plan";
        case HookStage::load: return "load";
        case HookStage::attach: return "attach";
        case HookStage::setup: return "setup";
    }
    return "?";
}

LoadRetryPlan::LoadRetryPlan(std::vector<std::string> optional, int first_error)
    : optional_(std::move(optional)), first_error_(first_error) {
    // Without optional hooks the refused load was of the required ones.
    if (optional_.empty())
        required_error_ = first_error;
    else
        next_.emplace();
}

void LoadRetryPlan::record(int err) {
    switch (step_) {
        case Step::required_alone:
            if (err) {
                required_error_ = err;
                next_.reset();
                return;
            }
            step_ = Step::adding;
            break;
        case Step::adding:
            if (err)
                refused_.emplace_back(optional_[position_], err);
            else
                kept_.push_back(optional_[position_]);
            last_failed_ = err != 0;
            ++position_;
            break;
        case Step::reloading_kept:
            // It loaded before: only a kernel that changed meanwhile gets here.
            if (err) required_error_ = err;
            next_.reset();
            return;
    }
    advance();
}

void LoadRetryPlan::advance() {
    // All of them together were refused: with every other one kept, the
    // last is the one.
    if (position_ + 1 == optional_.size() && refused_.empty()) {
        refused_.emplace_back(optional_[position_], first_error_);
        ++position_;
    }
    if (position_ < optional_.size()) {
        next_ = kept_;
        next_->push_back(optional_[position_]);
    } else if (last_failed_) {
        step_ = Step::reloading_kept;
        next_ = kept_;
    } else {
        next_.reset();
    }
}

HookRefused::HookRefused(const std::string& what, std::vector<HookOutcome> outcomes)
    : Failure(ExitCode::unsupported, what, "run with -v to see libbpf's log, and `nfsleuth doctor`"),
      outcomes_(std::move(outcomes)) {}

HookSelection::HookSelection(bpf_object* obj, const std::vector<HookSpec>& specs, KernelProbe& probe,
                             std::optional<Backend> forced)
    : btf_path_(probe.btf_path()) {
    for (const auto& spec : specs) {
        HookPlan plan = plan_hook(spec, probe, forced);
        HookOutcome o;
        o.hook = spec.name;
        o.purpose = spec.purpose;
        o.required = spec.required;
        o.chosen = plan.chosen;
        if (!plan.chosen) {
            std::string why;
            for (const auto& r : plan.rejected) why += (why.empty() ? "" : "; ") + r;
            if (spec.required)
                throw Failure(ExitCode::unsupported, "cannot trace " + spec.purpose + ": " + why,
                              "run `nfsleuth doctor` to see what this kernel offers");
            o.failed_at = HookStage::plan;
            o.reason = why;
        } else {
            chosen_.push_back({outcomes_.size(), {}, {}});
        }
        outcomes_.push_back(std::move(o));
    }
    bpf_program* prog;
    bpf_object__for_each_program(prog, obj) bpf_program__set_autoload(prog, false);
    enable(obj, enabled_optional());
}

ObjectSettings::ObjectSettings(const bpf_object* obj) {
    bpf_map* map;
    bpf_object__for_each_map(map, obj) {
        Map m{bpf_map__name(map), bpf_map__max_entries(map), {}};
        std::size_t size = 0;
        // Internal maps (.rodata, .bss) only; their values are set in place.
        if (const void* value = bpf_map__initial_value(map, &size); value && size) {
            const auto* bytes = static_cast<const unsigned char*>(value);
            m.initial_value.assign(bytes, bytes + size);
        }
        maps_.push_back(std::move(m));
    }
    bpf_program* prog;
    bpf_object__for_each_program(prog, obj) {
        autoload_.emplace_back(bpf_program__name(prog), bpf_program__autoload(prog));
    }
}

void ObjectSettings::apply_to(bpf_object* obj) const {
    for (const auto& m : maps_) {
        bpf_map* map = bpf_object__find_map_by_name(obj, m.name.c_str());
        int err = map ? bpf_map__set_max_entries(map, m.max_entries) : -ENOENT;
        if (!err && !m.initial_value.empty())
            err = bpf_map__set_initial_value(map, m.initial_value.data(), m.initial_value.size());
        if (err)
            throw Failure(ExitCode::failure,
                          "cannot configure the BPF object's map " + m.name + " again: " + describe_errno(err));
    }
    for (const auto& [name, loaded] : autoload_) {
        bpf_program* p = bpf_object__find_program_by_name(obj, name.c_str());
        if (!p) throw Failure(ExitCode::failure, "BPF object has no program " + name);
        bpf_program__set_autoload(p, loaded);
    }
}

std::vector<std::string> HookSelection::enabled_optional() const {
    std::vector<std::string> names;
    for (const auto& c : chosen_) {
        const HookOutcome& o = outcomes_[c.outcome];
        if (!o.required && !o.failed_at) names.push_back(o.hook);
    }
    return names;
}

void HookSelection::enable(bpf_object* obj, const std::vector<std::string>& optional) {
    for (auto& c : chosen_) {
        const HookOutcome& o = outcomes_[c.outcome];
        const bool on = o.required || std::find(optional.begin(), optional.end(), o.hook) != optional.end();
        c.progs.clear();
        for (const auto& name : o.chosen->programs) {
            bpf_program* p = bpf_object__find_program_by_name(obj, name.c_str());
            if (!p) throw Failure(ExitCode::failure, "BPF object has no program " + name);
            bpf_program__set_autoload(p, on);
            if (on) c.progs.push_back(p);
        }
    }
}

void HookSelection::settle(const LoadRetryPlan& plan, const std::string& what) {
    if (auto err = plan.required_error()) {
        std::vector<HookOutcome> outcomes = outcomes_;
        for (auto& o : outcomes) {
            if (o.required && !o.failed_at) {
                o.failed_at = HookStage::load;
                o.reason = "the kernel refused the programs of the required hooks: " + describe_errno(*err);
            }
        }
        throw HookRefused("the kernel refused nfsleuth's " + what + ": " + describe_errno(*err), std::move(outcomes));
    }
    for (const auto& [hook, err] : plan.refused()) {
        for (auto& o : outcomes_) {
            if (o.hook != hook) continue;
            o.failed_at = HookStage::load;
            o.reason = "the kernel refused to load its programs: " + describe_errno(err);
        }
    }
}

void HookSelection::attach_chosen(Chosen& c) {
    HookOutcome& o = outcomes_[c.outcome];
    if (c.progs.empty() || !c.links.empty() || o.failed_at) return;  // refused, attached, or given up
    try {
        for (bpf_program* p : c.progs) c.links.push_back(attach_program(p));
        o.traced = true;
    } catch (const Failure& f) {
        c.links.clear();
        o.failed_at = HookStage::attach;
        o.reason = f.what();
        if (o.required) throw HookRefused("cannot trace " + o.purpose + ": " + f.what(), outcomes_);
    }
}

void HookSelection::attach() {
    for (auto& c : chosen_) attach_chosen(c);
}

void HookSelection::detach() {
    for (auto& c : chosen_) c.links.clear();
}

void HookSelection::attach(const std::string& hook) {
    for (auto& c : chosen_)
        if (outcomes_[c.outcome].hook == hook) attach_chosen(c);
}

void HookSelection::detach(const std::string& hook) {
    for (auto& c : chosen_) {
        HookOutcome& o = outcomes_[c.outcome];
        if (o.hook != hook || c.links.empty()) continue;
        c.links.clear();
        o.traced = false;
    }
}

std::string HookSelection::describe() const {
    std::string s;
    for (const auto& o : outcomes_) {
        if (o.chosen && !o.failed_at) s += (s.empty() ? "" : ", ") + o.hook + "=" + to_string(o.chosen->flavor);
    }
    return s;
}

std::string HookSelection::banner(const std::string& what, const std::string& backend_name, bool timed) const {
    std::string s = "nfsleuth: tracing " + what + " (backend " + backend_name + ": " + describe() + ")";
    s += not_traced_clauses(outcomes_);
    return timed ? s : s + "; Ctrl-C to stop";
}

std::vector<bpf_program*> HookSelection::programs() const {
    std::vector<bpf_program*> out;
    for (const auto& c : chosen_) {
        if (outcomes_[c.outcome].traced) out.insert(out.end(), c.progs.begin(), c.progs.end());
    }
    return out;
}

std::string HookSelection::backend() const {
    std::string s;
    for (const auto& o : outcomes_) {
        if (!o.chosen || o.failed_at) continue;
        std::string b = to_string(backend_of(o.chosen->flavor));
        if (s.find(b) == std::string::npos) s += (s.empty() ? "" : "+") + b;
    }
    return s;
}

}  // namespace nfsleuth
