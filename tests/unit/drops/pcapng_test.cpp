// SPDX-License-Identifier: GPL-2.0-only
#include "drops/pcapng.hpp"

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <bit>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <initializer_list>
#include <iterator>
#include <stdexcept>
#include <string>

#include "test_support.hpp"

using namespace nfsleuth;

namespace {

// The expected blocks below are spelled out byte by byte as a little-endian
// host writes them.
static_assert(std::endian::native == std::endian::little, "expected bytes are little-endian");

std::string bytes(std::initializer_list<int> values) {
    std::string out;
    for (int v : values) out.push_back(static_cast<char>(v));
    return out;
}

// "0a0d0d0a 34000000 ...": a readable diff when a block differs.
std::string hex(const std::string& data) {
    std::string out;
    char buf[3];
    for (std::size_t i = 0; i < data.size(); ++i) {
        if (i > 0 && i % 4 == 0) out += ' ';
        std::snprintf(buf, sizeof buf, "%02x", static_cast<unsigned char>(data[i]));
        out += buf;
    }
    return out;
}

uint16_t u16_at(const std::string& data, std::size_t offset) {
    uint16_t v;
    std::memcpy(&v, data.data() + offset, sizeof v);
    return v;
}

uint32_t u32_at(const std::string& data, std::size_t offset) {
    uint32_t v;
    std::memcpy(&v, data.data() + offset, sizeof v);
    return v;
}

std::string read_file(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), {});
}

// The header of an enhanced packet block up to its packet data.
constexpr std::size_t kPacketHeaderSize = 28;

// ---------------------------------------------------------------- encoding

TEST(PcapngEncoding, SectionHeaderBlock) {
    std::string expected = bytes({
        0x0a, 0x0d, 0x0d, 0x0a,                          // block type
        0x34, 0x00, 0x00, 0x00,                          // total length 52
        0x4d, 0x3c, 0x2b, 0x1a,                          // byte-order magic
        0x01, 0x00, 0x00, 0x00,                          // version 1.0
        0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,  // section length -1
        0x04, 0x00, 0x0d, 0x00,                          // shb_userappl, 13 bytes
        'n', 'f', 's', 'l', 'e', 'u', 't', 'h', '-', 't', 'e', 's', 't', 0x00, 0x00, 0x00,
        0x00, 0x00, 0x00, 0x00,  // opt_endofopt
        0x34, 0x00, 0x00, 0x00,  // total length again
    });
    EXPECT_EQ(hex(pcapng_section_header("nfsleuth-test")), hex(expected));
}

TEST(PcapngEncoding, InterfaceDescriptionBlock) {
    std::string expected = bytes({
        0x01, 0x00, 0x00, 0x00,  // block type
        0x38, 0x00, 0x00, 0x00,  // total length 56
        0x65, 0x00, 0x00, 0x00,  // LINKTYPE_RAW, reserved
        0xff, 0xff, 0x00, 0x00,  // snaplen 65535
        0x02, 0x00, 0x08, 0x00,  // if_name, 8 bytes: no padding
        'n', 'f', 's', 'l', 'e', 'u', 't', 'h',
        0x03, 0x00, 0x05, 0x00,  // if_description, 5 bytes
        'd', 'r', 'o', 'p', 's', 0x00, 0x00, 0x00,
        0x09, 0x00, 0x01, 0x00,  // if_tsresol, 1 byte
        0x09, 0x00, 0x00, 0x00,  // 10^-9: nanoseconds
        0x00, 0x00, 0x00, 0x00,  // opt_endofopt
        0x38, 0x00, 0x00, 0x00,  // total length again
    });
    EXPECT_EQ(hex(pcapng_interface(kLinktypeRaw, 65535, "nfsleuth", "drops")), hex(expected));
}

TEST(PcapngEncoding, InterfaceOfAnotherLinktype) {
    std::string block = pcapng_interface(kLinktypeEthernet, 128, "eth0", "");
    EXPECT_EQ(u16_at(block, 8), 1);
    EXPECT_EQ(u32_at(block, 12), 128u);
    // An empty description is an option of length 0.
    EXPECT_EQ(u16_at(block, 24), 3);
    EXPECT_EQ(u16_at(block, 26), 0);
}

TEST(PcapngEncoding, PacketBlockWithoutComment) {
    std::string expected = bytes({
        0x06, 0x00, 0x00, 0x00,  // block type
        0x2c, 0x00, 0x00, 0x00,  // total length 44
        0x00, 0x00, 0x00, 0x00,  // interface 0
        0xfe, 0x9c, 0x97, 0x17,  // timestamp, high 32 bits
        0x15, 0xcd, 0x85, 0x3d,  // timestamp, low 32 bits
        0x05, 0x00, 0x00, 0x00,  // captured length
        0x1c, 0x00, 0x00, 0x00,  // original length 28
        0x45, 0x00, 0x00, 0x1c, 0x01, 0x00, 0x00, 0x00,  // 5 bytes of data, padded
        0x00, 0x00, 0x00, 0x00,  // opt_endofopt
        0x2c, 0x00, 0x00, 0x00,  // total length again
    });
    std::string block = pcapng_packet(0, 1700000000123456789u, 28, bytes({0x45, 0x00, 0x00, 0x1c, 0x01}), "");
    EXPECT_EQ(hex(block), hex(expected));
}

TEST(PcapngEncoding, PacketBlockWithComment) {
    std::string expected = bytes({
        0x06, 0x00, 0x00, 0x00,  // block type
        0x40, 0x00, 0x00, 0x00,  // total length 64
        0x07, 0x00, 0x00, 0x00,  // interface 7
        0x67, 0x45, 0x23, 0x01,  // timestamp 0x0123456789abcdef, high 32 bits
        0xef, 0xcd, 0xab, 0x89,  // low 32 bits
        0x06, 0x00, 0x00, 0x00,  // captured length
        0x00, 0x04, 0x00, 0x00,  // original length 1024
        0x60, 0x00, 0x00, 0x00, 0x00, 0x08, 0x00, 0x00,  // 6 bytes of data, padded
        0x01, 0x00, 0x0d, 0x00,  // opt_comment, 13 bytes
        'c', 'a', 'u', 's', 'e', '=', 'i', 'n', 'v', 'a', 'l', 'i', 'd', 0x00, 0x00, 0x00,
        0x00, 0x00, 0x00, 0x00,  // opt_endofopt
        0x40, 0x00, 0x00, 0x00,  // total length again
    });
    std::string block =
        pcapng_packet(7, 0x0123456789abcdefu, 1024, bytes({0x60, 0x00, 0x00, 0x00, 0x00, 0x08}), "cause=invalid");
    EXPECT_EQ(hex(block), hex(expected));
}

TEST(PcapngEncoding, PacketDataOfEveryLengthModuloFourIsPadded) {
    for (std::size_t size = 0; size <= 8; ++size) {
        std::string block = pcapng_packet(0, 0, 100, std::string(size, 'x'), "");
        std::size_t padded = (size + 3) / 4 * 4;
        ASSERT_EQ(block.size(), kPacketHeaderSize + padded + 4 + 4) << size;
        EXPECT_EQ(u32_at(block, 4), block.size()) << size;
        EXPECT_EQ(u32_at(block, block.size() - 4), block.size()) << size;
        EXPECT_EQ(u32_at(block, 20), size) << size;
        EXPECT_EQ(block.substr(kPacketHeaderSize + size, padded - size), std::string(padded - size, '\0')) << size;
    }
}

TEST(PcapngEncoding, CommentOfEveryLengthModuloFourIsPadded) {
    for (std::size_t size = 1; size <= 8; ++size) {
        std::string comment(size, 'c');
        std::string block = pcapng_packet(0, 0, 4, "abcd", comment);
        std::size_t padded = (size + 3) / 4 * 4;
        std::size_t option = kPacketHeaderSize + 4;
        ASSERT_EQ(block.size(), option + 4 + padded + 4 + 4) << size;
        EXPECT_EQ(u16_at(block, option), 1) << size;
        EXPECT_EQ(u16_at(block, option + 2), size) << size;
        EXPECT_EQ(block.substr(option + 4, size), comment) << size;
        EXPECT_EQ(block.substr(option + 4 + size, padded - size), std::string(padded - size, '\0')) << size;
        EXPECT_EQ(u32_at(block, option + 4 + padded), 0u) << size;  // opt_endofopt
        EXPECT_EQ(u32_at(block, block.size() - 4), block.size()) << size;
    }
}

TEST(PcapngEncoding, OriginalLengthIsNeverBelowCapturedLength) {
    std::string block = pcapng_packet(0, 0, 2, "12345", "");
    EXPECT_EQ(u32_at(block, 20), 5u);
    EXPECT_EQ(u32_at(block, 24), 5u);
}

TEST(PcapngEncoding, TimestampSplitsIntoHighAndLowWords) {
    std::string block = pcapng_packet(0, (uint64_t{5} << 32) | 3, 0, "", "");
    EXPECT_EQ(u32_at(block, 12), 5u);
    EXPECT_EQ(u32_at(block, 16), 3u);
}

// ---------------------------------------------------------------- comment cut

// The comment option of a packet block with no data.
std::string comment_of(const std::string& block) {
    uint16_t length = u16_at(block, kPacketHeaderSize + 2);
    return block.substr(kPacketHeaderSize + 4, length);
}

void expect_well_formed_packet(const std::string& block) {
    ASSERT_GE(block.size(), kPacketHeaderSize + 8);
    EXPECT_EQ(block.size() % 4, 0u);
    EXPECT_EQ(u32_at(block, 4), block.size());
    EXPECT_EQ(u32_at(block, block.size() - 4), block.size());
    // The comment, padded, is followed by opt_endofopt and the trailer.
    std::size_t length = u16_at(block, kPacketHeaderSize + 2);
    std::size_t end_of_options = kPacketHeaderSize + 4 + (length + 3) / 4 * 4;
    EXPECT_EQ(end_of_options + 8, block.size());
    EXPECT_EQ(u32_at(block, end_of_options), 0u);
}

TEST(PcapngComment, LongestCommentIsKeptWhole) {
    std::string comment(65535, 'a');
    std::string block = pcapng_packet(0, 0, 0, "", comment);
    expect_well_formed_packet(block);
    EXPECT_EQ(comment_of(block), comment);
}

TEST(PcapngComment, LongerAsciiCommentIsCutAtTheLimit) {
    std::string comment(70000, 'a');
    std::string block = pcapng_packet(0, 0, 0, "", comment);
    expect_well_formed_packet(block);
    EXPECT_EQ(comment_of(block), std::string(65535, 'a'));
}

TEST(PcapngComment, CutNeverSplitsATwoByteCharacter) {
    // "é" (c3 a9) would straddle the limit: it goes whole.
    std::string comment = std::string(65534, 'a') + "\xc3\xa9" + "tail";
    std::string block = pcapng_packet(0, 0, 0, "", comment);
    expect_well_formed_packet(block);
    EXPECT_EQ(comment_of(block), std::string(65534, 'a'));
}

TEST(PcapngComment, CutNeverSplitsAFourByteCharacter) {
    // U+1F600 (f0 9f 98 80) at 65533..65536: the limit falls on its third byte.
    std::string comment = std::string(65533, 'a') + "\xf0\x9f\x98\x80";
    std::string block = pcapng_packet(0, 0, 0, "", comment);
    expect_well_formed_packet(block);
    EXPECT_EQ(comment_of(block), std::string(65533, 'a'));
}

TEST(PcapngComment, CharacterEndingAtTheLimitIsKept) {
    std::string comment = std::string(65531, 'a') + "\xf0\x9f\x98\x80" + "b";
    std::string block = pcapng_packet(0, 0, 0, "", comment);
    expect_well_formed_packet(block);
    EXPECT_EQ(comment_of(block), comment.substr(0, 65535));
}

TEST(PcapngComment, OtherStringOptionsAreCutToo) {
    std::string block = pcapng_section_header(std::string(65534, 'a') + "\xc3\xa9");
    EXPECT_EQ(u16_at(block, 26), 65534);
    EXPECT_EQ(u32_at(block, 4), block.size());
    EXPECT_EQ(u32_at(block, block.size() - 4), block.size());
}

// ---------------------------------------------------------------- file

class PcapngFileTest : public ::testing::Test {
protected:
    std::string path(const std::string& name) const { return (tmp_.path() / name).string(); }

    nfsleuth_test::TempDir tmp_{"nfsleuth-pcapng"};
};

std::string file_header(std::string_view application) {
    return pcapng_section_header(application) +
           pcapng_interface(kLinktypeRaw, 65535, "nfsleuth", "packets of flows conntrack dropped");
}

TEST_F(PcapngFileTest, WritesHeaderInterfaceAndPackets) {
    std::string file = path("drops.pcapng");
    std::string ipv4 = bytes({0x45, 0x00, 0x00, 0x1c, 0x00, 0x01, 0x00, 0x00, 0x40, 0x11});
    std::string ipv6 = bytes({0x60, 0x00, 0x00, 0x00, 0x00, 0x14, 0x06});
    {
        PcapngFile out = PcapngFile::create(file, "nfsleuth-test");
        out.write_packet(1700000000000000001u, 28, ipv4, "cause=table_full comm=\"curl\"");
        out.write_packet(1700000000000000002u, 60, ipv6, "");
        out.flush();
        EXPECT_EQ(out.packets_written(), 2u);
        EXPECT_EQ(out.path(), file);

        std::string expected = file_header("nfsleuth-test") +
                               pcapng_packet(0, 1700000000000000001u, 28, ipv4, "cause=table_full comm=\"curl\"") +
                               pcapng_packet(0, 1700000000000000002u, 60, ipv6, "");
        std::string written = read_file(file);
        EXPECT_EQ(hex(written), hex(expected));
        EXPECT_EQ(out.bytes_written(), written.size());
    }

    mode_t umask_now = ::umask(0);
    ::umask(umask_now);
    struct stat st {};
    ASSERT_EQ(::stat(file.c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, 0640 & ~umask_now);
}

TEST_F(PcapngFileTest, TruncatesAnExistingFile) {
    std::string file = path("old.pcapng");
    std::ofstream(file) << std::string(1000, 'x');
    PcapngFile out = PcapngFile::create(file, "nfsleuth");
    EXPECT_EQ(read_file(file), file_header("nfsleuth"));
    EXPECT_EQ(out.bytes_written(), file_header("nfsleuth").size());
    EXPECT_EQ(out.packets_written(), 0u);
}

TEST_F(PcapngFileTest, CapturedBytesBeyondTheInterfaceSnaplenAreLeftOut) {
    std::string file = path("big.pcapng");
    PcapngFile out = PcapngFile::create(file, "nfsleuth");
    std::string huge(70000, 'p');
    out.write_packet(1, 70000, huge, "big");
    EXPECT_EQ(read_file(file), file_header("nfsleuth") + pcapng_packet(0, 1, 70000, huge.substr(0, 65535), "big"));
}

TEST_F(PcapngFileTest, MovedFileKeepsWriting) {
    std::string file = path("moved.pcapng");
    PcapngFile first = PcapngFile::create(file, "nfsleuth");
    first.write_packet(1, 4, "abcd", "one");
    PcapngFile second = std::move(first);
    second.write_packet(2, 4, "efgh", "two");
    EXPECT_EQ(second.packets_written(), 2u);
    EXPECT_EQ(read_file(file), file_header("nfsleuth") + pcapng_packet(0, 1, 4, "abcd", "one") +
                                   pcapng_packet(0, 2, 4, "efgh", "two"));
}

TEST_F(PcapngFileTest, UncreatableFileIsNamedInTheError) {
    std::string file = path("missing/dir/drops.pcapng");
    try {
        PcapngFile::create(file, "nfsleuth");
        FAIL() << "no exception";
    } catch (const std::runtime_error& e) {
        std::string what = e.what();
        EXPECT_NE(what.find(file), std::string::npos) << what;
        EXPECT_NE(what.find("No such file or directory (ENOENT)"), std::string::npos) << what;
    }
}

TEST(PcapngFileErrors, WriteErrorIsReported) {
    if (::access("/dev/full", W_OK) != 0) GTEST_SKIP() << "no /dev/full here";
    try {
        PcapngFile::create("/dev/full", "nfsleuth");
        FAIL() << "no exception";
    } catch (const std::runtime_error& e) {
        std::string what = e.what();
        EXPECT_NE(what.find("/dev/full"), std::string::npos) << what;
        EXPECT_NE(what.find("ENOSPC"), std::string::npos) << what;
    }
}

// A block the file size limit cuts short is taken off again, so that the
// packets after it are still readable. Runs in a child: the limit and the
// ignored SIGXFSZ must not outlive the test.
TEST_F(PcapngFileTest, PartlyWrittenBlockIsCutOff) {
    std::string file = path("limited.pcapng");
    std::string small = pcapng_packet(0, 1, 4, "abcd", "small");
    std::string large = pcapng_packet(0, 2, 200, std::string(200, 'L'), "large");
    std::string header = file_header("nfsleuth");

    pid_t child = ::fork();
    ASSERT_GE(child, 0);
    if (child == 0) {
        ::signal(SIGXFSZ, SIG_IGN);
        struct rlimit limit {};
        limit.rlim_cur = limit.rlim_max = header.size() + small.size() + 100;
        if (::setrlimit(RLIMIT_FSIZE, &limit) != 0) ::_exit(10);
        try {
            PcapngFile out = PcapngFile::create(file, "nfsleuth");
            out.write_packet(1, 4, "abcd", "small");
            try {
                out.write_packet(2, 200, std::string(200, 'L'), "large");
                ::_exit(11);
            } catch (const std::runtime_error& e) {
                if (std::string(e.what()).find("EFBIG") == std::string::npos) ::_exit(12);
            }
            if (out.bytes_written() != header.size() + small.size()) ::_exit(13);
            out.write_packet(1, 4, "abcd", "small");
            if (out.packets_written() != 2) ::_exit(14);
        } catch (...) {
            ::_exit(15);
        }
        ::_exit(0);
    }
    int status = 0;
    ASSERT_EQ(::waitpid(child, &status, 0), child);
    ASSERT_TRUE(WIFEXITED(status));
    ASSERT_EQ(WEXITSTATUS(status), 0);
    EXPECT_EQ(hex(read_file(file)), hex(header + small + small));
}

// ---------------------------------------------------------------- limiter

constexpr uint64_t kSecond = 1'000'000'000;

CaptureLimits limits(uint32_t per_flow, uint32_t per_second, std::size_t max_flows = 4096) {
    CaptureLimits l;
    l.packets_per_flow = per_flow;
    l.packets_per_second = per_second;
    l.max_flows = max_flows;
    return l;
}

TEST(CaptureLimiter, Defaults) {
    CaptureLimits l;
    EXPECT_EQ(l.packets_per_flow, 3u);
    EXPECT_EQ(l.packets_per_second, 100u);
    EXPECT_EQ(l.max_flows, 4096u);
}

TEST(CaptureLimiter, AdmitsAFewPacketsPerFlow) {
    CaptureLimiter limiter(limits(3, 100));
    EXPECT_TRUE(limiter.admit("a", 0));
    EXPECT_TRUE(limiter.admit("a", 1));
    EXPECT_TRUE(limiter.admit("a", 2));
    EXPECT_FALSE(limiter.admit("a", 3));
    EXPECT_FALSE(limiter.admit("a", 10 * kSecond));  // a new second does not renew a flow
    EXPECT_TRUE(limiter.admit("b", 10 * kSecond));

    EXPECT_EQ(limiter.admitted(), 4u);
    EXPECT_EQ(limiter.skipped_per_flow(), 2u);
    EXPECT_EQ(limiter.skipped_rate(), 0u);
    EXPECT_EQ(limiter.flows_remembered(), 2u);
}

TEST(CaptureLimiter, AdmitsAFewPacketsPerSecondAcrossWindows) {
    CaptureLimiter limiter(limits(100, 2));
    // The first window starts with the first packet, at 0.2 s.
    EXPECT_TRUE(limiter.admit("a", kSecond / 5));
    EXPECT_TRUE(limiter.admit("b", kSecond / 2));
    EXPECT_FALSE(limiter.admit("c", kSecond));
    EXPECT_FALSE(limiter.admit("c", kSecond + kSecond / 5 - 1));
    // 1.2 s: a second after the window's start, the next one begins.
    EXPECT_TRUE(limiter.admit("c", kSecond + kSecond / 5));
    EXPECT_TRUE(limiter.admit("d", 2 * kSecond));
    EXPECT_FALSE(limiter.admit("e", 2 * kSecond + kSecond / 10));
    // After a quiet spell the window starts at the next packet (5.7 s), not
    // on a whole second.
    EXPECT_TRUE(limiter.admit("e", 5 * kSecond + 7 * kSecond / 10));
    EXPECT_TRUE(limiter.admit("f", 6 * kSecond + kSecond / 2));
    EXPECT_FALSE(limiter.admit("g", 6 * kSecond + 6 * kSecond / 10));
    EXPECT_TRUE(limiter.admit("g", 6 * kSecond + 7 * kSecond / 10));

    EXPECT_EQ(limiter.admitted(), 7u);
    EXPECT_EQ(limiter.skipped_rate(), 4u);
    EXPECT_EQ(limiter.skipped_per_flow(), 0u);
}

TEST(CaptureLimiter, EarlierTimestampCountsInTheCurrentWindow) {
    CaptureLimiter limiter(limits(100, 2));
    EXPECT_TRUE(limiter.admit("a", 10 * kSecond));
    EXPECT_TRUE(limiter.admit("b", 10 * kSecond - 5));
    EXPECT_FALSE(limiter.admit("c", 9 * kSecond));
    EXPECT_EQ(limiter.skipped_rate(), 1u);
}

TEST(CaptureLimiter, RateSkippedPacketsDoNotUseTheFlowsShare) {
    CaptureLimiter limiter(limits(1, 1));
    EXPECT_TRUE(limiter.admit("a", 0));
    EXPECT_FALSE(limiter.admit("b", 1));
    EXPECT_TRUE(limiter.admit("b", kSecond));
    EXPECT_EQ(limiter.skipped_rate(), 1u);
    EXPECT_EQ(limiter.skipped_per_flow(), 0u);
}

TEST(CaptureLimiter, PacketOverBothLimitsCountsAsSkippedPerFlow) {
    CaptureLimiter limiter(limits(1, 1));
    EXPECT_TRUE(limiter.admit("a", 0));
    EXPECT_FALSE(limiter.admit("a", 1));
    EXPECT_EQ(limiter.skipped_per_flow(), 1u);
    EXPECT_EQ(limiter.skipped_rate(), 0u);
}

TEST(CaptureLimiter, ForgetsTheOldestInsertedFlowWhenFull) {
    CaptureLimiter limiter(limits(2, 1000, 2));
    EXPECT_TRUE(limiter.admit("a", 0));
    EXPECT_TRUE(limiter.admit("b", 0));
    EXPECT_TRUE(limiter.admit("a", 0));  // used again, still the oldest inserted
    EXPECT_FALSE(limiter.admit("a", 0));
    EXPECT_EQ(limiter.flows_forgotten(), 0u);

    EXPECT_TRUE(limiter.admit("c", 0));  // forgets "a"
    EXPECT_EQ(limiter.flows_forgotten(), 1u);
    EXPECT_EQ(limiter.flows_remembered(), 2u);
    EXPECT_TRUE(limiter.admit("b", 0));   // "b" is remembered: its second packet
    EXPECT_FALSE(limiter.admit("b", 0));  // and no third

    EXPECT_TRUE(limiter.admit("a", 0));  // "a" starts over, forgetting "b"
    EXPECT_EQ(limiter.flows_forgotten(), 2u);
    EXPECT_TRUE(limiter.admit("b", 0));

    EXPECT_EQ(limiter.flows_forgotten(), 3u);
    EXPECT_EQ(limiter.flows_remembered(), 2u);
    EXPECT_EQ(limiter.admitted(), 7u);
    EXPECT_EQ(limiter.skipped_per_flow(), 2u);
}

TEST(CaptureLimiter, ZeroLimitsAdmitNothing) {
    CaptureLimiter no_flows(limits(0, 100));
    EXPECT_FALSE(no_flows.admit("a", 0));
    EXPECT_EQ(no_flows.skipped_per_flow(), 1u);

    CaptureLimiter no_rate(limits(3, 0));
    EXPECT_FALSE(no_rate.admit("a", 0));
    EXPECT_FALSE(no_rate.admit("a", 5 * kSecond));
    EXPECT_EQ(no_rate.skipped_rate(), 2u);
    EXPECT_EQ(no_rate.admitted(), 0u);
}

TEST(CaptureLimiter, RemembersAtLeastOneFlow) {
    CaptureLimiter limiter(limits(1, 100, 0));
    EXPECT_TRUE(limiter.admit("a", 0));
    EXPECT_FALSE(limiter.admit("a", 0));
    EXPECT_TRUE(limiter.admit("b", 0));
    EXPECT_EQ(limiter.flows_forgotten(), 1u);
    EXPECT_EQ(limiter.flows_remembered(), 1u);
}

}  // namespace
