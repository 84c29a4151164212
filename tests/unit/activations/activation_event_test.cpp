// SPDX-License-Identifier: GPL-2.0-only
#include "activations/activation_event.hpp"

#include <gtest/gtest.h>
#include <linux/netfilter.h>

#include <cstring>

#include "activations/activation_output.hpp"

using namespace nfsleuth;

namespace {

nfs_activation_event raw_event(uint32_t method) {
    nfs_activation_event raw{};
    raw.ts_boot_ns = 5;
    raw.method = method;
    raw.netns_ino = 4026532300;
    raw.pf = -1;
    raw.proc.pid = 42;
    raw.proc.netns_ino = 4026532300;
    std::strcpy(raw.proc.comm, "iptables");
    const char args[] = "iptables\0-t\0nat";
    std::memcpy(raw.proc.args, args, sizeof args);
    raw.proc.args_len = sizeof args;
    raw.proc.n_ancestors = 1;
    raw.proc.ancestors[0].pid = 40;
    std::strcpy(raw.proc.ancestors[0].comm, "enable-nat.sh");
    return raw;
}

ConntrackRule rule(const std::string& source, const std::string& table) {
    return {source, table, "POSTROUTING", "masquerade", "masquerade", ""};
}

TEST(ActivationEvent, RegistrationFamilyComesFromThePf) {
    auto raw = raw_event(NFS_ACT_HOOK_REGISTERED);
    raw.pf = NFPROTO_IPV6;
    raw.hook_fn = 0xffffffff81000000;
    auto ev = decode_activation_event(&raw, sizeof raw);
    ASSERT_TRUE(ev);
    EXPECT_EQ(ev->method, ActivationMethod::hook_registered);
    EXPECT_EQ(ev->families, std::vector<CtFamily>{CtFamily::ipv6});
    EXPECT_EQ(ev->hook_fn, 0xffffffff81000000);
    EXPECT_EQ(ev->netns, 4026532300u);
    EXPECT_EQ(ev->proc.cmdline(), "iptables -t nat");
    raw.pf = NFPROTO_ARP;  // conntrack does not track ARP
    EXPECT_FALSE(decode_activation_event(&raw, sizeof raw));
}

TEST(ActivationEvent, NetlinkWayGivesEveryFamilyGained) {
    auto raw = raw_event(NFS_ACT_SEEN_AFTER_SEND);
    raw.families = NFS_CT_IPV4 | NFS_CT_IPV6;
    auto ev = decode_activation_event(&raw, sizeof raw);
    ASSERT_TRUE(ev);
    EXPECT_EQ(ev->families, (std::vector<CtFamily>{CtFamily::ipv4, CtFamily::ipv6}));
    raw.families = 0;
    EXPECT_FALSE(decode_activation_event(&raw, sizeof raw));
}

TEST(ActivationEvent, MalformedRecordsAreRejected) {
    auto raw = raw_event(99);
    EXPECT_FALSE(decode_activation_event(&raw, sizeof raw));
    raw = raw_event(NFS_ACT_SEEN_AFTER_SEND);
    raw.families = NFS_CT_IPV4;
    EXPECT_FALSE(decode_activation_event(&raw, sizeof raw - 8));
}

TEST(ActivationEvent, RulesAreMatchedToTheFamily) {
    std::vector<ConntrackRule> rules = {rule("iptables-legacy", "nat"), rule("ip6tables-legacy", "nat"),
                                        rule("nftables", "ip nat"),      rule("nftables", "ip6 nat"),
                                        rule("nftables", "inet filter"), rule("nftables", "bridge filter")};
    auto tables = [&](CtFamily f) {
        std::vector<std::string> out;
        for (const auto& r : rules_for_family(rules, f)) out.push_back(r.source + ":" + r.table);
        return out;
    };
    EXPECT_EQ(tables(CtFamily::ipv4),
              (std::vector<std::string>{"iptables-legacy:nat", "nftables:ip nat", "nftables:inet filter"}));
    EXPECT_EQ(tables(CtFamily::ipv6),
              (std::vector<std::string>{"ip6tables-legacy:nat", "nftables:ip6 nat", "nftables:inet filter"}));
    EXPECT_EQ(tables(CtFamily::bridge), (std::vector<std::string>{"nftables:bridge filter"}));
}

TEST(ActivationOutput, JsonAndTextCarryTheAttribution) {
    auto raw = raw_event(NFS_ACT_SEEN_AFTER_SEND);
    raw.families = NFS_CT_IPV4;
    ActivationRecord r;
    r.event = *decode_activation_event(&raw, sizeof raw);
    r.family = CtFamily::ipv4;
    r.ts = "T";
    r.backend = "tracepoint";
    r.netns_name = "blue";
    r.rules = std::vector<ConntrackRule>{rule("nftables", "ip nat")};
    auto j = to_json(r);
    EXPECT_EQ(j["type"], "ct_activate");
    EXPECT_EQ(j["family"], "ipv4");
    EXPECT_EQ(j["detected_by"], "seen_after_netlink_send");
    EXPECT_EQ(j["confidence"], "exact");
    EXPECT_EQ(j["rules_unread"], nullptr);
    EXPECT_EQ(j["ancestors"][0]["comm"], "enable-nat.sh");
    EXPECT_EQ(j["process_netns"], 4026532300u);
    EXPECT_EQ(to_human_line(r),
              "T ct_activate ipv4 netns=blue(4026532300) by iptables[42] uid=0 netns=4026532300 cmd=\"iptables -t nat\" "
              "parents=enable-nat.sh[40] rule=\"ip nat POSTROUTING: masquerade\" confidence=exact");

    // Only legacy rules after a netlink message: the change may not be the sender's.
    r.rules = std::vector<ConntrackRule>{rule("iptables-legacy", "nat")};
    EXPECT_EQ(confidence(r), "uncertain");
    r.rules.reset();
    r.rules_unread = "the namespace is gone";
    EXPECT_EQ(to_json(r)["rules"], nullptr);
    EXPECT_NE(to_human_line(r).find("rules=unread(the namespace is gone)"), std::string::npos);
}

TEST(ActivationOutput, TextEscapesTheTracedWorld) {
    auto raw = raw_event(NFS_ACT_HOOK_REGISTERED);
    raw.pf = NFPROTO_IPV4;
    std::strcpy(raw.proc.comm, "ev\x1b[2Jil");
    ActivationRecord r;
    r.event = *decode_activation_event(&raw, sizeof raw);
    r.netns_name = "ns\x1b]0;x\x07";
    r.rules = std::vector<ConntrackRule>{{"nftables", "ip nat", "c", "comment \"\x1b[31m\"", "masquerade", ""}};
    EXPECT_EQ(to_human_line(r).find('\x1b'), std::string::npos);
}

}  // namespace
