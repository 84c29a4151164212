// SPDX-License-Identifier: GPL-2.0-only
#include "conntrack/pressure.hpp"

#include <gtest/gtest.h>

namespace nfsleuth {
namespace {

using namespace std::chrono_literals;

Creation made(uint32_t netns, std::optional<uint32_t> pid, std::string comm, std::string dest, uint64_t n,
              std::optional<std::string> cgroup = std::nullopt) {
    Creation c;
    c.netns = netns;
    c.pid = pid;
    c.comm = std::move(comm);
    if (cgroup) c.cgroup = CgroupIdentity{*cgroup, parse_cgroup_path(*cgroup)};
    c.cgroup_id = 77;
    c.destination = std::move(dest);
    c.count = n;
    return c;
}

TEST(CreatorStats, RanksProcessesCgroupsAndDestinationsPerNamespace) {
    CreatorStats s;
    s.add(made(1, 10, "curl", "10.0.0.1:80/tcp", 5, "/a"));
    s.add(made(1, 11, "dig", "10.0.0.2:53/udp", 9, "/b"));
    s.add(made(1, 10, "curl", "10.0.0.2:53/udp", 2, "/a"));
    s.add(made(1, std::nullopt, "", "10.0.0.3:22/tcp", 1));
    s.add(made(2, 12, "other", "10.9.9.9:1/udp", 100));
    auto t = s.top(1, 10);
    EXPECT_EQ(t.created, 17u);
    ASSERT_EQ(t.processes.size(), 3u);
    EXPECT_EQ(t.processes[0].name, "dig[11]");
    EXPECT_EQ(t.processes[0].entries, 9u);
    EXPECT_EQ(t.processes[1].name, "curl[10]");
    EXPECT_EQ(t.processes[1].entries, 7u);
    EXPECT_EQ(t.processes[1].pid, 10u);
    EXPECT_EQ(t.processes[1].comm, "curl");
    EXPECT_EQ(t.processes[2].name, "(no process)");
    EXPECT_FALSE(t.processes[2].pid);
    ASSERT_EQ(t.destinations.size(), 3u);
    EXPECT_EQ(t.destinations[0].name, "10.0.0.2:53/udp");
    EXPECT_EQ(t.destinations[0].entries, 11u);
    ASSERT_EQ(t.cgroups.size(), 3u);
    EXPECT_EQ(t.cgroups[0].name, "/b");
    EXPECT_EQ(t.cgroups[2].name, "(none)");
    EXPECT_EQ(s.created_total(2), 100u);
    EXPECT_EQ(s.top(1, 1).processes.size(), 1u);
}

TEST(CreatorStats, RanksPodsAndContainers) {
    const std::string uid_a = "0f1e2d3c_4b5a_6978_8796_a5b4c3d2e1f0", uid_b = "1f1e2d3c_4b5a_6978_8796_a5b4c3d2e1f0";
    const std::string web = "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod" + uid_a +
                            ".slice/cri-containerd-" + std::string(64, 'a') + ".scope";
    const std::string dns = "/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod" + uid_b +
                            ".slice/crio-" + std::string(64, 'b') + ".scope";
    CreatorStats s;
    s.add(made(1, 10, "nginx", "10.0.0.1:80/tcp", 5, web));
    Creation named = made(1, 11, "coredns", "10.0.0.2:53/udp", 9, dns);
    named.cgroup->workload.pod_namespace = "kube-system";
    named.cgroup->workload.pod_name = "coredns-x";
    named.cgroup->workload.container_name = "coredns";
    s.add(named);
    s.add(made(1, 12, "sshd", "10.0.0.3:22/tcp", 2, "/system.slice/sshd.service"));
    s.add(made(1, std::nullopt, "", "10.0.0.3:22/tcp", 1));
    const auto t = s.top(1, 10);
    auto names = [](const std::vector<CreatorStats::Ranked>& v) {
        std::vector<std::pair<std::string, uint64_t>> out;
        for (const auto& r : v) out.emplace_back(r.name, r.entries);
        return out;
    };
    using Ranking = std::vector<std::pair<std::string, uint64_t>>;
    EXPECT_EQ(names(t.pods), (Ranking{{"kube-system/coredns-x", 9},
                                      {"pod:0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0", 5},
                                      {"(not in a pod)", 2},
                                      {"(none)", 1}}));
    EXPECT_EQ(names(t.containers), (Ranking{{"kube-system/coredns-x/coredns", 9},
                                            {"containerd:aaaaaaaaaaaaa", 5},
                                            {"(not in a container)", 2},
                                            {"(none)", 1}}));
    PressureChange c{{1, "ns-a", 17, 20}, PressureChange::State::high, std::nullopt};
    const auto j = to_json(c, t, 80, "T", "kprobe");
    EXPECT_EQ(j["creators"]["pods"][0].dump(), R"({"pod":"kube-system/coredns-x","entries":9})");
    EXPECT_EQ(j["creators"]["containers"][1].dump(), R"({"container":"containerd:aaaaaaaaaaaaa","entries":5})");
    EXPECT_NE(to_human_line(c, t, 80, "T").find("; pods: kube-system/coredns-x 9, pod:0f1e2d3c"), std::string::npos);
    // A host without containers: no pods or containers in the line.
    CreatorStats bare;
    bare.add(made(1, 12, "sshd", "10.0.0.3:22/tcp", 2, "/system.slice/sshd.service"));
    EXPECT_EQ(to_human_line(c, bare.top(1, 5), 80, "T").find("pods:"), std::string::npos);
}

TEST(CreatorStats, WindowKeepsTwoPeriods) {
    CreatorStats s;
    s.add(made(1, 10, "a", "d", 3));
    s.rotate();
    s.add(made(1, 11, "b", "d", 4));
    EXPECT_EQ(s.top(1, 5).created, 7u);
    s.rotate();
    auto t = s.top(1, 5);
    EXPECT_EQ(t.created, 4u);
    ASSERT_EQ(t.processes.size(), 1u);
    EXPECT_EQ(t.processes[0].comm, "b");
    s.rotate();
    EXPECT_EQ(s.top(1, 5).created, 0u);
    EXPECT_EQ(s.created_total(1), 7u);  // all-time totals are not windowed
}

TEST(CreatorStats, BoundedKeysFoldIntoOther) {
    CreatorStats s(CreatorStats::Limits{2, 2});
    for (uint32_t pid = 1; pid <= 5; ++pid) s.add(made(1, pid, "p", "d" + std::to_string(pid), 1));
    auto t = s.top(1, 10);
    EXPECT_EQ(t.created, 5u);
    EXPECT_EQ(t.processes.size(), 2u);
    EXPECT_EQ(t.destinations.size(), 2u);
    EXPECT_EQ(t.other, 3u * 2);  // processes and destinations each overflowed 3 times; cgroups fit in one key
    // A third namespace evicts the one with the fewest creations.
    s.add(made(2, 9, "x", "d", 10));
    s.add(made(3, 9, "x", "d", 1));
    EXPECT_EQ(s.top(1, 10).created, 0u);
    EXPECT_EQ(s.created_total(1), 0u);
    EXPECT_EQ(s.top(2, 10).created, 10u);
    EXPECT_EQ(s.top(3, 10).created, 1u);
    s.add(made(4, 9, "x", "d", 1));
    EXPECT_EQ(s.top(3, 10).created, 0u);
    EXPECT_EQ(s.created_total(3), 0u);
}

TEST(PressureMonitor, EdgeTriggeredWithRepeatAndHysteresis) {
    PressureMonitor m({90, 0s, 60s, 5});
    auto t0 = std::chrono::steady_clock::time_point{} + 1000s;
    auto at = [&](uint64_t count) { return std::vector<FillSample>{{7, "ns", count, 100}}; };
    EXPECT_TRUE(m.observe(at(89), t0).empty());
    auto c = m.observe(at(90), t0 + 1s);
    ASSERT_EQ(c.size(), 1u);
    EXPECT_EQ(c[0].state, PressureChange::State::high);
    EXPECT_EQ(c[0].sample.count, 90u);
    EXPECT_TRUE(m.observe(at(95), t0 + 2s).empty());   // still high: no repeat yet
    EXPECT_TRUE(m.observe(at(86), t0 + 3s).empty());   // inside the hysteresis band
    EXPECT_EQ(m.observe(at(91), t0 + 61s).size(), 1u); // repeated after 60 s
    c = m.observe(at(84), t0 + 62s);
    ASSERT_EQ(c.size(), 1u);
    EXPECT_EQ(c[0].state, PressureChange::State::cleared);
    EXPECT_TRUE(m.observe(at(84), t0 + 63s).empty());
    EXPECT_EQ(m.observe(at(100), t0 + 64s).size(), 1u);
}

TEST(PressureMonitor, IgnoresUnknownLimitsAndForgetsVanishedNamespaces) {
    PressureMonitor m(50);
    auto t = std::chrono::steady_clock::now();
    EXPECT_TRUE(m.observe({{1, "a", 10, 0}}, t).empty());
    EXPECT_EQ(m.observe({{1, "a", 10, 10}}, t).size(), 1u);
    EXPECT_TRUE(m.observe({}, t).empty());
    EXPECT_EQ(m.observe({{1, "a", 10, 10}}, t).size(), 1u);  // a new namespace with a reused inode warns again
}

TEST(PressureOutput, JsonAndHumanLine) {
    CreatorStats s;
    s.add(made(7, 42, "evil\x1b[2J", "10.0.0.1:53/udp", 18, "/system.slice/x"));
    PressureChange c{{7, "ns-a", 18, 20}, PressureChange::State::high, std::nullopt};
    auto j = to_json(c, s.top(7, 5), 90, "2026-01-01T00:00:00.000000Z", "netlink");
    EXPECT_EQ(j["type"], "ct_pressure");
    EXPECT_EQ(j["state"], "high");
    EXPECT_EQ(j["count"], 18);
    EXPECT_EQ(j["max"], 20);
    EXPECT_DOUBLE_EQ(j["fill_percent"].get<double>(), 90.0);
    EXPECT_EQ(j["creators"]["source"], "netlink");
    EXPECT_EQ(j["creators"]["processes"][0]["pid"], 42);
    EXPECT_EQ(j["creators"]["processes"][0]["comm"], "evil\x1b[2J");
    EXPECT_EQ(j["creators"]["processes"][0]["entries"], 18);
    EXPECT_EQ(j["creators"]["destinations"][0]["destination"], "10.0.0.1:53/udp");
    EXPECT_EQ(j["creators"]["cgroups"][0]["cgroup"], "/system.slice/x");
    std::string line = to_human_line(c, s.top(7, 5), 90, "T");
    EXPECT_EQ(line.find('\x1b'), std::string::npos);
    EXPECT_NE(line.find("conntrack 18/20 (90.0%, threshold 90.0%)"), std::string::npos);
    EXPECT_NE(line.find("10.0.0.1:53/udp 18"), std::string::npos);
    PressureChange cleared{{7, "ns-a", 10, 20}, PressureChange::State::cleared, std::nullopt};
    EXPECT_EQ(to_human_line(cleared, s.top(7, 5), 90, "T"),
              "T pressure cleared ns-a netns=7 conntrack 10/20 (50.0%, threshold 90.0%)");
}

TEST(FillArming, ArmsAtTheFillAndDisarmsTenPointsBelow) {
    FillArming a(50);
    EXPECT_DOUBLE_EQ(a.disarm_below(), 40.0);
    EXPECT_TRUE(a.observe({{1, "a", 49, 100}}).empty());
    EXPECT_FALSE(a.armed(1));
    auto armed = a.observe({{1, "a", 50, 100}, {2, "b", 10, 100}});
    ASSERT_EQ(armed.size(), 1u);
    EXPECT_TRUE(armed[0].armed);
    EXPECT_EQ(armed[0].sample.netns, 1u);
    EXPECT_TRUE(a.armed(1));
    EXPECT_FALSE(a.armed(2));
    // Inside the hysteresis band: stays armed, no change.
    EXPECT_TRUE(a.observe({{1, "a", 40, 100}}).empty());
    EXPECT_TRUE(a.armed(1));
    auto disarmed = a.observe({{1, "a", 39, 100}});
    ASSERT_EQ(disarmed.size(), 1u);
    EXPECT_FALSE(disarmed[0].armed);
    EXPECT_EQ(a.armed_count(), 0u);
    // Armed again from the fill, not from the band.
    EXPECT_TRUE(a.observe({{1, "a", 45, 100}}).empty());
    EXPECT_EQ(a.observe({{1, "a", 100, 100}}).size(), 1u);
}

TEST(FillArming, LowFillsKeepHalfTheBand) {
    FillArming a(6);
    EXPECT_DOUBLE_EQ(a.disarm_below(), 3.0);
    EXPECT_EQ(a.observe({{1, "a", 6, 100}}).size(), 1u);
    EXPECT_TRUE(a.observe({{1, "a", 3, 100}}).empty());
    EXPECT_EQ(a.observe({{1, "a", 2, 100}}).size(), 1u);
}

TEST(FillArming, ZeroMeansEveryTableAlwaysWithoutEvents) {
    FillArming a(0);
    EXPECT_TRUE(a.always());
    EXPECT_TRUE(a.observe({{1, "a", 0, 100}, {2, "b", 5, 0}}).empty());
    EXPECT_TRUE(a.armed(1));
    EXPECT_FALSE(a.armed(2));  // no limit known: no table
}

TEST(FillArming, VanishedNamespacesAreForgottenSilently) {
    FillArming a(50);
    EXPECT_EQ(a.observe({{1, "a", 60, 100}}).size(), 1u);
    EXPECT_TRUE(a.observe({}).empty());
    EXPECT_FALSE(a.armed(1));
    // A new namespace with the reused inode arms again, with its event.
    EXPECT_EQ(a.observe({{1, "a", 60, 100}}).size(), 1u);
}

TEST(FillSamples, OnlyNamespacesWhoseCountAndLimitWereRead) {
    std::vector<NetnsInfo> namespaces(3);
    namespaces[0] = {11, "init", "/proc/1/ns/net", 5, 10, std::nullopt};
    namespaces[1] = {12, "no-conntrack", "/run/netns/a", std::nullopt, std::nullopt, std::nullopt};
    namespaces[2] = {13, "no-limit", "/run/netns/b", 3, std::nullopt, std::nullopt};
    auto fills = fill_samples(namespaces);
    ASSERT_EQ(fills.size(), 1u);
    EXPECT_EQ(fills[0].netns, 11u);
    EXPECT_EQ(fills[0].name, "init");
    EXPECT_DOUBLE_EQ(fills[0].percent(), 50.0);
}

TEST(FillArming, JsonAndHumanLine) {
    FillArming a(50);
    auto changes = a.observe({{7, "ns\x1b[2J", 10, 20}});
    ASSERT_EQ(changes.size(), 1u);
    auto j = to_json(changes[0], a, "T", "netlink");
    EXPECT_EQ(j.dump(),
              R"({"type":"ct_tracking","ts":"T","state":"armed","netns":7,"netns_name":"ns\u001b[2J","count":10,)"
              R"("max":20,"fill_percent":50.0,"arm_at_percent":50.0,"disarm_below_percent":40.0,"method":"netlink"})");
    EXPECT_EQ(to_human_line(changes[0], a, "T", "netlink"),
              "T tracking ARMED ns\\x1b[2J netns=7 conntrack 10/20 (50.0%, arm at 50.0%): counting who creates "
              "entries (netlink)");
    auto off = a.observe({{7, "ns", 7, 20}});
    ASSERT_EQ(off.size(), 1u);
    EXPECT_EQ(to_human_line(off[0], a, "T", "netlink"),
              "T tracking disarmed ns netns=7 conntrack 7/20 (35.0%, below 40.0%): no longer counting creations");
}

}  // namespace
}  // namespace nfsleuth
