// SPDX-License-Identifier: GPL-2.0-only
#include "why_report.hpp"

#include <gtest/gtest.h>

#include <sstream>

using namespace nfsleuth;

namespace {

ModuleNode loaded(const std::string& name, uint64_t refcnt, std::vector<ModuleNode> holders = {}) {
    ModuleNode n;
    n.name = name;
    n.state = ModuleState::loaded;
    n.refcnt = refcnt;
    n.holders = std::move(holders);
    return n;
}

// What `iptables-legacy -t nat -L` leaves, with one MASQUERADE rule in a
// namespace.
WhyFacts seed_scenario() {
    WhyFacts f;
    f.module = "nf_conntrack";
    f.tree = loaded("nf_conntrack", 2, {loaded("nf_nat", 2, {loaded("iptable_nat", 0), loaded("xt_MASQUERADE", 1)}),
                                        loaded("xt_MASQUERADE", 1)});
    NamespaceRules ns;
    ns.name = "blue";
    ns.inode = 4026532300;
    ns.ct_count = 7;
    ns.rules.push_back({"iptables-legacy", "nat", "POSTROUTING", "-A POSTROUTING -o eth0 -j MASQUERADE",
                        "-j MASQUERADE", "iptables-legacy -t nat -D POSTROUTING -o eth0 -j MASQUERADE"});
    f.namespaces.push_back(ns);
    f.namespaces.push_back({"init", 4026531840, 0, {}, {}});
    f.ct_max = 262144;
    f.ct_buckets = 65536;
    f.entry_bytes = 256;
    return f;
}

TEST(WhyReport, RemediationInOrder) {
    auto j = why_json(seed_scenario());
    EXPECT_EQ(j["type"], "why");
    EXPECT_EQ(j["state"], "loaded");
    EXPECT_EQ(j["summary"], "nf_conntrack is loaded; 1 rule in 1 network namespace needs conntrack");
    const auto& steps = j["remediation"];
    ASSERT_EQ(steps.size(), 5u);
    EXPECT_EQ(steps[0]["commands"],
              nlohmann::json({"ip netns exec blue iptables-legacy -t nat -D POSTROUTING -o eth0 -j MASQUERADE"}));
    EXPECT_EQ(steps[1]["commands"], nlohmann::json({"modprobe -r iptable_nat", "modprobe -r xt_MASQUERADE",
                                                    "modprobe -r nf_nat", "modprobe -r nf_conntrack"}));
    EXPECT_NE(steps[1]["step"].get<std::string>().find("in use until the rules above are removed: xt_MASQUERADE (1 other user)"),
              std::string::npos);
    EXPECT_EQ(steps[2]["commands"][0], "echo 'blacklist iptable_nat' >> /etc/modprobe.d/nfsleuth-no-conntrack.conf");
    EXPECT_EQ(steps[2]["commands"][1],
              "echo 'install iptable_nat /bin/false' >> /etc/modprobe.d/nfsleuth-no-conntrack.conf");
    EXPECT_EQ(steps[2]["commands"].size(), 8u);
    EXPECT_NE(steps[3]["commands"][0].get<std::string>().find("--notrack"), std::string::npos);
    // 262144 entries of 256 bytes and 65536 buckets of 8: 64 MiB + 0.5 MiB.
    EXPECT_NE(steps[4]["step"].get<std::string>().find("about 64 MiB (256 bytes per entry)"), std::string::npos);
    EXPECT_EQ(steps[4]["commands"][0], "sysctl -w net.netfilter.nf_conntrack_max=524288");
    EXPECT_EQ(j["namespaces"][0]["rules"][0]["needs"], "-j MASQUERADE");
    EXPECT_EQ(j["holders"][0]["module"], "nf_nat");
}

TEST(WhyReport, BuiltinHasNoUnloadSteps) {
    WhyFacts f = seed_scenario();
    f.tree = ModuleNode{"nf_conntrack", ModuleState::builtin, std::nullopt, {}};
    auto j = why_json(f);
    EXPECT_EQ(j["state"], "built in");
    EXPECT_EQ(j["summary"],
              "nf_conntrack is built in: it cannot be unloaded or kept from loading; 1 rule in 1 network namespace "
              "needs conntrack");
    ASSERT_EQ(j["remediation"].size(), 3u);  // the rules, NOTRACK, sizing
    for (const auto& s : j["remediation"])
        for (const auto& c : s["commands"]) EXPECT_EQ(c.get<std::string>().find("modprobe"), std::string::npos);
}

TEST(WhyReport, HistoryKeepsTheTreesModuleEventsOnly) {
    std::istringstream journal(
        R"({"type":"module_request","ts":"T1","module":"iptable_nat","pid":851,"comm":"iptables-legacy","cmdline":"iptables-legacy -t nat -L","argv":["x"]})"
        "\n"
        R"({"type":"module_load","ts":"T2","module":"nf_conntrack","pid":854,"comm":"modprobe","cmdline":"/sbin/modprobe -q -- iptable_nat","trigger":{"pid":851,"comm":"iptables-legacy","cmdline":"iptables-legacy -t nat -L"}})"
        "\n"
        R"({"type":"module_load","ts":"T3","module":"sctp","pid":9,"comm":"modprobe"})"
        "\n"
        R"({"type":"ct_drop","module":"nf_conntrack"})"
        "\nnot json\n{\"type\":\"module_load\",\"module\":7}\n");
    auto h = module_history(journal, {"nf_conntrack", "iptable_nat"});
    ASSERT_EQ(h.size(), 2u);
    EXPECT_EQ(h[0]["type"], "module_request");
    EXPECT_FALSE(h[0].contains("argv"));
    EXPECT_EQ(h[1]["trigger"]["pid"], 851);
}

TEST(WhyReport, BlockersWithoutRulesSayTheUnloadFails) {
    WhyFacts f = seed_scenario();
    f.namespaces[0].rules.clear();
    auto j = why_json(f);
    const std::string step = j["remediation"][0]["step"];
    EXPECT_EQ(step.find("Unload"), 0u);
    EXPECT_NE(step.find("so this fails until that is gone: xt_MASQUERADE (1 other user)"), std::string::npos) << step;
}

TEST(WhyReport, HistoryKeepsConntrackActivations) {
    std::istringstream journal(
        R"({"type":"ct_activate","ts":"T1","netns":4026532300,"netns_name":"blue","family":"ipv4","pid":77,"comm":"iptables","cmdline":"iptables -t nat -A POSTROUTING -o eth0 -j MASQUERADE","ancestors":[{"pid":70,"comm":"enable-nat.sh"},{"pid":1,"comm":"systemd"}],"rules":[{"source":"nftables","table":"ip nat","chain":"POSTROUTING","rule":"oifname \"eth0\" masquerade","needs":"masquerade"}],"confidence":"exact","argv":["iptables"]})"
        "\n");
    WhyFacts f = seed_scenario();
    f.journal = "j";
    f.history = module_history(journal, tree_modules(f.tree));
    ASSERT_EQ(f.history.size(), 1u);
    EXPECT_FALSE(f.history[0].contains("argv"));
    EXPECT_EQ(f.history[0]["ancestors"][0]["comm"], "enable-nat.sh");
    const std::string expected =
        "  T1 ct_activate ipv4 in netns blue by iptables[77] \"iptables -t nat -A POSTROUTING -o eth0 -j MASQUERADE\" "
        "(enable-nat.sh[70] <- systemd[1]) for ip nat POSTROUTING: oifname \\\"eth0\\\" masquerade";
    bool found = false;
    std::string all;
    for (const auto& line : why_lines(f)) {
        found = found || line == expected;
        all += line + "\n";
    }
    EXPECT_TRUE(found) << all;

    std::istringstream other(R"({"type":"ct_activate","netns":1})");
    EXPECT_TRUE(module_history(other, {"sctp"}).empty()) << "activations belong to nf_conntrack's history only";
}

TEST(WhyReport, WrongFieldTypesInAJournalDoNotThrow) {
    std::istringstream journal(R"({"type":"ct_activate","ts":5,"pid":"x","ancestors":[{"pid":"y"}],"rules":[3]})"
                               "\n"
                               R"({"type":"module_load","module":"nf_conntrack","pid":"x","comm":9})");
    WhyFacts f = seed_scenario();
    f.journal = "j";
    f.history = module_history(journal, tree_modules(f.tree));
    ASSERT_EQ(f.history.size(), 2u);
    std::size_t flagged = 0;
    for (const auto& line : why_lines(f)) flagged += line == "  (a journal record with fields of the wrong type)";
    EXPECT_EQ(flagged, 2u);
}

TEST(WhyReport, TreeModulesAreEveryHolderOnce) {
    EXPECT_EQ(tree_modules(seed_scenario().tree),
              (std::set<std::string>{"iptable_nat", "nf_conntrack", "nf_nat", "xt_MASQUERADE"}));
}

TEST(WhyReport, TextEscapesWhatTheTracedWorldWrote) {
    WhyFacts f = seed_scenario();
    f.namespaces[0].name = "evil\x1b[2J";
    f.namespaces[0].rules[0].rule = "-A X -m comment --comment \"\x1b]0;owned\x07\" -j MASQUERADE";
    for (const auto& line : why_lines(f)) EXPECT_EQ(line.find('\x1b'), std::string::npos) << line;
}

}  // namespace
