// SPDX-License-Identifier: GPL-2.0-only
#include "modules/module_hooks.hpp"

#include <bpf/libbpf.h>

#include <algorithm>
#include <sstream>

#include "kernel/netns.hpp"

namespace nfsleuth {

std::optional<std::string> module_instance(std::string_view proc_modules, std::string_view name) {
    std::istringstream in{std::string(proc_modules)};
    for (std::string line; std::getline(in, line);) {
        // "nf_conntrack 188416 5 nf_nat, Live 0xffffffffc0318000 (E)"
        std::istringstream fields(line);
        std::string mod, size, refs, deps, state, address;
        if (!(fields >> mod >> size >> refs >> deps >> state >> address) || mod != name) continue;
        if (state != "Live" || address.rfind("0x", 0) != 0) return std::nullopt;
        return address;
    }
    return std::nullopt;
}

std::optional<std::string> loaded_module_instance(std::string_view name) {
    auto text = read_whole_file("/proc/modules");
    return text ? module_instance(*text, name) : std::nullopt;
}

ModuleHooks::ModuleHooks(std::string module, std::vector<bpf_program*> programs, std::vector<bpf_program*> if_present,
                         KprobeEvents& kprobes)
    : module_(std::move(module)),
      programs_(std::move(programs)),
      if_present_(std::move(if_present)),
      kprobes_(kprobes),
      kprobe_pmu_(kprobe_pmu().has_value()) {}

std::optional<Link> ModuleHooks::attach(bpf_program* p, std::string& why) {
    why = std::string("cannot attach BPF program ") + bpf_program__name(p) + ": ";
    if (!kprobe_pmu_) {
        // No kprobe PMU: libbpf makes the kprobe through tracefs' kprobe_events, here.
        if (bpf_link* l = bpf_program__attach(p)) return Link(l);
        why += describe_errno(-errno);
        return std::nullopt;
    }
    const auto target = kprobe_of_section(bpf_program__section_name(p));
    if (!target) {
        why += "not a kprobe on a function nfsleuth follows";
        return std::nullopt;
    }
    const auto [function, retprobe] = *target;
    KprobeEventFd event = kprobes_.open_kprobe(function, retprobe);
    if (!event.ok()) {
        why += std::string("cannot open a ") + (retprobe ? "kretprobe" : "kprobe") + " perf event on " +
               kprobe_function(function) + ": " +
               (event.status == NetnsStatus::no_broker ? "the netns broker is lost" : describe_errno(event.error));
        return std::nullopt;
    }
    bpf_link* l = bpf_program__attach_perf_event(p, event.fd.get());
    if (!l) {
        why += describe_errno(-errno);
        return std::nullopt;
    }
    event.fd.release();  // the link owns it now, and closes it when destroyed
    return Link(l);
}

ModuleHooks::Change ModuleHooks::follow() {
    auto now = loaded_module_instance(module_);
    // Without address visibility every load reads 0x0...: then only
    // presence can be followed.
    if (now == instance_) return Change::none;
    const bool was_attached = attached();
    links_.clear();
    attached_.clear();
    instance_ = now;
    if (!now) return was_attached ? Change::detached : Change::none;
    error_.clear();
    std::string why;
    for (bpf_program* p : programs_) {
        auto link = attach(p, why);
        if (!link) {
            links_.clear();
            attached_.clear();
            error_ = why;
            return Change::failed;
        }
        links_.push_back(std::move(*link));
        attached_.push_back(p);
    }
    for (bpf_program* p : if_present_) {
        QuietLibbpf quiet;  // absent from this build: nothing to say
        if (auto link = attach(p, why)) {
            links_.push_back(std::move(*link));
            attached_.push_back(p);
        }
    }
    return was_attached ? Change::reattached : Change::attached;
}

std::vector<HookOutcome> following_outcomes(const std::vector<HookSpec>& specs, Flavor flavor, const ModuleHooks* hooks,
                                            const std::string& refused) {
    std::vector<std::string> attached;
    if (hooks)
        for (bpf_program* p : hooks->attached_programs()) attached.emplace_back(bpf_program__name(p));
    std::vector<HookOutcome> out;
    for (const auto& spec : specs) {
        auto chosen = std::find_if(spec.candidates.begin(), spec.candidates.end(),
                                   [&](const AttachCandidate& c) { return c.flavor == flavor; });
        if (chosen == spec.candidates.end()) continue;
        HookOutcome o;
        o.hook = spec.name;
        o.purpose = spec.purpose;
        o.required = false;  // the source runs without them, from the counters
        o.chosen = *chosen;
        o.traced = std::all_of(chosen->programs.begin(), chosen->programs.end(), [&](const std::string& name) {
            return std::find(attached.begin(), attached.end(), name) != attached.end();
        });
        if (!hooks) {
            o.failed_at = HookStage::load;
            o.reason = refused;
        } else if (!hooks->error().empty()) {
            o.failed_at = HookStage::attach;
            o.reason = hooks->error();
        }
        out.push_back(std::move(o));
    }
    return out;
}

void ModuleHooks::detach() {
    links_.clear();
    attached_.clear();
    instance_.reset();
}

}  // namespace nfsleuth
