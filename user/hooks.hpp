// SPDX-License-Identifier: GPL-2.0-only
// nfsleuth's hooks, each with its attach candidates in order of preference,
// and the choice among them for the running kernel.
#pragma once
#include <optional>
#include <string>
#include <vector>

#include "bpf_support.hpp"
#include "kernel_probe.hpp"

namespace nfsleuth {

struct AttachCandidate {
    Flavor flavor;
    std::string target;                 // function, "category/name" (tracepoint) or tracepoint name
    std::vector<std::string> programs;  // BPF programs implementing it (entry and exit twins)
};

struct HookSpec {
    std::string name;
    std::string purpose;
    bool required;  // the command cannot work without it
    std::vector<AttachCandidate> candidates;
    // A hook every backend uses as it is (e.g. the kfree_skb tracepoint that
    // sees each drop): --backend does not restrict it.
    bool neutral = false;
};

struct HookPlan {
    const HookSpec* spec = nullptr;
    std::optional<AttachCandidate> chosen;
    std::vector<std::string> rejected;  // why each better candidate was not used
};

// Picks the first candidate the kernel can attach (restricted to one backend
// when forced, unless the hook is neutral).
HookPlan plan_hook(const HookSpec& spec, KernelProbe& probe, std::optional<Backend> forced);

const std::vector<HookSpec>& module_hooks();
// Hooks that see every netfilter drop, whatever the backend.
const std::vector<HookSpec>& drop_hooks();
// Hooks on conntrack's own functions that give exact causes; they are used
// together, all with one backend, or not at all.
const std::vector<HookSpec>& drop_cause_hooks();

// The moment conntrack becomes active in a namespace: its hook being
// registered (fentry, kprobe), else nfnetlink sends (tracepoint).
const std::vector<HookSpec>& activation_hooks();

// The backend all cause hooks can use: fentry, else kprobe (only the forced
// one when forced); nullopt when none can, or tracepoint is forced. Throws
// Failure(unsupported) naming what is missing when a forced fentry or kprobe
// backend cannot be used.
std::optional<Backend> choose_cause_backend(KernelProbe& probe, std::optional<Backend> forced);

// The hooks chosen for one BPF object: only their programs are loaded.
class HookSelection {
public:
    // Plans every hook and sets each program's autoload accordingly. Throws
    // Failure(unsupported) when a required hook has no usable candidate.
    HookSelection(bpf_object* obj, const std::vector<HookSpec>& specs, KernelProbe& probe,
                  std::optional<Backend> forced);
    // After the object is loaded: attaches the chosen programs.
    void attach();
    void detach() { links_.clear(); }
    // "module_request=tp_btf, module_load=tp_btf, ..."
    std::string describe() const;
    const std::vector<std::string>& skipped() const { return skipped_; }
    // The programs that are loaded (for their run-time statistics).
    std::vector<bpf_program*> programs() const;
    // The backend of the hooks that attached, e.g. "tracepoint".
    std::string backend() const;
    // The line printed once attached: "nfsleuth: tracing WHAT (backend B:
    // hooks); not traced: ...; Ctrl-C to stop".
    std::string banner(const std::string& what, const std::string& backend_name, bool timed) const;

private:
    struct Chosen {
        std::string hook;
        AttachCandidate candidate;
        std::vector<bpf_program*> progs;
    };
    std::vector<Chosen> chosen_;
    std::vector<std::string> skipped_;
    std::vector<Link> links_;
};

}  // namespace nfsleuth
