// SPDX-License-Identifier: GPL-2.0-only
// The rules that need conntrack in one network namespace, read with the
// ruleset tools (nft, iptables-legacy-save, ip6tables-legacy-save) run
// inside it. Used by `why` for every namespace and by the activation source
// for the namespace where conntrack just became active.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "conntrack/ruleset.hpp"
#include "kernel/netns.hpp"

namespace nfsleuth {

struct NamespaceRules {
    std::string name;
    uint64_t inode = 0;
    std::optional<uint64_t> ct_count;
    std::vector<ConntrackRule> rules;
    std::vector<std::string> unread;  // rulesets that could not be listed ("nftables", ...)
};

// nftables rulesets are read only where nf_tables is loaded or built in
// (nft would make the kernel load it), legacy ones only in namespaces that
// have legacy tables. The tools run inside the namespace through `access`.
NamespaceRules read_namespace_rules(const NetnsInfo& ns, NetnsAccess& access = in_process_netns());

}  // namespace nfsleuth
