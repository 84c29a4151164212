// SPDX-License-Identifier: GPL-2.0-only
// --pcap and its limits on `drops` and `watch`.
#include <gtest/gtest.h>

#include <sstream>
#include <string>
#include <vector>

#include "cli/cli.hpp"

using nfsleuth::parse_command_line;
using nfsleuth::ParseOutcome;

namespace {

struct Parsed {
    ParseOutcome outcome;
    std::string err;
};

Parsed parse(std::vector<const char*> args) {
    args.insert(args.begin(), "nfsleuth");
    std::ostringstream out, err;
    Parsed p{parse_command_line(static_cast<int>(args.size()), args.data(), out, err), ""};
    p.err = err.str();
    return p;
}

void expect_refused(const std::vector<const char*>& args, const std::string& message) {
    const Parsed p = parse(args);
    EXPECT_EQ(p.outcome.exit_code, 2) << message;
    EXPECT_FALSE(p.outcome.invocation) << message;
    EXPECT_NE(p.err.find(message), std::string::npos) << p.err;
}

}  // namespace

TEST(PcapOptions, OffByDefault) {
    for (const char* cmd : {"drops", "watch"}) {
        const Parsed p = parse({cmd});
        ASSERT_TRUE(p.outcome.invocation) << p.err;
        const nfsleuth::PcapOptions& o = p.outcome.invocation->drops.pcap;
        EXPECT_FALSE(o.file);
        EXPECT_EQ(o.snaplen, 128u);
        EXPECT_EQ(o.per_flow, 3u);
        EXPECT_EQ(o.per_second, 100u);
    }
}

TEST(PcapOptions, FileAndLimits) {
    for (const char* cmd : {"drops", "watch"}) {
        const Parsed p = parse({cmd, "--pcap", "/tmp/d.pcapng", "--pcap-snaplen", "256", "--pcap-per-flow", "1",
                                "--pcap-per-second", "100000"});
        ASSERT_TRUE(p.outcome.invocation) << p.err;
        const nfsleuth::PcapOptions& o = p.outcome.invocation->drops.pcap;
        EXPECT_EQ(o.file, "/tmp/d.pcapng");
        EXPECT_EQ(o.snaplen, 256u);
        EXPECT_EQ(o.per_flow, 1u);
        EXPECT_EQ(o.per_second, 100000u);
    }
}

TEST(PcapOptions, LimitsOutOfRangeAreRefused) {
    for (const char* cmd : {"drops", "watch"}) {
        expect_refused({cmd, "--pcap", "f", "--pcap-snaplen", "39"}, "--pcap-snaplen: Value 39 not in range 40 to 256");
        expect_refused({cmd, "--pcap", "f", "--pcap-snaplen", "257"},
                       "--pcap-snaplen: Value 257 not in range 40 to 256");
        expect_refused({cmd, "--pcap", "f", "--pcap-per-flow", "0"}, "--pcap-per-flow: Value 0 not in range 1 to 1000");
        expect_refused({cmd, "--pcap", "f", "--pcap-per-second", "100001"},
                       "--pcap-per-second: Value 100001 not in range 1 to 100000");
        expect_refused({cmd, "--pcap", "f", "--pcap-per-second", "lots"}, "--pcap-per-second");
        expect_refused({cmd, "--pcap", ""}, "--pcap: the path is empty");
    }
}

TEST(PcapOptions, LimitsWithoutAFileAreRefused) {
    expect_refused({"drops", "--pcap-snaplen", "64"}, "--pcap-snaplen: needs --pcap FILE");
    expect_refused({"watch", "--pcap-per-flow", "2"}, "--pcap-per-flow: needs --pcap FILE");
    expect_refused({"drops", "--pcap-per-second", "5"}, "--pcap-per-second: needs --pcap FILE");
}

TEST(PcapOptions, NotAnOptionOfOtherCommands) {
    expect_refused({"modules", "--pcap", "f"}, "--pcap");
    expect_refused({"doctor", "--pcap", "f"}, "--pcap");
}
