// SPDX-License-Identifier: GPL-2.0-only
// BPF programs whose targets live in a loadable module, attached for as
// long as the module is loaded: from when it loads, detached when it is
// unloaded, attached again to its next load.
#pragma once
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "kernel/bpf_support.hpp"
#include "kernel/hooks.hpp"
#include "kernel/kprobe_events.hpp"

namespace nfsleuth {

// One load of a module as /proc/modules shows it (its load address, which
// differs between loads); nullopt when the module is not there or not live
// yet (still initialising, or being unloaded).
std::optional<std::string> module_instance(std::string_view proc_modules, std::string_view name);
// The same from the running kernel's /proc/modules.
std::optional<std::string> loaded_module_instance(std::string_view name);

class ModuleHooks {
public:
    // programs: kprobes (loaded without their targets, unlike fentry) on
    // KprobeTarget functions, in the order they are to be attached.
    // if_present: kprobes on functions that only some builds have (compiler
    // clones such as "f.part.0"), attached after them where their target
    // exists. Their perf events come from `kprobes` (which must outlive
    // this), except without a kprobe PMU: then libbpf makes them itself.
    ModuleHooks(std::string module, std::vector<bpf_program*> programs, std::vector<bpf_program*> if_present = {},
                KprobeEvents& kprobes = in_process_kprobes());

    enum class Change { none, attached, detached, reattached, failed };
    // Follows the module: attaches its programs when a load of it appears,
    // detaches them when it is gone. A failed attach leaves nothing
    // attached and is not tried again on the same load; error() says why.
    Change follow();
    void detach();
    bool attached() const { return !links_.empty(); }
    const std::string& module() const { return module_; }
    const std::string& error() const { return error_; }
    // The programs attached now.
    std::vector<bpf_program*> attached_programs() const { return attached_; }

private:
    // Attaches one program; nullopt (with `why`) when it cannot.
    std::optional<Link> attach(bpf_program* p, std::string& why);

    std::string module_;
    std::vector<bpf_program*> programs_;
    std::vector<bpf_program*> if_present_;
    KprobeEvents& kprobes_;
    bool kprobe_pmu_;
    std::vector<Link> links_;
    std::vector<bpf_program*> attached_;
    std::optional<std::string> instance_;  // the load the programs follow
    std::string error_;
};

// How hooks following a module are doing, for the hook reports: traced while
// their programs (those of each spec's `flavor` candidate) are attached;
// given up at load when the kernel refused the programs (hooks null,
// `refused` says why), at attach when attaching to the module's load failed.
// Waiting for the module is neither: not traced, not given up.
std::vector<HookOutcome> following_outcomes(const std::vector<HookSpec>& specs, Flavor flavor, const ModuleHooks* hooks,
                                            const std::string& refused);

}  // namespace nfsleuth
