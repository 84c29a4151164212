// SPDX-License-Identifier: GPL-2.0-only
#include "drops/drop_output.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <utility>
#include <vector>

#include "common/json_line.hpp"
#include "test_support.hpp"

using namespace nfsleuth;
using json = nlohmann::ordered_json;

namespace {

using nfsleuth_test::cgroup_at;

constexpr uint32_t kHostNetns = 4026531840u;
constexpr uint32_t kRouterNetns = 4026532500u;
const char* const kTs = "2023-11-14T22:13:20.123456Z";

constexpr uint8_t kOutput = 3;
constexpr uint8_t kForward = 2;
constexpr uint8_t kPrerouting = 0;

nfs_drop_key key(uint32_t netns, uint8_t cause, uint8_t hook) {
    nfs_drop_key k;
    std::memset(&k, 0, sizeof k);
    k.netns_ino = netns;
    k.cause = cause;
    k.hook = hook;
    return k;
}

void set_v4(nfs_flow& f, const uint8_t (&src)[4], const uint8_t (&dst)[4], uint8_t proto) {
    f.family = NFS_AF_INET_ABI;
    f.proto = proto;
    std::memcpy(f.saddr, src, 4);
    std::memcpy(f.daddr, dst, 4);
}

void set_v6(nfs_flow& f, const uint8_t (&src)[16], const uint8_t (&dst)[16], uint8_t proto) {
    f.family = NFS_AF_INET6_ABI;
    f.proto = proto;
    std::memcpy(f.saddr, src, 16);
    std::memcpy(f.daddr, dst, 16);
}

nfs_drop_key tcp_key(uint32_t netns, uint8_t cause, uint8_t hook, const uint8_t (&src)[4], uint16_t sport,
                     const uint8_t (&dst)[4], uint16_t dport) {
    nfs_drop_key k = key(netns, cause, hook);
    set_v4(k.flow, src, dst, 6);
    k.flow.sport = sport;
    k.flow.dport = dport;
    return k;
}

Origin process(uint32_t pid, std::string comm, uint32_t uid = 1000) {
    Origin o;
    o.local = true;
    o.pid = pid;
    o.tid = pid;
    o.uid = uid;
    o.cgroup_id = 7777;
    o.comm = std::move(comm);
    o.out_if = "eth0";
    return o;
}

DropRecord record(const nfs_drop_key& k, Origin o, uint64_t count, bool first) {
    DropRecord r;
    r.ts_boot_ns = 1'000'000'000;
    r.raw_key = k;
    r.key = decode_key(k);
    r.origin = std::move(o);
    r.count = count;
    r.first = first;
    return r;
}

// curl's SYN to 10.0.0.2:80 dropped at output because the table is full.
DropRecord local_table_full() {
    return record(tcp_key(kHostNetns, NFS_CAUSE_TABLE_FULL, kOutput, {10, 0, 0, 1}, 5000, {10, 0, 0, 2}, 80),
                  process(1234, "curl"), 1, true);
}

// A forwarded packet dropped in a router namespace: no process.
DropRecord forwarded_table_full() {
    Origin o;
    o.in_if = "veth-a";
    o.out_if = "eth0";
    return record(
        tcp_key(kRouterNetns, NFS_CAUSE_TABLE_FULL, kForward, {192, 0, 2, 10}, 33000, {198, 51, 100, 7}, 443), o,
        3, false);
}

// An invalid packet received on eth0.
DropRecord received_invalid() {
    Origin o;
    o.in_if = "eth0";
    return record(tcp_key(kHostNetns, NFS_CAUSE_INVALID, kPrerouting, {10, 0, 0, 2}, 80, {10, 0, 0, 1}, 5000), o,
                  1, true);
}

DropContext context() {
    DropContext c;
    c.ts = kTs;
    c.backend = "tracepoint";
    return c;
}

DropContext curl_context() {
    DropContext c = context();
    c.cmdline = "curl http://10.0.0.2/";
    c.cgroup = cgroup_at("/user.slice/user-1000.slice/session-3.scope");
    return c;
}

std::vector<std::string> keys_in_order(const json& j) {
    std::vector<std::string> out;
    for (const auto& [k, v] : j.items()) out.push_back(k);
    return out;
}

bool is_printable_ascii(const std::string& s) {
    for (char ch : s) {
        const auto c = static_cast<unsigned char>(ch);
        if (c < 0x20 || c >= 0x7f) return false;
    }
    return true;
}

const std::vector<std::string> kRecordKeys = {
    "type", "ts",   "cause", "flow", "netns",   "netns_name", "zone",   "hook",  "in_if",   "out_if",
    "local", "pid", "comm",  "cmdline", "cgroup", "container", "pod", "unit", "uid",      "count",  "first", "backend",
};

}  // namespace

// --- matches_filter ------------------------------------------------------------------

TEST(DropFilter, PidAndCommSelectTheSendingProcess) {
    CommonOptions o;
    EXPECT_TRUE(matches_filter(o, local_table_full()));
    EXPECT_TRUE(matches_filter(o, forwarded_table_full())) << "no filter: every drop";
    o.pid = 1234;
    EXPECT_TRUE(matches_filter(o, local_table_full()));
    EXPECT_FALSE(matches_filter(o, forwarded_table_full())) << "a drop without a process has no pid";
    o.pid = 99;
    EXPECT_FALSE(matches_filter(o, local_table_full()));
    o.pid.reset();
    o.comm = "curl";
    EXPECT_TRUE(matches_filter(o, local_table_full()));
    EXPECT_FALSE(matches_filter(o, forwarded_table_full()));
    o.comm = "wget";
    EXPECT_FALSE(matches_filter(o, local_table_full()));
}

// --- to_json ----------------------------------------------------------------------

TEST(EvictionsEvent, SaysWhetherEvictedEntriesAreNamedAndFromWhichFill) {
    EXPECT_EQ(evictions_event("T", {true, 50, 40, "hooked"}).dump(),
              R"({"type":"ct_evictions","ts":"T","named":true,"arm_at_percent":50.0,"disarm_below_percent":40.0,)"
              R"("message":"hooked"})");
}

TEST(DropJson, FieldsInOrder) {
    EXPECT_EQ(keys_in_order(to_json(local_table_full(), curl_context())), kRecordKeys);
    EXPECT_EQ(keys_in_order(to_json(forwarded_table_full(), context())), kRecordKeys);
}

TEST(DropJson, LocalProcessDrop) {
    const json j = to_json(local_table_full(), curl_context());
    EXPECT_EQ(j, json::parse(R"({
        "type": "ct_drop", "ts": "2023-11-14T22:13:20.123456Z", "cause": "table_full",
        "flow": {"family": "ipv4", "proto": "tcp", "src": "10.0.0.1", "sport": 5000, "dst": "10.0.0.2", "dport": 80},
        "netns": 4026531840, "netns_name": null, "zone": 0, "hook": "output",
        "in_if": null, "out_if": "eth0", "local": true, "pid": 1234, "comm": "curl",
        "cmdline": "curl http://10.0.0.2/", "cgroup": "/user.slice/user-1000.slice/session-3.scope",
        "container": null, "pod": null, "unit": "session-3.scope", "uid": 1000, "count": 1, "first": true, "backend": "tracepoint"
    })"));
    EXPECT_TRUE(j.at("pid").is_number_unsigned());
    EXPECT_TRUE(j.at("netns").is_number_unsigned());
    EXPECT_TRUE(j.at("count").is_number_unsigned());
}

TEST(DropJson, ReceivedPacketHasNoProcess) {
    DropContext c = context();
    c.netns_name = "host";
    const json j = to_json(received_invalid(), c);
    EXPECT_EQ(keys_in_order(j), kRecordKeys);
    EXPECT_EQ(j.at("cause"), "invalid");
    EXPECT_EQ(j.at("netns_name"), "host");
    EXPECT_EQ(j.at("hook"), "prerouting");
    EXPECT_EQ(j.at("in_if"), "eth0");
    EXPECT_TRUE(j.at("out_if").is_null());
    EXPECT_EQ(j.at("local"), false);
    EXPECT_TRUE(j.at("pid").is_null());
    EXPECT_TRUE(j.at("comm").is_null());
    EXPECT_TRUE(j.at("cmdline").is_null());
    EXPECT_TRUE(j.at("cgroup").is_null());
    EXPECT_TRUE(j.at("uid").is_null());
}

TEST(DropJson, ForwardedDrop) {
    DropContext c = context();
    c.netns_name = "router";
    c.backend = "fentry";
    const json j = to_json(forwarded_table_full(), c);
    EXPECT_EQ(j.at("flow"), json::parse(R"({"family": "ipv4", "proto": "tcp", "src": "192.0.2.10", "sport": 33000,
                                             "dst": "198.51.100.7", "dport": 443})"));
    EXPECT_EQ(j.at("netns"), kRouterNetns);
    EXPECT_EQ(j.at("netns_name"), "router");
    EXPECT_EQ(j.at("hook"), "forward");
    EXPECT_EQ(j.at("in_if"), "veth-a");
    EXPECT_EQ(j.at("out_if"), "eth0");
    EXPECT_EQ(j.at("local"), false);
    EXPECT_TRUE(j.at("pid").is_null());
    EXPECT_EQ(j.at("count"), 3);
    EXPECT_EQ(j.at("first"), false);
    EXPECT_EQ(j.at("backend"), "fentry");
}

TEST(DropJson, IcmpFlowHasTypeAndCodeAndNoPorts) {
    nfs_drop_key k = key(kHostNetns, NFS_CAUSE_RULE, kOutput);
    set_v4(k.flow, {10, 0, 0, 1}, {10, 0, 0, 2}, 1);
    k.flow.icmp_type = 8;
    const json flow = to_json(record(k, process(1300, "ping"), 1, true), context()).at("flow");
    EXPECT_EQ(keys_in_order(flow),
              (std::vector<std::string>{"family", "proto", "src", "sport", "dst", "dport", "icmp_type", "icmp_code"}));
    EXPECT_EQ(flow, json::parse(R"({"family": "ipv4", "proto": "icmp", "src": "10.0.0.1", "sport": null,
                                    "dst": "10.0.0.2", "dport": null, "icmp_type": 8, "icmp_code": 0})"));
}

TEST(DropJson, Ipv6UdpFlow) {
    const uint8_t src[16] = {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01};
    const uint8_t dst[16] = {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x53};
    nfs_drop_key k = key(kHostNetns, NFS_CAUSE_INSERT_FAILED, kOutput);
    set_v6(k.flow, src, dst, 17);
    k.flow.sport = 40000;
    k.flow.dport = 53;
    const json flow = to_json(record(k, process(1400, "dig"), 1, true), context()).at("flow");
    EXPECT_EQ(flow, json::parse(R"({"family": "ipv6", "proto": "udp", "src": "2001:db8::1", "sport": 40000,
                                    "dst": "2001:db8::53", "dport": 53})"));
}

TEST(DropJson, UnknownCauseHookAndFamily) {
    nfs_drop_key k = key(kHostNetns, 9, NFS_HOOK_UNKNOWN);
    k.flow.proto = 47;
    const json j = to_json(record(k, Origin{}, 1, true), context());
    EXPECT_EQ(j.at("cause"), "cause_9");
    EXPECT_TRUE(j.at("hook").is_null());
    EXPECT_TRUE(j.at("flow").at("family").is_null());
    EXPECT_EQ(j.at("flow").at("proto"), "47");
    EXPECT_TRUE(j.at("flow").at("sport").is_null());
}

// A rule drop: the key has no hook, the first drop's stack named one.
TEST(DropJson, RuleDropAtTheHookFoundOnTheStack) {
    nfs_drop_key k = tcp_key(kHostNetns, NFS_CAUSE_RULE, NFS_HOOK_UNKNOWN, {10, 0, 0, 1}, 5000, {10, 0, 0, 2}, 80);
    Origin o = process(1234, "curl");
    o.hook = "input";
    const DropRecord r = record(k, o, 2, false);
    EXPECT_EQ(to_json(r, context()).at("hook"), "input");
    EXPECT_NE(to_human_line(r, curl_context()).find(" hook=input "), std::string::npos);
    // A hook in the key stands.
    DropRecord keyed = local_table_full();
    keyed.origin.hook = "input";
    EXPECT_EQ(to_json(keyed, context()).at("hook"), "output");
}

// --- hostile strings --------------------------------------------------------------

DropRecord hostile_record() {
    Origin o = process(666, "e\nv\x1b[1m\"q\\");
    o.in_if = "in\teth";
    o.out_if = "o\xff";
    nfs_drop_key k = tcp_key(kHostNetns, NFS_CAUSE_TABLE_FULL, kOutput, {10, 0, 0, 1}, 5000, {10, 0, 0, 2}, 80);
    return record(k, o, 1, true);
}

DropContext hostile_context() {
    DropContext c = context();
    c.netns_name = "ns\x1b]0;x\x07";
    c.cmdline = "sh -c \"rm -rf\"\n\xfe caf\xc3\xa9";
    c.cgroup = cgroup_at("/evil\r.scope");
    return c;
}

TEST(DropJsonLine, HostileStringsStayOnOneAsciiLine) {
    const std::string line = json_line(to_json(hostile_record(), hostile_context()));
    EXPECT_TRUE(is_printable_ascii(line)) << line;
    EXPECT_NE(line.find("\\u001b"), std::string::npos) << line;
}

TEST(DropJsonLine, HostileStringsParseBack) {
    const json back = json::parse(json_line(to_json(hostile_record(), hostile_context())));
    const std::string fffd = "\xef\xbf\xbd";
    EXPECT_EQ(keys_in_order(back), kRecordKeys);
    EXPECT_EQ(back.at("comm"), "e\nv\x1b[1m\"q\\");
    EXPECT_EQ(back.at("in_if"), "in\teth");
    EXPECT_EQ(back.at("out_if"), "o" + fffd);
    EXPECT_EQ(back.at("netns_name"), "ns\x1b]0;x\x07");
    EXPECT_EQ(back.at("cmdline"), "sh -c \"rm -rf\"\n" + fffd + " caf\xc3\xa9");
    EXPECT_EQ(back.at("cgroup"), "/evil\r.scope");
    EXPECT_EQ(back.at("pid"), 666);
}

// --- to_human_line ------------------------------------------------------------------

TEST(DropHumanLine, LocalTableFull) {
    EXPECT_EQ(to_human_line(local_table_full(), curl_context()),
              "2023-11-14T22:13:20.123456Z drop table_full 10.0.0.1:5000 -> 10.0.0.2:80/tcp netns=4026531840 "
              "hook=output out=eth0 by curl[1234] count=1");
}

TEST(DropHumanLine, ForwardedWithoutProcess) {
    DropContext c = context();
    c.netns_name = "router";
    EXPECT_EQ(to_human_line(forwarded_table_full(), c),
              "2023-11-14T22:13:20.123456Z drop table_full 192.0.2.10:33000 -> 198.51.100.7:443/tcp "
              "netns=4026532500(router) hook=forward in=veth-a out=eth0 count=+3");
}

TEST(DropHumanLine, UnknownCauseAndHook) {
    nfs_drop_key k = key(kHostNetns, 9, NFS_HOOK_UNKNOWN);
    set_v4(k.flow, {10, 0, 0, 1}, {10, 0, 0, 2}, 47);
    EXPECT_EQ(to_human_line(record(k, Origin{}, 2, true), context()),
              "2023-11-14T22:13:20.123456Z drop cause_9 10.0.0.1 -> 10.0.0.2/47 netns=4026531840 count=2");
}

TEST(DropHumanLine, HostileStringsAreEscaped) {
    EXPECT_EQ(to_human_line(hostile_record(), hostile_context()),
              "2023-11-14T22:13:20.123456Z drop table_full 10.0.0.1:5000 -> 10.0.0.2:80/tcp "
              "netns=4026531840(ns\\x1b]0;x\\x07) hook=output in=in\\teth out=o\\xff "
              "by e\\nv\\x1b[1m\\\"q\\\\[666] count=1");
}

// --- DropSummary ------------------------------------------------------------------------

// Fifteen drops over two namespaces, four causes, four destinations.
DropSummary example_summary(std::size_t top = 10) {
    DropSummary s(top);
    const DropRecord curl = local_table_full();
    s.add(curl, context());                                     // 1 table_full
    s.add(record(curl.raw_key, curl.origin, 7, false), context());  // 7 more of the same key

    nfs_drop_key dns = key(kRouterNetns, NFS_CAUSE_INSERT_FAILED, kForward);
    const uint8_t src6[16] = {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01};
    const uint8_t dst6[16] = {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x53};
    set_v6(dns.flow, src6, dst6, 17);
    dns.flow.sport = 40000;
    dns.flow.dport = 53;
    Origin forwarded;
    forwarded.in_if = "veth-a";
    s.add(record(dns, forwarded, 2, true), context());

    nfs_drop_key ping = key(kRouterNetns, NFS_CAUSE_INVALID, kOutput);
    set_v4(ping.flow, {10, 0, 0, 1}, {10, 0, 0, 3}, 1);
    Origin local_no_process;
    local_no_process.local = true;
    s.add(record(ping, local_no_process, 1, true), context());

    nfs_drop_key dig = key(kHostNetns, NFS_CAUSE_UNKNOWN, kOutput);
    set_v4(dig.flow, {10, 0, 0, 1}, {10, 0, 0, 53}, 17);
    dig.flow.sport = 41000;
    dig.flow.dport = 53;
    DropContext in_pod = context();
    in_pod.cgroup = cgroup_at("/kubepods/besteffort/pod0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0/" + std::string(64, 'c'));
    in_pod.cgroup->workload.pod_namespace = "kube-system";
    in_pod.cgroup->workload.pod_name = "coredns-x";
    in_pod.cgroup->workload.container_name = "coredns";
    s.add(record(dig, process(2000, "dig"), 4, true), in_pod);
    return s;
}

std::map<uint32_t, NetnsFill> example_fill() {
    std::map<uint32_t, NetnsFill> fill;
    fill[kHostNetns] = NetnsFill{"host", 65536, 65536, 8};
    fill[kRouterNetns] = NetnsFill{"router", std::nullopt, std::nullopt, std::nullopt};
    return fill;
}

const char* const kTableFullAdvice =
    "; raise net.netfilter.nf_conntrack_max (and nf_conntrack_buckets), or exempt this traffic from conntrack with "
    "NOTRACK (iptables -t raw ... -j CT --notrack, or nft 'notrack' in a raw-priority chain)";
const char* const kUnknownAdvice =
    " could not be classified: this kernel's per-CPU conntrack statistics were unreadable";
const char* const kInsertFailedAdvice =
    ": parallel packets of one new flow raced (typical for UDP DNS); check net.netfilter.nf_conntrack_udp_timeout "
    "and NAT port allocation";
const char* const kInvalidAdvice = ": see net.netfilter.nf_conntrack_tcp_be_liberal and nf_conntrack_log_invalid";

TEST(DropSummary, TotalsAndNamespaces) {
    const DropSummary s = example_summary();
    EXPECT_EQ(s.total(), 15u);
    EXPECT_EQ(s.namespaces(), (std::vector<uint32_t>{kHostNetns, kRouterNetns}));
}

TEST(DropSummary, HumanLines) {
    const DropAccounting acc{15, 15, 0, 0};
    const std::vector<std::string> expected = {
        "Conntrack drops: 15",
        "By cause:",
        "  8  table_full",
        "  4  unknown",
        "  2  insert_failed",
        "  1  invalid",
        "By netns:",
        "  12  4026531840 (host) conntrack 65536/65536, kernel drop counter +8: table_full 8, unknown 4",
        "  3  4026532500 (router): insert_failed 2, invalid 1",
        "By process:",
        "  8  curl[1234]",
        "  4  dig[2000]",
        "  2  (received or forwarded)",
        "  1  (local, no process)",
        "By pod:",
        "  4  kube-system/coredns-x",
        "By container:",
        "  4  kube-system/coredns-x/coredns",
        "By destination:",
        "  8  10.0.0.2:80/tcp",
        "  4  10.0.0.53:53/udp",
        "  2  [2001:db8::53]:53/udp",
        "  1  10.0.0.3/icmp",
        std::string("Advice: table full in netns 4026531840 (host): 65536/65536 entries") + kTableFullAdvice,
        std::string("Advice: some drops in netns 4026531840 (host)") + kUnknownAdvice,
        std::string("Advice: insert clashes in netns 4026532500 (router)") + kInsertFailedAdvice,
        std::string("Advice: conntrack dropped invalid packets in netns 4026532500 (router)") + kInvalidAdvice,
        "Accounting: 15 drops seen in the kernel, 15 reported, 0 missed",
    };
    EXPECT_EQ(example_summary().human_lines(example_fill(), acc), expected);
}

TEST(DropSummary, TopTruncatesWithCountOfTheRest) {
    const auto lines = example_summary(2).human_lines({}, DropAccounting{});
    const std::vector<std::string> by_cause(lines.begin() + 1, lines.begin() + 5);
    EXPECT_EQ(by_cause, (std::vector<std::string>{"By cause:", "  8  table_full", "  4  unknown", "  (2 more)"}));
    const std::vector<std::string> tail(lines.begin() + 8, lines.begin() + 20);
    EXPECT_EQ(tail, (std::vector<std::string>{"By process:", "  8  curl[1234]", "  4  dig[2000]", "  (2 more)",
                                              "By pod:", "  4  kube-system/coredns-x", "By container:",
                                              "  4  kube-system/coredns-x/coredns", "By destination:", "  8  10.0.0.2:80/tcp", "  4  10.0.0.53:53/udp",
                                              "  (2 more)"}));
    // The namespaces are all listed, however many.
    EXPECT_EQ(lines[5], "By netns:");
    EXPECT_EQ(lines[6], "  12  4026531840: table_full 8, unknown 4");
    EXPECT_EQ(lines[7], "  3  4026532500: insert_failed 2, invalid 1");
}

TEST(DropSummary, EqualCountsAreListedByName) {
    DropSummary s(10);
    DropRecord a = local_table_full();
    a.origin.comm = "zz";
    DropRecord b = local_table_full();
    b.origin.comm = "aa";
    s.add(a, context());
    s.add(b, context());
    const auto lines = s.human_lines({}, DropAccounting{});
    const auto at = std::find(lines.begin(), lines.end(), "By process:");
    ASSERT_NE(at, lines.end());
    EXPECT_EQ(*(at + 1), "  1  aa[1234]");
    EXPECT_EQ(*(at + 2), "  1  zz[1234]");
}

TEST(DropSummary, TableFullAdviceWithoutFill) {
    DropSummary s;
    s.add(local_table_full(), context());
    // Count without max: no "X/Y entries".
    std::map<uint32_t, NetnsFill> fill;
    fill[kHostNetns] = NetnsFill{std::nullopt, 100, std::nullopt, std::nullopt};
    for (const auto& f : {std::map<uint32_t, NetnsFill>{}, fill}) {
        const json advice = s.to_json(f, DropAccounting{}).at("advice");
        ASSERT_EQ(advice.size(), 1u);
        const std::string a = advice.at(0);
        EXPECT_EQ(a, std::string("table full in netns 4026531840") + kTableFullAdvice);
        EXPECT_NE(a.find("nf_conntrack_max"), std::string::npos);
        EXPECT_NE(a.find("NOTRACK"), std::string::npos);
    }
}

TEST(DropSummary, NoAdviceForEarlyDropRuleOrOther) {
    DropSummary s;
    for (uint8_t cause : {NFS_CAUSE_EARLY_DROP, NFS_CAUSE_RULE, NFS_CAUSE_OTHER_CT}) {
        s.add(record(tcp_key(kHostNetns, cause, kOutput, {10, 0, 0, 1}, 1, {10, 0, 0, 2}, 2), Origin{}, 1, true), context());
    }
    EXPECT_EQ(s.to_json({}, DropAccounting{}).at("advice"), json::array());
}

TEST(DropSummary, HostileNamesAreEscapedInLines) {
    DropSummary s;
    s.add(hostile_record(), context());
    std::map<uint32_t, NetnsFill> fill;
    fill[kHostNetns] = NetnsFill{"ns\x1b]0;x\x07", std::nullopt, std::nullopt, std::nullopt};
    for (const auto& line : s.human_lines(fill, DropAccounting{})) {
        for (char ch : line) {
            const auto c = static_cast<unsigned char>(ch);
            EXPECT_TRUE(c >= 0x20 && c != 0x7f) << line;
        }
    }
    const auto lines = s.human_lines(fill, DropAccounting{});
    EXPECT_NE(std::find(lines.begin(), lines.end(), "  1  e\\nv\\x1b[1m\\\"q\\\\[666]"), lines.end());
}

TEST(DropAccounting, Missed) {
    EXPECT_EQ((DropAccounting{20, 15, 0, 0}.missed()), 5u);
    EXPECT_EQ((DropAccounting{15, 15, 0, 0}.missed()), 0u);
    EXPECT_EQ((DropAccounting{10, 15, 0, 0}.missed()), 0u) << "never negative";
}

TEST(DropAccounting, LostAndUnaggregatedAreShown) {
    const auto lines = example_summary().human_lines({}, DropAccounting{20, 15, 2, 3});
    EXPECT_EQ(lines.back(),
              "Accounting: 20 drops seen in the kernel, 15 reported, 5 missed "
              "(2 first-drop records lost, 3 drops not aggregated)");
}

TEST(DropSummary, Json) {
    const json j = example_summary().to_json(example_fill(), DropAccounting{20, 15, 2, 3});
    const json expected = {
        {"type", "drop_summary"},
        {"total", 15},
        {"by_cause", {{"insert_failed", 2}, {"invalid", 1}, {"table_full", 8}, {"unknown", 4}}},
        {"by_netns",
         {
             {{"netns", kHostNetns},
              {"name", "host"},
              {"ct_count", 65536},
              {"ct_max", 65536},
              {"kernel_drops", 8},
              {"by_cause", {{"table_full", 8}, {"unknown", 4}}}},
             {{"netns", kRouterNetns},
              {"name", "router"},
              {"ct_count", nullptr},
              {"ct_max", nullptr},
              {"kernel_drops", nullptr},
              {"by_cause", {{"insert_failed", 2}, {"invalid", 1}}}},
         }},
        {"by_process",
         {
             {{"process", "curl[1234]"}, {"count", 8}},
             {{"process", "dig[2000]"}, {"count", 4}},
             {{"process", "(received or forwarded)"}, {"count", 2}},
             {{"process", "(local, no process)"}, {"count", 1}},
         }},
        {"by_pod", {{{"pod", "kube-system/coredns-x"}, {"count", 4}}}},
        {"by_container", {{{"container", "kube-system/coredns-x/coredns"}, {"count", 4}}}},
        {"by_destination",
         {
             {{"destination", "10.0.0.2:80/tcp"}, {"count", 8}},
             {{"destination", "10.0.0.53:53/udp"}, {"count", 4}},
             {{"destination", "[2001:db8::53]:53/udp"}, {"count", 2}},
             {{"destination", "10.0.0.3/icmp"}, {"count", 1}},
         }},
        {"advice",
         {
             std::string("table full in netns 4026531840 (host): 65536/65536 entries") + kTableFullAdvice,
             std::string("some drops in netns 4026531840 (host)") + kUnknownAdvice,
             std::string("insert clashes in netns 4026532500 (router)") + kInsertFailedAdvice,
             std::string("conntrack dropped invalid packets in netns 4026532500 (router)") + kInvalidAdvice,
         }},
        {"seen", 20},
        {"reported", 15},
        {"missed", 5},
        {"lost_records", 2},
        {"unaggregated", 3},
    };
    EXPECT_EQ(keys_in_order(j), keys_in_order(expected));
    EXPECT_EQ(j, expected);
}

TEST(DropSummary, JsonNamespaceWithoutFillHasNulls) {
    const json j = example_summary().to_json({}, DropAccounting{});
    for (const auto& ns : j.at("by_netns")) {
        EXPECT_EQ(keys_in_order(ns),
                  (std::vector<std::string>{"netns", "name", "ct_count", "ct_max", "kernel_drops", "by_cause"}));
        EXPECT_TRUE(ns.at("name").is_null());
        EXPECT_TRUE(ns.at("ct_count").is_null());
        EXPECT_TRUE(ns.at("ct_max").is_null());
        EXPECT_TRUE(ns.at("kernel_drops").is_null());
    }
}

TEST(DropSummary, TopLimitsJsonLists) {
    const json j = example_summary(2).to_json({}, DropAccounting{});
    EXPECT_EQ(j.at("by_process").size(), 2u);
    EXPECT_EQ(j.at("by_destination").size(), 2u);
    EXPECT_EQ(j.at("by_cause").size(), 4u) << "causes are few: all are listed";
    EXPECT_EQ(j.at("by_netns").size(), 2u);
}
