// SPDX-License-Identifier: GPL-2.0-only
// Conntrack activation events as decoded from the ring buffer, and the
// pure decisions about them: which family a registered hook is for, whether
// it is conntrack's own, which of a namespace's rules belong to a family.
#pragma once
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "activations.h"
#include "conntrack/ruleset.hpp"
#include "process/process.hpp"

namespace nfsleuth {

enum class CtFamily { ipv4, ipv6, bridge };
const char* to_string(CtFamily f);

enum class ActivationMethod { hook_registered, seen_after_send };
const char* to_string(ActivationMethod m);

struct ActivationEvent {
    uint64_t ts_boot_ns = 0;
    ActivationMethod method = ActivationMethod::hook_registered;
    std::vector<CtFamily> families;  // each became active (hook_registered: the hook's)
    uint64_t hook_fn = 0;            // hook_registered: the registered function
    uint32_t netns = 0;              // where conntrack became active
    Process proc;
};

// nullopt if the record is not a well-formed event (wrong size, unknown
// method, a family that is not conntrack's), which for a hook registration
// means a family conntrack does not track separately.
std::optional<ActivationEvent> decode_activation_event(const void* data, std::size_t size);

// The kallsyms names of conntrack's prerouting hook function per family.
const std::vector<std::pair<CtFamily, std::string>>& conntrack_hook_symbols();

// The rules that make conntrack track `family`: iptables-legacy for ipv4,
// ip6tables-legacy for ipv6, nftables tables of the family or of "inet".
std::vector<ConntrackRule> rules_for_family(const std::vector<ConntrackRule>& rules, CtFamily family);

}  // namespace nfsleuth
