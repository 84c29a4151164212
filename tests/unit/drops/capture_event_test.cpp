// SPDX-License-Identifier: GPL-2.0-only
#include "drops/capture_event.hpp"

#include <gtest/gtest.h>
#include <sys/socket.h>

#include <cstring>
#include <string>
#include <vector>

using namespace nfsleuth;

namespace {

// A readable capture record as the BPF side writes it: a UDP packet of
// 228 bytes dropped by a rule at output, its first 128 bytes captured.
nfs_capture_event udp_capture() {
    nfs_capture_event ev;
    std::memset(&ev, 0, sizeof ev);
    ev.ts_boot_ns = 42'000'000'123;
    ev.key.netns_ino = 4026532100u;
    ev.key.cause = NFS_CAUSE_RULE;
    ev.key.hook = 3;  // NF_INET_LOCAL_OUT
    ev.key.flow.family = NFS_AF_INET_ABI;
    ev.key.flow.proto = 17;
    const uint8_t src[] = {10, 0, 0, 1}, dst[] = {10, 0, 0, 2};
    std::memcpy(ev.key.flow.saddr, src, sizeof src);
    std::memcpy(ev.key.flow.daddr, dst, sizeof dst);
    ev.key.flow.sport = 40000;
    ev.key.flow.dport = 7000;
    ev.origin.flags = NFS_ORIGIN_LOCAL | NFS_ORIGIN_PROCESS;
    ev.origin.pid = 321;
    std::memcpy(ev.origin.comm, "nfsl-traffic", 13);
    ev.origin.out_ifindex = 1;
    std::memcpy(ev.origin.out_if, "lo", 3);
    ev.packet_len = 228;
    ev.captured_len = 128;
    for (std::size_t i = 0; i < sizeof ev.data; ++i) ev.data[i] = static_cast<uint8_t>(i);
    ev.data[0] = 0x45;
    return ev;
}

// The record in 8-byte aligned memory, as ring buffer records are.
std::optional<CapturedPacket> decode(const nfs_capture_event& ev, std::size_t size = sizeof(nfs_capture_event)) {
    std::vector<uint64_t> aligned(sizeof ev / 8 + 1);
    std::memcpy(aligned.data(), &ev, sizeof ev);
    return decode_capture(aligned.data(), size);
}

}  // namespace

TEST(DecodeCapture, ReadableRecord) {
    auto p = decode(udp_capture());
    ASSERT_TRUE(p);
    EXPECT_FALSE(p->unreadable);
    EXPECT_EQ(p->packet_len, 228u);
    ASSERT_EQ(p->bytes.size(), 128u);
    EXPECT_EQ(static_cast<uint8_t>(p->bytes[0]), 0x45);
    EXPECT_EQ(static_cast<uint8_t>(p->bytes[127]), 127);
    EXPECT_EQ(p->drop.ts_boot_ns, 42'000'000'123u);
    EXPECT_EQ(p->drop.key.netns, 4026532100u);
    EXPECT_EQ(p->drop.key.cause, DropCause::rule);
    EXPECT_EQ(p->drop.key.hook, "output");
    EXPECT_EQ(p->drop.key.flow.family, AF_INET);
    EXPECT_EQ(p->drop.key.flow.src, "10.0.0.1");
    EXPECT_EQ(p->drop.key.flow.dport, 7000);
    EXPECT_EQ(p->drop.origin.pid, 321u);
    EXPECT_EQ(p->drop.origin.comm, "nfsl-traffic");
    EXPECT_EQ(p->drop.origin.out_if, "lo");
    // The raw key is kept for the per-flow limit, which counts by it.
    EXPECT_EQ(key_bytes(p->drop.raw_key), key_bytes(udp_capture().key));
    // A capture adds no drops to any count.
    EXPECT_EQ(p->drop.count, 0u);
    EXPECT_FALSE(p->drop.first);
}

TEST(DecodeCapture, WholeSmallPacket) {
    nfs_capture_event ev = udp_capture();
    ev.packet_len = 64;
    ev.captured_len = 64;
    auto p = decode(ev);
    ASSERT_TRUE(p);
    EXPECT_EQ(p->bytes.size(), 64u);
    EXPECT_EQ(p->packet_len, 64u);
}

TEST(DecodeCapture, AsManyBytesAsTheRecordHolds) {
    nfs_capture_event ev = udp_capture();
    ev.packet_len = 1500;
    ev.captured_len = NFS_CAPTURE_MAX;
    auto p = decode(ev);
    ASSERT_TRUE(p);
    EXPECT_EQ(p->bytes.size(), static_cast<std::size_t>(NFS_CAPTURE_MAX));
}

TEST(DecodeCapture, TruncatedOrOversizeRecordsAreRefused) {
    const nfs_capture_event ev = udp_capture();
    EXPECT_FALSE(decode(ev, 0));
    EXPECT_FALSE(decode(ev, sizeof ev - 1));
    EXPECT_FALSE(decode(ev, sizeof ev - NFS_CAPTURE_MAX));  // a header without its data
    EXPECT_FALSE(decode(ev, sizeof ev + 8));
}

TEST(DecodeCapture, MoreCapturedThanTheRecordHoldsIsRefused) {
    nfs_capture_event ev = udp_capture();
    ev.packet_len = 100000;
    ev.captured_len = NFS_CAPTURE_MAX + 1;
    EXPECT_FALSE(decode(ev));
    ev.captured_len = 0xffffffffu;
    EXPECT_FALSE(decode(ev));
}

TEST(DecodeCapture, MoreCapturedThanThePacketHasIsRefused) {
    nfs_capture_event ev = udp_capture();
    ev.packet_len = 100;
    ev.captured_len = 101;
    EXPECT_FALSE(decode(ev));
}

TEST(DecodeCapture, EmptyPacketIsRefused) {
    nfs_capture_event ev = udp_capture();
    ev.packet_len = 0;
    ev.captured_len = 0;
    EXPECT_FALSE(decode(ev));
}

TEST(DecodeCapture, UnreadablePacketCarriesNoBytes) {
    nfs_capture_event ev = udp_capture();
    ev.flags = NFS_CAPTURE_UNREADABLE;
    ev.packet_len = 0;
    ev.captured_len = 0;
    auto p = decode(ev);
    ASSERT_TRUE(p);
    EXPECT_TRUE(p->unreadable);
    EXPECT_TRUE(p->bytes.empty());
    EXPECT_EQ(p->drop.key.cause, DropCause::rule);
}

TEST(DecodeCapture, UnreadablePacketWithBytesIsRefused) {
    nfs_capture_event ev = udp_capture();
    ev.flags = NFS_CAPTURE_UNREADABLE;
    EXPECT_FALSE(decode(ev));
}
