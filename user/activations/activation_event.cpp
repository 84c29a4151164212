// SPDX-License-Identifier: GPL-2.0-only
#include "activations/activation_event.hpp"

#include <linux/netfilter.h>

#include "kernel/ring_record.hpp"

namespace nfsleuth {

static_assert(sizeof(nfs_activation_event) % 8 == 0, "ring buffer records stay 8-byte aligned");
static_assert(offsetof(nfs_activation_event, proc) % 8 == 0, "nfs_proc keeps its natural alignment");

const char* to_string(CtFamily f) {
    switch (f) {
        case CtFamily::ipv4: return "ipv4";
        case CtFamily::ipv6: return "ipv6";
        case CtFamily::bridge: return "bridge";
    }
    return "unknown";
}

const char* to_string(ActivationMethod m) {
    switch (m) {
        case ActivationMethod::hook_registered: return "hook_registered";
        case ActivationMethod::seen_after_send: return "seen_after_netlink_send";
    }
    return "unknown";
}

std::optional<ActivationEvent> decode_activation_event(const void* data, std::size_t size) {
    auto record = ring_record_as<nfs_activation_event>(data, size);
    if (!record) return std::nullopt;
    const nfs_activation_event& raw = *record;

    ActivationEvent ev;
    ev.ts_boot_ns = raw.ts_boot_ns;
    ev.netns = raw.netns_ino;
    ev.hook_fn = raw.hook_fn;
    switch (raw.method) {
        case NFS_ACT_HOOK_REGISTERED:
            ev.method = ActivationMethod::hook_registered;
            switch (raw.pf) {
                case NFPROTO_IPV4: ev.families = {CtFamily::ipv4}; break;
                case NFPROTO_IPV6: ev.families = {CtFamily::ipv6}; break;
                case NFPROTO_BRIDGE: ev.families = {CtFamily::bridge}; break;
                default: return std::nullopt;
            }
            break;
        case NFS_ACT_SEEN_AFTER_SEND:
            ev.method = ActivationMethod::seen_after_send;
            if (raw.families & NFS_CT_IPV4) ev.families.push_back(CtFamily::ipv4);
            if (raw.families & NFS_CT_IPV6) ev.families.push_back(CtFamily::ipv6);
            if (raw.families & NFS_CT_BRIDGE) ev.families.push_back(CtFamily::bridge);
            if (ev.families.empty()) return std::nullopt;
            break;
        default: return std::nullopt;
    }
    ev.proc = decode_process(raw.proc);
    return ev;
}

const std::vector<std::pair<CtFamily, std::string>>& conntrack_hook_symbols() {
    static const std::vector<std::pair<CtFamily, std::string>> symbols = {
        {CtFamily::ipv4, "ipv4_conntrack_in"}, {CtFamily::ipv6, "ipv6_conntrack_in"}, {CtFamily::bridge, "nf_ct_bridge_pre"}};
    return symbols;
}

namespace {

// The nftables family whose tables hook `family` alone.
const char* nft_family_name(CtFamily family) {
    switch (family) {
        case CtFamily::ipv4: return "ip";
        case CtFamily::ipv6: return "ip6";
        case CtFamily::bridge: return "bridge";
    }
    return "";
}

}  // namespace

std::vector<ConntrackRule> rules_for_family(const std::vector<ConntrackRule>& rules, CtFamily family) {
    auto nft_family = [](const std::string& table) { return table.substr(0, table.find(' ')); };
    std::vector<ConntrackRule> out;
    for (const auto& r : rules) {
        bool fits = false;
        if (r.source == "iptables-legacy") {
            fits = family == CtFamily::ipv4;
        } else if (r.source == "ip6tables-legacy") {
            fits = family == CtFamily::ipv6;
        } else {
            const std::string f = nft_family(r.table);
            fits = f == nft_family_name(family) || (f == "inet" && family != CtFamily::bridge);
        }
        if (fits) out.push_back(r);
    }
    return out;
}

}  // namespace nfsleuth
