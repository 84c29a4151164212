// SPDX-License-Identifier: GPL-2.0-only
// A conntrack activation as nfsleuth reports it: one family in one
// namespace, the process behind it, and the rules that needed conntrack
// there right after.
#pragma once
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "activations/activation_event.hpp"
#include "process/cgroup_identity.hpp"

namespace nfsleuth {

struct ActivationRecord {
    ActivationEvent event;
    CtFamily family = CtFamily::ipv4;
    std::string ts;
    std::string backend;                     // "fentry", "kprobe", "tracepoint"
    std::optional<std::string> hook;         // the hook function's symbol, when registered
    std::optional<CgroupIdentity> cgroup;
    std::optional<std::string> netns_name;
    std::optional<std::vector<ConntrackRule>> rules;  // of this family; nullopt when not read
    std::string rules_unread;                // why rules (or some rulesets) were not read; empty if all were
};

// "exact" when the kernel showed conntrack's own hook being registered by
// the process, or its nfnetlink message left rules that need conntrack for
// the family; "uncertain" otherwise (on the netlink way, the change may have
// come from iptables-legacy, which that way does not see).
std::string confidence(const ActivationRecord& r);

nlohmann::ordered_json to_json(const ActivationRecord& r);
std::string to_human_line(const ActivationRecord& r);

}  // namespace nfsleuth
