// SPDX-License-Identifier: GPL-2.0-only
// nfsleuth's hooks, each with its attach candidates in order of preference,
// and the choice among them for the running kernel.
#pragma once
#include <optional>
#include <string>
#include <vector>

#include "kernel_probe.hpp"

namespace nfsleuth {

struct AttachCandidate {
    Flavor flavor;
    std::string target;   // function, "category/name" (tracepoint) or tracepoint name
    std::string program;  // BPF program implementing it
};

struct HookSpec {
    std::string name;
    std::string purpose;
    bool required;  // the command cannot work without it
    std::vector<AttachCandidate> candidates;
};

struct HookPlan {
    const HookSpec* spec = nullptr;
    std::optional<AttachCandidate> chosen;
    std::vector<std::string> rejected;  // why each better candidate was not used
};

// Picks the first candidate the kernel can attach (restricted to one backend
// when forced).
HookPlan plan_hook(const HookSpec& spec, KernelProbe& probe, std::optional<Backend> forced);

const std::vector<HookSpec>& module_hooks();

}  // namespace nfsleuth
