// SPDX-License-Identifier: GPL-2.0-only
#include "cli/cli.hpp"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "version.hpp"

using nfsleuth::parse_command_line;
using nfsleuth::ParseOutcome;

namespace {

struct Parsed {
    ParseOutcome outcome;
    std::string out;
    std::string err;
};

// Parses "nfsleuth ARGS...".
Parsed parse(std::vector<const char*> args) {
    args.insert(args.begin(), "nfsleuth");
    std::ostringstream out, err;
    Parsed p;
    p.outcome = parse_command_line(static_cast<int>(args.size()), args.data(), out, err);
    p.out = out.str();
    p.err = err.str();
    return p;
}

// A usage error: exit 2, nothing to run, a message on err and nothing on out.
void expect_usage_error(const std::vector<const char*>& args, const std::string& err_mentions = {}) {
    std::string joined;
    for (const char* a : args) joined += std::string(" ") + a;
    const Parsed p = parse(args);
    EXPECT_EQ(p.outcome.exit_code, 2) << joined;
    EXPECT_FALSE(p.outcome.invocation.has_value()) << joined;
    EXPECT_TRUE(p.out.empty()) << joined << ": " << p.out;
    EXPECT_EQ(p.err.rfind("nfsleuth: ", 0), 0u) << joined << ": " << p.err;
    EXPECT_NE(p.err.find("Run 'nfsleuth --help' for usage."), std::string::npos) << joined << ": " << p.err;
    if (!err_mentions.empty()) {
        EXPECT_NE(p.err.find(err_mentions), std::string::npos) << joined << ": " << p.err;
    }
}

TEST(Cli, Doctor) {
    const Parsed p = parse({"doctor"});
    ASSERT_TRUE(p.outcome.invocation.has_value()) << p.err;
    EXPECT_EQ(p.outcome.exit_code, 0);
    EXPECT_EQ(p.outcome.invocation->command, "doctor");
    const auto& o = p.outcome.invocation->options;
    EXPECT_FALSE(o.json);
    EXPECT_FALSE(o.verbose);
    EXPECT_FALSE(o.duration_s);
    EXPECT_FALSE(o.pid);
    EXPECT_FALSE(o.comm);
    EXPECT_EQ(o.backend, "auto");
    EXPECT_FALSE(o.btf);
    EXPECT_TRUE(p.out.empty());
    EXPECT_TRUE(p.err.empty());
}

TEST(Cli, DoctorJsonVerbose) {
    const Parsed p = parse({"doctor", "--json", "-v"});
    ASSERT_TRUE(p.outcome.invocation.has_value()) << p.err;
    EXPECT_TRUE(p.outcome.invocation->options.json);
    EXPECT_TRUE(p.outcome.invocation->options.verbose);
}

TEST(Cli, ModulesFillsCommonOptions) {
    const Parsed p = parse({"modules", "--json", "--duration", "2.5", "--pid", "7", "--comm", "x", "--backend", "kprobe"});
    ASSERT_TRUE(p.outcome.invocation.has_value()) << p.err;
    EXPECT_EQ(p.outcome.exit_code, 0);
    EXPECT_EQ(p.outcome.invocation->command, "modules");
    const auto& o = p.outcome.invocation->options;
    EXPECT_TRUE(o.json);
    EXPECT_FALSE(o.verbose);
    ASSERT_TRUE(o.duration_s);
    EXPECT_DOUBLE_EQ(*o.duration_s, 2.5);
    ASSERT_TRUE(o.pid);
    EXPECT_EQ(*o.pid, 7u);
    ASSERT_TRUE(o.comm);
    EXPECT_EQ(*o.comm, "x");
    EXPECT_EQ(o.backend, "kprobe");
    EXPECT_FALSE(o.btf);
    EXPECT_TRUE(p.err.empty());
}

TEST(Cli, ModulesEqualsSyntaxAndEveryBackend) {
    for (const char* backend : {"auto", "fentry", "kprobe", "tracepoint"}) {
        const std::string arg = std::string("--backend=") + backend;
        const Parsed p = parse({"modules", arg.c_str(), "--duration=1e3"});
        ASSERT_TRUE(p.outcome.invocation.has_value()) << backend << ": " << p.err;
        EXPECT_EQ(p.outcome.invocation->options.backend, backend);
        EXPECT_DOUBLE_EQ(*p.outcome.invocation->options.duration_s, 1000.0);
    }
}

TEST(Cli, BtfAcceptsAnExistingFile) {
    const auto path = std::filesystem::temp_directory_path() / "nfsleuth_cli_test_btf";
    std::ofstream(path, std::ios::binary) << "\x9f\xeb\x01\x00";  // raw BTF's magic, little-endian
    const std::string s = path.string();
    const Parsed p = parse({"modules", "--btf", s.c_str()});
    std::filesystem::remove(path);
    ASSERT_TRUE(p.outcome.invocation.has_value()) << p.err;
    ASSERT_TRUE(p.outcome.invocation->options.btf);
    EXPECT_EQ(*p.outcome.invocation->options.btf, s);
}

TEST(Cli, NoSubcommandIsAUsageError) {
    expect_usage_error({});
    expect_usage_error({"--json"});
}

TEST(Cli, UnknownSubcommandOrOptionIsAUsageError) {
    expect_usage_error({"conntrack-drops"});
    expect_usage_error({"modules", "--frobnicate"}, "--frobnicate");
    expect_usage_error({"doctor", "--duration", "5"}, "--duration");  // tracing options only
    expect_usage_error({"doctor", "modules"});                       // one subcommand at a time
}

TEST(Cli, DurationMustBeAPositiveNumberOfSeconds) {
    expect_usage_error({"modules", "--duration", "0"}, "--duration");
    expect_usage_error({"modules", "--duration", "-1"});
    expect_usage_error({"modules", "--duration", "abc"}, "abc");
    expect_usage_error({"modules", "--duration", "2.5s"});
    expect_usage_error({"modules", "--duration", "nan"});
    expect_usage_error({"modules", "--duration", "inf"});
    expect_usage_error({"modules", "--duration", "31536001"});  // more than a year
    expect_usage_error({"modules", "--duration"});              // missing value
}

TEST(Cli, BackendMustBeKnown) {
    expect_usage_error({"modules", "--backend", "bogus"}, "bogus");
    expect_usage_error({"modules", "--backend", ""});
}

TEST(Cli, PidMustBeANumber) {
    expect_usage_error({"modules", "--pid", "notanumber"}, "notanumber");
    expect_usage_error({"modules", "--pid", "7x"});
    expect_usage_error({"modules", "--pid", "4294967296"});  // does not fit 32 bits
    expect_usage_error({"modules", "--pid", "-5"});
    expect_usage_error({"modules", "--pid", "0"});  // the idle task never triggers anything
}

TEST(Cli, BtfMustExist) {
    expect_usage_error({"modules", "--btf", "/nonexistent"}, "/nonexistent");
    expect_usage_error({"doctor", "--btf", "/nonexistent/vmlinux"}, "/nonexistent/vmlinux");
}

TEST(Cli, BtfMustBeABtfFile) {
    const auto path = std::filesystem::temp_directory_path() / "nfsleuth_cli_test_not_btf";
    std::ofstream(path) << "random bytes";
    const std::string s = path.string();
    expect_usage_error({"modules", "--btf", s.c_str()}, "not a BTF file");
    expect_usage_error({"doctor", "--btf", s.c_str()}, "not a BTF file");
    std::filesystem::remove(path);
    expect_usage_error({"watch", "--btf", "/dev/zero"}, "not a BTF file");
}

TEST(Cli, ThresholdMustBeAFiniteNumberInRange) {
    for (const char* bad : {"nan", "NaN", "inf", "-inf", "0.5", "101", "1e400", "90x"})
        expect_usage_error({"watch", "--threshold", bad}, "--threshold: must be a number from 1 to 100");
    const Parsed p = parse({"watch", "--threshold", "80.5"});
    ASSERT_TRUE(p.outcome.invocation.has_value()) << p.err;
    EXPECT_DOUBLE_EQ(p.outcome.invocation->watch.threshold_percent, 80.5);
}

TEST(Cli, ArmAtIsADropOptionAtMostTheThresholdWithWatch) {
    const Parsed d = parse({"drops", "--arm-at", "95"});
    ASSERT_TRUE(d.outcome.invocation.has_value()) << d.err;
    EXPECT_DOUBLE_EQ(d.outcome.invocation->drops.arm_at_percent, 95);
    const Parsed w = parse({"watch", "--arm-at", "0"});
    ASSERT_TRUE(w.outcome.invocation.has_value()) << w.err;
    EXPECT_DOUBLE_EQ(w.outcome.invocation->drops.arm_at_percent, 0);
    EXPECT_DOUBLE_EQ(parse({"drops"}).outcome.invocation->drops.arm_at_percent, 50);
    expect_usage_error({"watch", "--arm-at", "95"}, "--arm-at: must not be above --threshold (90)");
    for (const char* bad : {"-1", "101", "nan"})
        expect_usage_error({"drops", "--arm-at", bad}, "--arm-at: must be a number from 0 to 100");
}

TEST(Cli, CommLongerThanTheKernelKeepsIsRefused) {
    const std::string long_comm(10000, 'a');
    expect_usage_error({"drops", "--comm", long_comm.c_str()}, "1 to 15 bytes");
    expect_usage_error({"modules", "--comm", "sixteen-bytes-xx"}, "1 to 15 bytes");
    expect_usage_error({"modules", "--comm", ""}, "1 to 15 bytes");
    const Parsed p = parse({"modules", "--comm", "fifteen-bytes-x"});
    ASSERT_TRUE(p.outcome.invocation.has_value()) << p.err;
    EXPECT_EQ(*p.outcome.invocation->options.comm, "fifteen-bytes-x");
}

TEST(Cli, WatchRefusesPidAndCommFilters) {
    expect_usage_error({"watch", "--pid", "1"}, "--pid: not an option of watch: it records every process");
    expect_usage_error({"watch", "--comm", "iptables"}, "--comm: not an option of watch: it records every process");
}

TEST(Cli, HelpGoesToOut) {
    const Parsed p = parse({"--help"});
    EXPECT_EQ(p.outcome.exit_code, 0);
    EXPECT_FALSE(p.outcome.invocation.has_value());
    EXPECT_TRUE(p.err.empty());
    EXPECT_NE(p.out.find("nfsleuth"), std::string::npos);
    EXPECT_NE(p.out.find("doctor"), std::string::npos);
    EXPECT_NE(p.out.find("modules"), std::string::npos);
    EXPECT_NE(p.out.find("Exit codes"), std::string::npos);
    EXPECT_EQ(parse({"-h"}).out, p.out);
}

TEST(Cli, ModulesHelpShowsItsOptions) {
    const Parsed p = parse({"modules", "--help"});
    EXPECT_EQ(p.outcome.exit_code, 0);
    EXPECT_FALSE(p.outcome.invocation.has_value());
    EXPECT_TRUE(p.err.empty());
    EXPECT_NE(p.out.find("--backend"), std::string::npos) << p.out;
    EXPECT_NE(p.out.find("--duration"), std::string::npos) << p.out;
    EXPECT_NE(p.out.find("--pid"), std::string::npos) << p.out;
    EXPECT_NE(p.out.find("--comm"), std::string::npos) << p.out;
    EXPECT_NE(p.out.find("Examples:"), std::string::npos) << p.out;
}

TEST(Cli, WatchFillsItsOptions) {
    const Parsed p = parse({"watch", "-q", "--interval", "2", "--threshold", "80", "--metrics", "127.0.0.1:9836",
                            "--journal", "/tmp/j.jsonl", "--journal-max-size", "1M", "--journal-keep", "3",
                            "--journal-fsync", "0.5", "--window", "60", "--bpf-stats", "--max-flows", "1024"});
    ASSERT_TRUE(p.outcome.invocation.has_value()) << p.err;
    const auto& inv = *p.outcome.invocation;
    EXPECT_EQ(inv.command, "watch");
    EXPECT_TRUE(inv.watch.quiet);
    EXPECT_DOUBLE_EQ(inv.drops.interval_s, 2);
    EXPECT_EQ(inv.drops.max_flows, 1024u);
    EXPECT_DOUBLE_EQ(inv.watch.threshold_percent, 80);
    EXPECT_EQ(inv.watch.metrics, "127.0.0.1:9836");
    EXPECT_EQ(inv.watch.journal, "/tmp/j.jsonl");
    EXPECT_EQ(inv.watch.journal_max_bytes, 1u << 20);
    EXPECT_EQ(inv.watch.journal_keep, 3u);
    EXPECT_DOUBLE_EQ(inv.watch.journal_fsync_s, 0.5);
    EXPECT_DOUBLE_EQ(inv.watch.window_s, 60);
    EXPECT_TRUE(inv.watch.bpf_stats);
}

TEST(Cli, WatchDefaultsAndBadValues) {
    const Parsed p = parse({"watch"});
    ASSERT_TRUE(p.outcome.invocation.has_value()) << p.err;
    EXPECT_DOUBLE_EQ(p.outcome.invocation->watch.threshold_percent, 90);
    EXPECT_EQ(p.outcome.invocation->watch.journal_max_bytes, 64u << 20);
    EXPECT_FALSE(p.outcome.invocation->watch.metrics);
    expect_usage_error({"watch", "--threshold", "0"});
    expect_usage_error({"watch", "--threshold", "101"});
    expect_usage_error({"watch", "--journal-max-size", "12X"}, "--journal-max-size");
    expect_usage_error({"watch", "--journal-max-size", "100"}, "at least 4096");
    expect_usage_error({"watch", "--journal-keep", "-1"});
    expect_usage_error({"watch", "--top"});
}

TEST(Cli, Version) {
    const Parsed p = parse({"--version"});
    EXPECT_EQ(p.outcome.exit_code, 0);
    EXPECT_FALSE(p.outcome.invocation.has_value());
    EXPECT_EQ(p.out, std::string("nfsleuth ") + nfsleuth::version + "\n");
    EXPECT_TRUE(p.err.empty());
}

}  // namespace

namespace nfsleuth {
namespace {

TEST(CliSize, ParsesBytesAndSuffixes) {
    EXPECT_EQ(parse_size("4096"), 4096u);
    EXPECT_EQ(parse_size("512K"), 512u << 10);
    EXPECT_EQ(parse_size("64M"), 64u << 20);
    EXPECT_EQ(parse_size("1G"), 1ull << 30);
    EXPECT_FALSE(parse_size(""));
    EXPECT_FALSE(parse_size("M"));
    EXPECT_FALSE(parse_size("-1"));
    EXPECT_FALSE(parse_size("10T"));
    EXPECT_FALSE(parse_size("10MB"));
    EXPECT_FALSE(parse_size("99999999999999999999G"));
}

}  // namespace
}  // namespace nfsleuth
