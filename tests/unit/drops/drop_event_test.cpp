// SPDX-License-Identifier: GPL-2.0-only
#include "drops/drop_event.hpp"

#include <gtest/gtest.h>
#include <sys/socket.h>

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstring>
#include <optional>
#include <string>
#include <vector>

using namespace nfsleuth;

namespace {

constexpr uint8_t kTcp = 6;
constexpr uint8_t kUdp = 17;
constexpr uint8_t kIcmp = 1;
constexpr uint8_t kIcmpv6 = 58;
constexpr uint8_t kGre = 47;

// A zeroed flow, as the BPF side fills it: addresses in network byte order,
// ports already in host byte order.
using Addr4 = std::array<uint8_t, 4>;
using Addr6 = std::array<uint8_t, 16>;

nfs_flow flow4(const Addr4& src, const Addr4& dst, uint8_t proto, uint16_t sport = 0, uint16_t dport = 0) {
    nfs_flow f;
    std::memset(&f, 0, sizeof f);
    f.family = NFS_AF_INET_ABI;
    f.proto = proto;
    std::copy(src.begin(), src.end(), f.saddr);
    std::copy(dst.begin(), dst.end(), f.daddr);
    f.sport = sport;
    f.dport = dport;
    return f;
}

nfs_flow flow6(const Addr6& src, const Addr6& dst, uint8_t proto, uint16_t sport = 0, uint16_t dport = 0) {
    nfs_flow f = flow4({}, {}, proto, sport, dport);
    f.family = NFS_AF_INET6_ABI;
    std::copy(src.begin(), src.end(), f.saddr);
    std::copy(dst.begin(), dst.end(), f.daddr);
    return f;
}

// 2001:db8::1, 2001:db8::53, fe80::1 and ff02::1 as 16 bytes.
const Addr6 kDoc1 = {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01};
const Addr6 kDoc53 = {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x53};
const Addr6 kLinkLocal1 = {0xfe, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01};
const Addr6 kAllNodes = {0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01};

nfs_flow tcp_10_0_0_1_to_2() { return flow4({10, 0, 0, 1}, {10, 0, 0, 2}, kTcp, 5000, 80); }

template <std::size_t N>
void set_chars(char (&dst)[N], const char* src, std::size_t len) {
    ASSERT_LE(len, N);
    std::memcpy(dst, src, len);
}

nfs_drop_origin blank_origin() {
    nfs_drop_origin o;
    std::memset(&o, 0, sizeof o);
    return o;
}

// A process-sent packet: curl (pid 1234) sending out of eth0.
nfs_drop_origin curl_origin() {
    nfs_drop_origin o = blank_origin();
    o.flags = NFS_ORIGIN_LOCAL | NFS_ORIGIN_PROCESS;
    o.pid = 1234;
    o.tid = 1235;
    o.uid = 1000;
    o.cgroup_id = 7777;
    o.out_ifindex = 2;
    set_chars(o.comm, "curl", 5);
    set_chars(o.out_if, "eth0", 5);
    return o;
}

nfs_drop_key table_full_key() {
    nfs_drop_key k;
    std::memset(&k, 0, sizeof k);
    k.netns_ino = 4026531840u;
    k.cause = NFS_CAUSE_TABLE_FULL;
    k.hook = 3;  // NF_INET_LOCAL_OUT
    k.zone = 7;
    k.flow = tcp_10_0_0_1_to_2();
    return k;
}

nfs_drop_event first_drop_event() {
    nfs_drop_event ev;
    std::memset(&ev, 0, sizeof ev);
    ev.ts_boot_ns = 123'456'789'000;
    ev.key = table_full_key();
    ev.origin = curl_origin();
    return ev;
}

}  // namespace

// --- decode_flow ---------------------------------------------------------------

TEST(DecodeFlow, Ipv4Tcp) {
    const Flow f = decode_flow(tcp_10_0_0_1_to_2());
    EXPECT_EQ(f.family, AF_INET);
    EXPECT_EQ(f.proto, kTcp);
    EXPECT_EQ(f.src, "10.0.0.1");
    EXPECT_EQ(f.dst, "10.0.0.2");
    EXPECT_EQ(f.sport, 5000);
    EXPECT_EQ(f.dport, 80);
    EXPECT_TRUE(f.has_ports);
    EXPECT_FALSE(f.is_icmp);
    EXPECT_FALSE(f.truncated);
}

TEST(DecodeFlow, AddressBytesAreInNetworkOrder) {
    const Flow f = decode_flow(flow4({192, 168, 1, 254}, {172, 16, 0, 3}, kTcp, 1, 2));
    EXPECT_EQ(f.src, "192.168.1.254");
    EXPECT_EQ(f.dst, "172.16.0.3");
}

TEST(DecodeFlow, Ipv6Udp) {
    const Flow f = decode_flow(flow6(kDoc1, kDoc53, kUdp, 40000, 53));
    EXPECT_EQ(f.family, AF_INET6);
    EXPECT_EQ(f.proto, kUdp);
    EXPECT_EQ(f.src, "2001:db8::1");
    EXPECT_EQ(f.dst, "2001:db8::53");
    EXPECT_EQ(f.sport, 40000);
    EXPECT_EQ(f.dport, 53);
    EXPECT_TRUE(f.has_ports);
    EXPECT_FALSE(f.is_icmp);
}

TEST(DecodeFlow, IcmpTypeAndCode) {
    nfs_flow raw = flow4({10, 0, 0, 1}, {10, 0, 0, 2}, kIcmp);
    raw.icmp_type = 8;
    raw.icmp_code = 0;
    const Flow f = decode_flow(raw);
    EXPECT_EQ(f.family, AF_INET);
    EXPECT_TRUE(f.is_icmp);
    EXPECT_FALSE(f.has_ports);
    EXPECT_EQ(f.icmp_type, 8);
    EXPECT_EQ(f.icmp_code, 0);
}

TEST(DecodeFlow, Icmpv6) {
    nfs_flow raw = flow6(kLinkLocal1, kAllNodes, kIcmpv6);
    raw.icmp_type = 135;  // neighbour solicitation
    raw.icmp_code = 0;
    const Flow f = decode_flow(raw);
    EXPECT_EQ(f.family, AF_INET6);
    EXPECT_EQ(f.src, "fe80::1");
    EXPECT_EQ(f.dst, "ff02::1");
    EXPECT_TRUE(f.is_icmp);
    EXPECT_FALSE(f.has_ports);
    EXPECT_EQ(f.icmp_type, 135);
    EXPECT_EQ(f.icmp_code, 0);
}

TEST(DecodeFlow, UnknownProtocolHasNoPorts) {
    const Flow f = decode_flow(flow4({10, 0, 0, 1}, {10, 0, 0, 2}, kGre, 1111, 2222));
    EXPECT_EQ(f.proto, kGre);
    EXPECT_FALSE(f.has_ports);
    EXPECT_FALSE(f.is_icmp);
    EXPECT_EQ(f.sport, 0);
    EXPECT_EQ(f.dport, 0);
}

TEST(DecodeFlow, TruncatedTcpHasNoPorts) {
    nfs_flow raw = tcp_10_0_0_1_to_2();
    raw.flags = NFS_FLOW_TRUNCATED;
    const Flow f = decode_flow(raw);
    EXPECT_TRUE(f.truncated);
    EXPECT_FALSE(f.has_ports);
    EXPECT_EQ(f.src, "10.0.0.1");
    EXPECT_EQ(f.dst, "10.0.0.2");
}

TEST(DecodeFlow, TruncatedIcmpHasNoTypeAndCode) {
    nfs_flow raw = flow4({10, 0, 0, 1}, {10, 0, 0, 2}, kIcmp);
    raw.flags = NFS_FLOW_TRUNCATED;
    const Flow f = decode_flow(raw);
    EXPECT_TRUE(f.truncated);
    EXPECT_FALSE(f.is_icmp);
}

TEST(DecodeFlow, FamilyZeroHasNoAddresses) {
    nfs_flow raw = tcp_10_0_0_1_to_2();
    raw.family = 0;
    const Flow f = decode_flow(raw);
    EXPECT_EQ(f.family, 0);
    EXPECT_EQ(f.src, "");
    EXPECT_EQ(f.dst, "");
}

// --- proto_name and format_flow --------------------------------------------------

TEST(ProtoName, KnownProtocolsAndNumbers) {
    EXPECT_EQ(proto_name(1), "icmp");
    EXPECT_EQ(proto_name(6), "tcp");
    EXPECT_EQ(proto_name(17), "udp");
    EXPECT_EQ(proto_name(33), "dccp");
    EXPECT_EQ(proto_name(58), "icmpv6");
    EXPECT_EQ(proto_name(132), "sctp");
    EXPECT_EQ(proto_name(136), "udplite");
    EXPECT_EQ(proto_name(0), "0");
    EXPECT_EQ(proto_name(47), "47");
    EXPECT_EQ(proto_name(255), "255");
}

TEST(FormatFlow, Ipv4Tcp) {
    EXPECT_EQ(format_flow(decode_flow(tcp_10_0_0_1_to_2())), "10.0.0.1:5000 -> 10.0.0.2:80/tcp");
}

TEST(FormatFlow, Ipv6PortsGetBrackets) {
    EXPECT_EQ(format_flow(decode_flow(flow6(kDoc1, kDoc53, kUdp, 40000, 53))),
              "[2001:db8::1]:40000 -> [2001:db8::53]:53/udp");
}

TEST(FormatFlow, IcmpTypeAndCode) {
    nfs_flow raw = flow4({10, 0, 0, 1}, {10, 0, 0, 2}, kIcmp);
    raw.icmp_type = 8;
    EXPECT_EQ(format_flow(decode_flow(raw)), "10.0.0.1 -> 10.0.0.2/icmp 8/0");
    raw.icmp_type = 3;
    raw.icmp_code = 13;
    EXPECT_EQ(format_flow(decode_flow(raw)), "10.0.0.1 -> 10.0.0.2/icmp 3/13");
}

TEST(FormatFlow, Icmpv6HasNoBrackets) {
    nfs_flow raw = flow6(kLinkLocal1, kAllNodes, kIcmpv6);
    raw.icmp_type = 135;
    EXPECT_EQ(format_flow(decode_flow(raw)), "fe80::1 -> ff02::1/icmpv6 135/0");
}

TEST(FormatFlow, GreByNumber) {
    EXPECT_EQ(format_flow(decode_flow(flow4({10, 0, 0, 1}, {10, 0, 0, 2}, kGre))), "10.0.0.1 -> 10.0.0.2/47");
}

TEST(FormatFlow, TruncatedFlowsHaveNoPortsOrBrackets) {
    nfs_flow v4 = tcp_10_0_0_1_to_2();
    v4.flags = NFS_FLOW_TRUNCATED;
    EXPECT_EQ(format_flow(decode_flow(v4)), "10.0.0.1 -> 10.0.0.2/tcp");
    nfs_flow v6 = flow6(kDoc1, kDoc53, kUdp, 40000, 53);
    v6.flags = NFS_FLOW_TRUNCATED;
    EXPECT_EQ(format_flow(decode_flow(v6)), "2001:db8::1 -> 2001:db8::53/udp");
}

// --- decode_origin -----------------------------------------------------------------

TEST(DecodeOrigin, ProcessSentPacket) {
    const Origin o = decode_origin(curl_origin());
    EXPECT_TRUE(o.local);
    ASSERT_TRUE(o.pid);
    EXPECT_EQ(*o.pid, 1234u);
    EXPECT_EQ(o.tid, 1235u);
    EXPECT_EQ(o.uid, 1000u);
    EXPECT_EQ(o.cgroup_id, 7777u);
    EXPECT_EQ(o.comm, "curl");
    EXPECT_FALSE(o.from_socket_owner);
    EXPECT_EQ(o.in_if, std::nullopt);
    EXPECT_EQ(o.out_if, std::optional<std::string>("eth0"));
}

TEST(DecodeOrigin, HookFoundOnTheStackIsOnePlusTheHook) {
    nfs_drop_origin raw = curl_origin();
    EXPECT_EQ(decode_origin(raw).hook, std::nullopt);  // 0: none found
    raw.stack_hook = 1 + 1;                             // NF_INET_LOCAL_IN
    EXPECT_EQ(decode_origin(raw).hook, std::optional<std::string>("input"));
    raw.stack_hook = 1 + 4;
    EXPECT_EQ(decode_origin(raw).hook, std::optional<std::string>("postrouting"));
    raw.stack_hook = 1 + 5;  // beyond the hooks this binary knows
    EXPECT_EQ(decode_origin(raw).hook, std::nullopt);
}

TEST(DecodeOrigin, WithoutProcessFlagThereIsNoProcess) {
    nfs_drop_origin raw = curl_origin();
    raw.flags = NFS_ORIGIN_LOCAL;  // same stale fields, but not valid
    const Origin o = decode_origin(raw);
    EXPECT_TRUE(o.local);
    EXPECT_EQ(o.pid, std::nullopt);
    EXPECT_EQ(o.tid, 0u);
    EXPECT_EQ(o.uid, 0u);
    EXPECT_EQ(o.cgroup_id, 0u);
    EXPECT_EQ(o.comm, "");
    EXPECT_EQ(o.out_if, std::optional<std::string>("eth0"));
}

TEST(DecodeOrigin, ProcessFromTheSocketOwner) {
    nfs_drop_origin raw = curl_origin();
    raw.flags |= NFS_ORIGIN_FROM_SOCKET;
    EXPECT_TRUE(decode_origin(raw).from_socket_owner);

    raw.flags = NFS_ORIGIN_FROM_SOCKET;  // meaningless without a process
    const Origin o = decode_origin(raw);
    EXPECT_FALSE(o.from_socket_owner);
    EXPECT_EQ(o.pid, std::nullopt);
}

TEST(DecodeOrigin, ReceivedPacketHasInputInterfaceOnly) {
    nfs_drop_origin raw = blank_origin();
    raw.in_ifindex = 5;
    set_chars(raw.in_if, "veth-a", 7);
    set_chars(raw.out_if, "stale", 6);  // out_ifindex 0: not looked at
    const Origin o = decode_origin(raw);
    EXPECT_FALSE(o.local);
    EXPECT_EQ(o.pid, std::nullopt);
    EXPECT_EQ(o.in_if, std::optional<std::string>("veth-a"));
    EXPECT_EQ(o.out_if, std::nullopt);
}

TEST(DecodeOrigin, NoInterfaces) {
    const Origin o = decode_origin(blank_origin());
    EXPECT_EQ(o.in_if, std::nullopt);
    EXPECT_EQ(o.out_if, std::nullopt);
}

TEST(DecodeOrigin, FullLengthNamesWithoutNulStayInTheirField) {
    nfs_drop_origin raw = curl_origin();
    raw.in_ifindex = 9;
    set_chars(raw.comm, "abcdefghijklmnop", NFS_COMM_LEN);
    set_chars(raw.in_if, "IIIIIIIIIIIIIIII", NFS_IFNAME_LEN);
    set_chars(raw.out_if, "OOOOOOOOOOOOOOOO", NFS_IFNAME_LEN);
    const Origin o = decode_origin(raw);
    EXPECT_EQ(o.comm, "abcdefghijklmnop");
    EXPECT_EQ(o.in_if, std::optional<std::string>("IIIIIIIIIIIIIIII"));
    EXPECT_EQ(o.out_if, std::optional<std::string>("OOOOOOOOOOOOOOOO"));
}

// --- hooks and causes ------------------------------------------------------------------

TEST(HookName, InetHooks) {
    EXPECT_EQ(hook_name(0), std::optional<std::string>("prerouting"));
    EXPECT_EQ(hook_name(1), std::optional<std::string>("input"));
    EXPECT_EQ(hook_name(2), std::optional<std::string>("forward"));
    EXPECT_EQ(hook_name(3), std::optional<std::string>("output"));
    EXPECT_EQ(hook_name(4), std::optional<std::string>("postrouting"));
    EXPECT_EQ(hook_name(5), std::nullopt);
    EXPECT_EQ(hook_name(NFS_HOOK_UNKNOWN), std::nullopt);
}

TEST(DropCause, EveryRawValue) {
    EXPECT_EQ(drop_cause_from_raw(NFS_CAUSE_TABLE_FULL), DropCause::table_full);
    EXPECT_EQ(drop_cause_from_raw(NFS_CAUSE_EARLY_DROP), DropCause::early_drop);
    EXPECT_EQ(drop_cause_from_raw(NFS_CAUSE_INSERT_FAILED), DropCause::insert_failed);
    EXPECT_EQ(drop_cause_from_raw(NFS_CAUSE_INVALID), DropCause::invalid);
    EXPECT_EQ(drop_cause_from_raw(NFS_CAUSE_RULE), DropCause::rule);
    EXPECT_EQ(drop_cause_from_raw(NFS_CAUSE_OTHER_CT), DropCause::other_ct);
    EXPECT_EQ(drop_cause_from_raw(NFS_CAUSE_UNKNOWN), DropCause::unknown);
    EXPECT_EQ(drop_cause_from_raw(NFS_CAUSE_HELPER), DropCause::helper);
    EXPECT_EQ(drop_cause_from_raw(0), std::nullopt);
    EXPECT_EQ(drop_cause_from_raw(NFS_CAUSE_MAX), std::nullopt);
    EXPECT_EQ(drop_cause_from_raw(200), std::nullopt);
}

TEST(DropCause, Names) {
    EXPECT_STREQ(to_string(DropCause::table_full), "table_full");
    EXPECT_STREQ(to_string(DropCause::early_drop), "early_drop");
    EXPECT_STREQ(to_string(DropCause::insert_failed), "insert_failed");
    EXPECT_STREQ(to_string(DropCause::invalid), "invalid");
    EXPECT_STREQ(to_string(DropCause::rule), "rule");
    EXPECT_STREQ(to_string(DropCause::other_ct), "other_ct");
    EXPECT_STREQ(to_string(DropCause::unknown), "unknown");
    EXPECT_STREQ(to_string(DropCause::helper), "helper");
}

// --- keys and first-drop records -------------------------------------------------------

TEST(DecodeKey, AllFields) {
    const DropKey k = decode_key(table_full_key());
    EXPECT_EQ(k.netns, 4026531840u);
    EXPECT_EQ(k.cause, DropCause::table_full);
    EXPECT_EQ(k.raw_cause, NFS_CAUSE_TABLE_FULL);
    EXPECT_EQ(k.hook, std::optional<std::string>("output"));
    EXPECT_EQ(k.zone, 7);
    EXPECT_EQ(format_flow(k.flow), "10.0.0.1:5000 -> 10.0.0.2:80/tcp");
}

TEST(DecodeKey, UnknownCauseAndHookKeepTheRawCause) {
    nfs_drop_key raw = table_full_key();
    raw.cause = 42;
    raw.hook = NFS_HOOK_UNKNOWN;
    const DropKey k = decode_key(raw);
    EXPECT_EQ(k.cause, std::nullopt);
    EXPECT_EQ(k.raw_cause, 42);
    EXPECT_EQ(k.hook, std::nullopt);
}

TEST(KeyBytes, EqualKeysEqualBytes) {
    nfs_drop_key a = table_full_key();
    nfs_drop_key b = table_full_key();
    EXPECT_EQ(key_bytes(a), key_bytes(b));
    b.zone = 8;
    EXPECT_NE(key_bytes(a), key_bytes(b));
}

TEST(DecodeFirstDrop, ExactSize) {
    const nfs_drop_event raw = first_drop_event();
    const auto d = decode_first_drop(&raw, sizeof raw);
    ASSERT_TRUE(d);
    EXPECT_EQ(d->ts_boot_ns, 123'456'789'000u);
    EXPECT_EQ(std::memcmp(&d->raw_key, &raw.key, sizeof raw.key), 0);
    ASSERT_TRUE(d->origin.pid);
    EXPECT_EQ(*d->origin.pid, 1234u);
    EXPECT_EQ(d->origin.comm, "curl");
    EXPECT_EQ(d->origin.out_if, std::optional<std::string>("eth0"));
}

TEST(DecodeFirstDrop, UnalignedBufferIsDecoded) {
    const nfs_drop_event raw = first_drop_event();
    std::vector<unsigned char> buf(sizeof raw + 1);
    std::memcpy(buf.data() + 1, &raw, sizeof raw);
    const auto d = decode_first_drop(buf.data() + 1, sizeof raw);
    ASSERT_TRUE(d);
    EXPECT_EQ(d->ts_boot_ns, 123'456'789'000u);
}

TEST(DecodeFirstDrop, WrongSizesAreRejected) {
    const nfs_drop_event raw = first_drop_event();
    std::vector<unsigned char> buf(sizeof raw + 8);
    std::memcpy(buf.data(), &raw, sizeof raw);
    EXPECT_FALSE(decode_first_drop(buf.data(), sizeof raw + 8));
    EXPECT_FALSE(decode_first_drop(buf.data(), sizeof raw - 1));
    EXPECT_FALSE(decode_first_drop(buf.data(), 0));
}
