// SPDX-License-Identifier: GPL-2.0-only
#include "hooks.hpp"

namespace nfsleuth {

HookPlan plan_hook(const HookSpec& spec, KernelProbe& probe, std::optional<Backend> forced) {
    HookPlan plan;
    plan.spec = &spec;
    for (const auto& c : spec.candidates) {
        if (forced && backend_of(c.flavor) != *forced) continue;
        ProbeResult r = probe.can_attach(c.flavor, c.target);
        if (r.works) {
            plan.chosen = c;
            return plan;
        }
        plan.rejected.push_back(r.detail);
    }
    if (plan.rejected.empty() && forced)
        plan.rejected.push_back(std::string("no ") + to_string(*forced) + " hook exists for " + spec.name);
    return plan;
}

const std::vector<HookSpec>& module_hooks() {
    // Module events exist only as tracepoints: the requested name is the
    // formatted argument of trace_module_request(), not a function argument.
    // tp_btf is preferred (typed arguments); raw_tp needs no kernel BTF.
    static const std::vector<HookSpec> hooks = {
        {"module_request", "autoload requests (request_module)", true,
         {{Flavor::tp_btf, "module_request", "btf_module_request"},
          {Flavor::raw_tp, "module_request", "raw_module_request"}}},
        {"module_load", "module loads", true,
         {{Flavor::tp_btf, "module_load", "btf_module_load"}, {Flavor::raw_tp, "module_load", "raw_module_load"}}},
        {"module_free", "module unloads", true,
         {{Flavor::tp_btf, "module_free", "btf_module_free"}, {Flavor::raw_tp, "module_free", "raw_module_free"}}},
        {"finit_module_error", "failed finit_module() loads", false,
         {{Flavor::tracepoint, "syscalls/sys_exit_finit_module", "tp_finit_module_exit"}}},
        {"init_module_error", "failed init_module() loads", false,
         {{Flavor::tracepoint, "syscalls/sys_exit_init_module", "tp_init_module_exit"}}},
    };
    return hooks;
}

}  // namespace nfsleuth
