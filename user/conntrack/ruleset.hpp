// SPDX-License-Identifier: GPL-2.0-only
// Finds the netfilter rules that need connection tracking in a namespace's
// ruleset listings: `nft -a list ruleset` (nftables, and iptables-nft whose
// rules it shows translated) and `iptables-legacy-save` /
// `ip6tables-legacy-save`. A rule needs conntrack when it matches on
// conntrack state or marks, or performs NAT; such a rule keeps conntrack
// active in its namespace, and nf_conntrack loaded.
#pragma once
#include <string>
#include <string_view>
#include <vector>

namespace nfsleuth {

struct ConntrackRule {
    std::string source;  // "nftables", "iptables-legacy", "ip6tables-legacy"
    std::string table;   // "ip nat" (nftables: family and name), "nat" (iptables)
    std::string chain;
    std::string rule;    // the rule as listed, without nft's "# handle N"
    std::string needs;   // what in it needs conntrack: "ct state", "masquerade", "-m conntrack", ...
    std::string remove;  // the command that deletes it
};

// Rules of an `nft -a list ruleset` listing that need conntrack.
std::vector<ConntrackRule> conntrack_rules_from_nft(std::string_view listing);

// Rules of an iptables-save listing (source: "iptables-legacy", ...) that
// need conntrack.
std::vector<ConntrackRule> conntrack_rules_from_iptables_save(std::string_view listing, const std::string& source);

}  // namespace nfsleuth
