// SPDX-License-Identifier: GPL-2.0-only
// How the hooks nfsleuth could not trace are reported, the same way by every
// command and source: a clause of the start banner, lines of the exit
// summary and a JSON array (watch adds a gauge per hook: watched_source.hpp).
#pragma once
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "kernel/hooks.hpp"

namespace nfsleuth {

// The hooks of `specs` given up because the source they belong to could not
// start (for example `watch` without conntrack activations).
std::vector<HookOutcome> setup_failed(const std::vector<HookSpec>& specs, const std::string& reason);

// "; not traced: HOOK (why)" for each hook given up, "" when none was.
std::string not_traced_clauses(const std::vector<HookOutcome>& outcomes);

// Exit summary lines, "Not traced: HOOK (PURPOSE), given up at STAGE: why".
std::vector<std::string> not_traced_lines(const std::vector<HookOutcome>& outcomes);

// [{hook, purpose, required, stage, attach, reason}] of the hooks given up;
// attach is "FLAVOR:TARGET" of the candidate that was tried, or null.
nlohmann::ordered_json not_traced_json(const std::vector<HookOutcome>& outcomes);

}  // namespace nfsleuth
