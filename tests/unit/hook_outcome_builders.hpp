// SPDX-License-Identifier: GPL-2.0-only
// Hook outcomes as the unit tests make them up.
#pragma once
#include <optional>
#include <string>

#include "kernel/hooks.hpp"

namespace nfsleuth_test {

// HOOK attached (or given up at `failed_at`, for `reason`) with a candidate
// of `flavor` on HOOK_target running HOOK_prog; no candidate without a flavour.
inline nfsleuth::HookOutcome outcome(const std::string& hook, std::optional<nfsleuth::Flavor> flavor, bool traced,
                                     std::optional<nfsleuth::HookStage> failed_at = std::nullopt,
                                     const std::string& reason = "") {
    nfsleuth::HookOutcome o;
    o.hook = hook;
    o.purpose = "purpose of " + hook;
    if (flavor) o.chosen = nfsleuth::AttachCandidate{*flavor, hook + "_target", {hook + "_prog"}};
    o.traced = traced;
    o.failed_at = failed_at;
    o.reason = reason;
    return o;
}

}  // namespace nfsleuth_test
