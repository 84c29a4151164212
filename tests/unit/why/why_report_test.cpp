// SPDX-License-Identifier: GPL-2.0-only
#include "kernel/module_state.hpp"
#include "why/why_report.hpp"

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
              nlohmann::ordered_json({"ip netns exec blue iptables-legacy -t nat -D POSTROUTING -o eth0 -j MASQUERADE"}));
    EXPECT_EQ(steps[1]["commands"], nlohmann::ordered_json({"modprobe -r iptable_nat", "modprobe -r xt_MASQUERADE",
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
        R"({"type":"module_load","ts":"T2","module":"nf_conntrack","pid":854,"comm":"modprobe","cmdline":"/sbin/modprobe -q -- iptable_nat","trigger":{"pid":851,"comm":"iptables-legacy","cmdline":"iptables-legacy -t nat -L","requested":"iptable_nat","x":[1]}})"
        "\n"
        R"({"type":"module_load","ts":"T3","module":"sctp","pid":9,"comm":"modprobe"})"
        "\n"
        R"({"type":"ct_drop","module":"nf_conntrack"})"
        "\nnot json\n{\"type\":\"module_load\",\"module\":7}\n");
    auto history = module_history(journal, {"nf_conntrack", "iptable_nat"});
    const auto& h = history.events;
    ASSERT_EQ(h.size(), 2u);
    EXPECT_EQ(history.skipped_lines, 2u) << "not json, and a module_load without a module name";
    EXPECT_EQ(h[0]["type"], "module_request");
    EXPECT_FALSE(h[0].contains("argv"));
    // The trigger as the journal wrote it, in its order, nested values left out.
    EXPECT_EQ(h[1]["trigger"].dump(),
              R"({"pid":851,"comm":"iptables-legacy","cmdline":"iptables-legacy -t nat -L","requested":"iptable_nat"})");
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
    ASSERT_EQ(f.history.events.size(), 1u);
    EXPECT_FALSE(f.history.events[0].contains("argv"));
    EXPECT_EQ(f.history.events[0]["ancestors"][0]["comm"], "enable-nat.sh");
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
    EXPECT_TRUE(module_history(other, {"sctp"}).events.empty()) << "activations belong to nf_conntrack's history only";
}

TEST(WhyReport, FieldsOfTheWrongTypeAreLeftOut) {
    std::istringstream journal(R"({"type":"ct_activate","ts":5,"pid":"x","ancestors":[{"pid":"y"}],"rules":[3]})"
                               "\n"
                               R"({"type":"module_load","module":"nf_conntrack","pid":"x","comm":9})");
    WhyFacts f = seed_scenario();
    f.journal = "j";
    f.history = module_history(journal, tree_modules(f.tree));
    ASSERT_EQ(f.history.events.size(), 2u);
    EXPECT_EQ(f.history.events[0].dump(), R"({"type":"ct_activate","ancestors":[{}],"rules":[]})");
    EXPECT_EQ(f.history.events[1].dump(), R"({"type":"module_load","module":"nf_conntrack"})");
    std::string all;
    for (const auto& line : why_lines(f)) all += line + "\n";
    EXPECT_NE(all.find("   ct_activate  in netns ? by ?[?] \"\" (?[?])\n"), std::string::npos) << all;
    EXPECT_NE(all.find("   module_load nf_conntrack by ?[?] \"\"\n"), std::string::npos) << all;
}

TEST(WhyReport, RecordsWithoutAStringTypeAreSkippedAndCounted) {
    std::istringstream journal("{\"type\":5}\n{\"type\":null}\n[1]\n{\"type\":\"ct_drop\"}\n");
    WhyFacts f = seed_scenario();
    f.journal = "j";
    f.history = module_history(journal, tree_modules(f.tree));
    EXPECT_TRUE(f.history.events.empty());
    EXPECT_EQ(f.history.skipped_lines, 3u) << "other events are not counted as skipped";
    EXPECT_EQ(why_json(f)["history"]["skipped_lines"], 3);
    bool said = false;
    for (const auto& line : why_lines(f)) said = said || line.rfind("  (3 journal lines skipped", 0) == 0;
    EXPECT_TRUE(said);
}

TEST(WhyReport, DeeplyNestedRecordsAreSkippedWithoutRecursion) {
    constexpr int kDepth = 50000;
    std::string line = R"({"type":"ct_activate","pid":1,"ancestors":)";
    for (int i = 0; i < kDepth; ++i) line += R"({"a":)";
    line += "1";
    line += std::string(kDepth, '}');
    line += "}\n";
    std::istringstream journal(line + R"({"type":"ct_activate","pid":2})" "\n");
    auto history = module_history(journal, {"nf_conntrack"});
    ASSERT_EQ(history.events.size(), 1u);
    EXPECT_EQ(history.events[0]["pid"], 2);
    EXPECT_EQ(history.skipped_lines, 1u);
}

TEST(WhyReport, NumbersOutOfRangeAreAbsentNotConverted) {
    std::istringstream journal(
        R"({"type":"ct_activate","netns":1e300,"pid":-1e300,"comm":"a","ancestors":[{"pid":-1,"comm":"b"},{"pid":4294967296,"comm":"c"}]})"
        "\n"
        R"({"type":"ct_activate","netns":4294967296,"pid":4194305,"comm":"d"})"
        "\n");
    WhyFacts f = seed_scenario();
    f.journal = "j";
    f.history = module_history(journal, tree_modules(f.tree));
    ASSERT_EQ(f.history.events.size(), 2u);
    for (const auto& h : f.history.events) {
        EXPECT_FALSE(h.contains("netns")) << h.dump();
        EXPECT_FALSE(h.contains("pid")) << h.dump();
    }
    std::string all;
    for (const auto& line : why_lines(f)) all += line + "\n";
    EXPECT_NE(all.find("in netns ? by a[?] \"\" (b[?] <- c[?])"), std::string::npos) << all;
    EXPECT_NE(all.find("in netns ? by d[?]"), std::string::npos) << all;
}

TEST(WhyReport, JournalStringsAreEscapedInText) {
    std::istringstream journal(
        R"({"type":"module_load","module":"nf_conntrack","ts":"\u001b[2J","comm":"\u001b]0;x\u0007","cmdline":"a\nb","trigger":{"comm":"\u009b1m"}})"
        "\n"
        R"({"type":"ct_activate","netns_name":"\u001b[31m","family":"\r","rules":[{"table":"\u001b","chain":"\u0007","rule":"\u202e"}]})"
        "\n");
    WhyFacts f = seed_scenario();
    f.journal = "j";
    f.history = module_history(journal, tree_modules(f.tree));
    ASSERT_EQ(f.history.events.size(), 2u);
    for (const auto& line : why_lines(f)) {
        for (char c : line) EXPECT_FALSE(static_cast<unsigned char>(c) < 0x20 || c == 0x7f) << line;
        EXPECT_EQ(line.find("\xe2\x80\xae"), std::string::npos) << line;
        EXPECT_EQ(line.find("\xc2\x9b"), std::string::npos) << line;
    }
}

TEST(WhyReport, HistoryKeepsTheNewestOfEachTypeAndCountsTheRest) {
    std::string text;
    for (int i = 0; i < 1000; ++i) text += R"({"type":"ct_activate","pid":)" + std::to_string(i) + "}\n";
    text += R"({"type":"module_load","module":"nf_conntrack","pid":7})" "\n";
    text += R"({"type":"ct_activate","pid":1000})" "\n";
    std::istringstream journal(text);
    ModuleHistoryReader reader({"nf_conntrack"}, 3);
    reader.read(journal);
    reader.skip_file("j.3 is not a regular file");
    JournalHistory h = reader.history();
    ASSERT_EQ(h.events.size(), 4u);
    EXPECT_EQ(h.events[0]["pid"], 998);
    EXPECT_EQ(h.events[1]["pid"], 999);
    EXPECT_EQ(h.events[2]["type"], "module_load") << "kept events stay in the order written";
    EXPECT_EQ(h.events[3]["pid"], 1000);
    EXPECT_EQ(h.older_not_shown, (std::map<std::string, uint64_t>{{"ct_activate", 998}}));
    WhyFacts f = seed_scenario();
    f.journal = "j";
    f.history = h;
    auto j = why_json(f);
    EXPECT_EQ(j["history"]["older_not_shown"]["ct_activate"], 998);
    EXPECT_EQ(j["history"]["skipped_files"][0], "j.3 is not a regular file");
    std::string all;
    for (const auto& line : why_lines(f)) all += line + "\n";
    EXPECT_NE(all.find("  (998 older ct_activate events not shown)\n"), std::string::npos) << all;
    EXPECT_NE(all.find("  (not read: j.3 is not a regular file)\n"), std::string::npos) << all;
}

TEST(WhyReport, LongStringsAreCutAtACharacterBoundary) {
    std::string comm(5000, 'x');
    comm.replace(4095, 2, "\u00e9");  // é straddles the cut
    std::istringstream journal(R"({"type":"ct_activate","comm":")" + comm + "\"}\n");
    auto history = module_history(journal, {"nf_conntrack"});
    ASSERT_EQ(history.events.size(), 1u);
    EXPECT_EQ(history.events[0]["comm"].get<std::string>(), std::string(4095, 'x'));
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
