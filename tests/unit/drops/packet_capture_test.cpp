// SPDX-License-Identifier: GPL-2.0-only
#include "drops/packet_capture.hpp"

#include <gtest/gtest.h>

#include <cstring>
#include <fstream>
#include <iterator>
#include <string>

#include "process/process_output.hpp"
#include "test_support.hpp"
#include "version.hpp"

using namespace nfsleuth;
using nfsleuth_test::cgroup_at;

namespace {

const std::string kContainerId(64, 'c');
const std::string kPodUidSystemd = "0f1e2d3c_4b5a_6978_8796_a5b4c3d2e1f0";

// A UDP drop by a rule at output, sent by `comm`[321] out of lo.
DropRecord rule_drop(const std::string& comm = "nfsl-traffic") {
    DropRecord r;
    r.ts_boot_ns = 5'000'000'000;
    std::memset(&r.raw_key, 0, sizeof r.raw_key);
    r.raw_key.netns_ino = 4026532100u;
    r.raw_key.cause = NFS_CAUSE_RULE;
    r.raw_key.hook = 3;
    r.raw_key.flow.family = NFS_AF_INET_ABI;
    r.raw_key.flow.proto = 17;
    r.raw_key.flow.sport = 40000;
    r.raw_key.flow.dport = 7000;
    r.key = decode_key(r.raw_key);
    r.origin.local = true;
    r.origin.pid = 321;
    r.origin.comm = comm;
    r.origin.out_if = "lo";
    return r;
}

DropContext context(std::optional<std::string> netns_name = "pcap-test") {
    return DropContext{"2026-01-01T00:00:00.000000Z", "tracepoint", std::move(netns_name), std::nullopt, std::nullopt};
}

CapturedPacket packet(const DropRecord& r, uint32_t packet_len, std::size_t captured) {
    CapturedPacket p;
    p.drop = r;
    p.packet_len = packet_len;
    p.bytes = std::string(captured, 'x');
    p.bytes[0] = 0x45;
    return p;
}

std::string read_file(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), {});
}

// Printable ASCII only: one line that no terminal or dissector misreads.
bool printable_ascii(const std::string& s) {
    for (unsigned char c : s)
        if (c < 0x20 || c > 0x7e) return false;
    return true;
}

class PacketCaptureTest : public ::testing::Test {
protected:
    PcapOptions options(uint32_t per_flow = 3, uint32_t per_second = 100, uint32_t snaplen = 128) const {
        PcapOptions o;
        o.file = path_;
        o.per_flow = per_flow;
        o.per_second = per_second;
        o.snaplen = snaplen;
        return o;
    }
    static std::string header() {
        return pcapng_section_header(std::string("nfsleuth ") + version) +
               pcapng_interface(kLinktypeRaw, PcapngFile::kInterfaceSnaplen, "nfsleuth",
                                "packets of flows conntrack dropped");
    }

    nfsleuth_test::TempDir tmp_{"nfsleuth-capture"};
    std::string path_ = (tmp_.path() / "drops.pcapng").string();
};

}  // namespace

// --- the comment -----------------------------------------------------------------

TEST(CaptureComment, NamesCauseNamespaceHookInterfacesAndProcess) {
    EXPECT_EQ(capture_comment(rule_drop(), context()),
              "cause=rule netns=4026532100(pcap-test) hook=output in=- out=lo pid=321 comm=\"nfsl-traffic\"");
}

TEST(CaptureComment, ReceivedPacketWithoutNamesOrHook) {
    DropRecord r = rule_drop();
    r.raw_key.cause = NFS_CAUSE_TABLE_FULL;
    r.raw_key.hook = NFS_HOOK_UNKNOWN;
    r.raw_key.zone = 3;
    r.key = decode_key(r.raw_key);
    r.origin = Origin{};
    r.origin.in_if = "veth0";
    EXPECT_EQ(capture_comment(r, context(std::nullopt)),
              "cause=table_full netns=4026532100 zone=3 hook=- in=veth0 out=-");
}

TEST(CaptureComment, HookFoundOnTheStackWhereTheKeyHasNone) {
    DropRecord r = rule_drop();
    r.raw_key.hook = NFS_HOOK_UNKNOWN;
    r.key = decode_key(r.raw_key);
    r.origin.hook = "input";
    EXPECT_NE(capture_comment(r, context()).find(" hook=input "), std::string::npos);
}

TEST(CaptureComment, UnknownCauseByNumber) {
    DropRecord r = rule_drop();
    r.raw_key.cause = 42;
    r.key = decode_key(r.raw_key);
    EXPECT_EQ(capture_comment(r, context()).rfind("cause=cause_42 ", 0), 0u);
}

TEST(CaptureComment, HostileNamesStayOnePrintableLine) {
    // A comm with a quote, a newline, an escape sequence and bytes that
    // are not UTF-8; a namespace and interfaces named likewise.
    DropRecord r = rule_drop(std::string("a\"b\nc\x1b[31m\xff\xfe"));
    r.origin.in_if = std::string("e\rth\x7f");
    r.origin.out_if = std::string("o\tut\xc3");
    const std::string comment = capture_comment(r, context(std::string("ns\n) pid=1")));
    EXPECT_TRUE(printable_ascii(comment)) << comment;
    EXPECT_EQ(comment,
              "cause=rule netns=4026532100(ns\\n) pid=1) hook=output in=e\\rth\\x7f out=o\\tut\\xc3 pid=321 "
              "comm=\"a\\\"b\\nc\\x1b[31m\\xff\\xfe\"");
}

TEST(CaptureComment, ContainerAndPodOfTheSender) {
    DropContext c = context();
    c.cgroup = cgroup_at("/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod" + kPodUidSystemd +
                         ".slice/cri-containerd-" + kContainerId + ".scope");
    const std::string comment = capture_comment(rule_drop(), c);
    EXPECT_EQ(comment, "cause=rule netns=4026532100(pcap-test) hook=output in=- out=lo pid=321 comm=\"nfsl-traffic\"" +
                           workload_words(c.cgroup->workload));
    EXPECT_NE(comment.find(" container=containerd:"), std::string::npos);
    EXPECT_NE(comment.find(" pod="), std::string::npos);
}

// --- the file --------------------------------------------------------------------

TEST_F(PacketCaptureTest, CreatesAValidEmptyFileAtOnce) {
    PacketCapture capture(options());
    const std::string empty = read_file(path_);
    EXPECT_EQ(empty, header());
    const CaptureAccounting a = capture.accounting();
    EXPECT_EQ(a.path, path_);
    EXPECT_EQ(a.written, 0u);
    EXPECT_EQ(a.bytes, empty.size());
}

TEST_F(PacketCaptureTest, WritesAdmittedPacketsWithBootTimeAsUnixTimeAndTheComment) {
    const int64_t offset = 1'700'000'000'000'000'000;  // realtime - boottime
    PacketCapture capture(options(), BootClock(offset));
    const CapturedPacket p = packet(rule_drop(), 228, 128);
    ASSERT_TRUE(capture.admit(p));
    capture.write(p, context());
    EXPECT_EQ(read_file(path_), header() + pcapng_packet(0, 1'700'000'005'000'000'000u, 228, p.bytes,
                                                         capture_comment(p.drop, context())));
    EXPECT_EQ(capture.accounting().written, 1u);
}

TEST_F(PacketCaptureTest, SnaplenCutsWhatTheKernelSent) {
    PacketCapture capture(options(3, 100, 64), BootClock(0));
    const CapturedPacket p = packet(rule_drop(), 228, 128);
    ASSERT_TRUE(capture.admit(p));
    capture.write(p, context());
    EXPECT_EQ(read_file(path_),
              header() +
                  pcapng_packet(0, 5'000'000'000u, 228, p.bytes.substr(0, 64), capture_comment(p.drop, context())));
}

TEST_F(PacketCaptureTest, AFewPacketsPerFlow) {
    PacketCapture capture(options(3), BootClock(0));
    DropRecord a = rule_drop();
    DropRecord b = rule_drop();
    b.raw_key.flow.sport = 40001;
    int admitted = 0;
    for (int i = 0; i < 5; ++i) admitted += capture.admit(packet(a, 100, 100));
    for (int i = 0; i < 2; ++i) admitted += capture.admit(packet(b, 100, 100));
    EXPECT_EQ(admitted, 5);
    const CaptureAccounting acc = capture.accounting();
    EXPECT_EQ(acc.skipped_flow, 2u);
    EXPECT_EQ(acc.skipped_rate, 0u);
}

TEST_F(PacketCaptureTest, ABoundedNumberPerSecond) {
    PacketCapture capture(options(3, 2), BootClock(0));
    DropRecord r = rule_drop();
    int admitted = 0;
    for (uint16_t port = 1; port <= 3; ++port) {
        r.raw_key.flow.sport = port;
        admitted += capture.admit(packet(r, 100, 100));
    }
    EXPECT_EQ(admitted, 2);
    EXPECT_EQ(capture.accounting().skipped_rate, 1u);
    r.ts_boot_ns += 1'000'000'000;  // the next second
    EXPECT_TRUE(capture.admit(packet(r, 100, 100)));
}

TEST_F(PacketCaptureTest, UnreadableAndMalformedAreCountedNotWritten) {
    PacketCapture capture(options(), BootClock(0));
    CapturedPacket p = packet(rule_drop(), 0, 0);
    p.unreadable = true;
    EXPECT_FALSE(capture.admit(p));
    capture.count_malformed();
    const CaptureAccounting a = capture.accounting();
    EXPECT_EQ(a.unreadable, 1u);
    EXPECT_EQ(a.malformed, 1u);
    EXPECT_EQ(a.written, 0u);
    EXPECT_EQ(read_file(path_), header());
}

TEST_F(PacketCaptureTest, GivenUpSaysWhyEverywhere) {
    PacketCapture capture(options(3, 100, 128), BootClock(0));
    EXPECT_TRUE(capture.available());
    capture.give_up("the kernel refused the programs that read packets");
    EXPECT_FALSE(capture.available());
    EXPECT_EQ(capture.describe(),
              path_ + ": no packet bytes, the file stays empty: the kernel refused the programs that read packets");
    const CaptureAccounting a = capture.accounting();
    EXPECT_EQ(a.unavailable, "the kernel refused the programs that read packets");
    EXPECT_EQ(to_json(a)["unavailable"], "the kernel refused the programs that read packets");
    EXPECT_EQ(to_human_line(a), "Pcap " + path_ + ": no packet bytes: the kernel refused the programs that read packets");
    // Still a valid, empty capture.
    EXPECT_EQ(read_file(path_), header());
}

TEST_F(PacketCaptureTest, DescribesTheFileAndItsLimits) {
    PacketCapture capture(options(2, 10, 60), BootClock(0));
    EXPECT_EQ(capture.describe(),
              path_ + " (the first 60 bytes of the first 2 dropped packets of each flow, at most 10 a second)");
}

TEST_F(PacketCaptureTest, UncreatableFileIsAFailureNamingIt) {
    PcapOptions o = options();
    o.file = (tmp_.path() / "missing" / "drops.pcapng").string();
    const Failure f = nfsleuth_test::failure_of([&] { PacketCapture capture(o); });
    EXPECT_EQ(f.code(), ExitCode::failure);
    EXPECT_NE(std::string(f.what()).find(*o.file), std::string::npos) << f.what();
    EXPECT_FALSE(f.remedy().empty());
}

// --- the accounting ------------------------------------------------------------------

TEST(CaptureAccountingOutput, JsonAndText) {
    CaptureAccounting a{"/tmp/d.pcapng", 15, 35, 2, 1, 0, 0, 0, 4096, std::nullopt};
    EXPECT_EQ(to_json(a).dump(),
              R"({"file":"/tmp/d.pcapng","written":15,"skipped_flow":35,"skipped_rate":2,"lost":1,"unreadable":0,)"
              R"("malformed":0,"write_errors":0,"bytes":4096,"unavailable":null})");
    EXPECT_EQ(to_human_line(a),
              "Pcap /tmp/d.pcapng: 15 packets written, 35 skipped (--pcap-per-flow), 2 skipped (--pcap-per-second), 1 "
              "lost (ring buffer full)");
    a.unreadable = 3;
    a.write_errors = 4;
    EXPECT_EQ(to_human_line(a),
              "Pcap /tmp/d.pcapng: 15 packets written, 35 skipped (--pcap-per-flow), 2 skipped (--pcap-per-second), 1 "
              "lost (ring buffer full), 3 unreadable, 4 not written (I/O errors)");
}
