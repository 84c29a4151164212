// SPDX-License-Identifier: GPL-2.0-only
#include "kernel/kallsyms.hpp"

#include <gtest/gtest.h>

#include <cstdio>
#include <map>
#include <sstream>
#include <string>
#include <vector>

using nfsleuth::KernelSymbols;
using nfsleuth::syscall_from_stack;

namespace {

// Deliberately unsorted, with data symbols, absolute symbols, and module
// symbols carrying the "[module]" column.
constexpr const char* kKallsyms =
    "ffffffff81003000 T __x64_sys_socket\n"
    "ffffffff81000000 T _text\n"
    "0000000000000000 A fixed_percpu_data\n"
    "ffffffff81001000 T startup_64\n"
    "ffffffff82000000 D jiffies\n"
    "ffffffff81002000 t helper_local\n"
    "ffffffff82400000 d static_data\n"
    "ffffffff82800000 B bss_thing\n"
    "ffffffffc0a00100 T nf_nat_setup_info\t[nf_nat]\n"
    "ffffffffc0a00000 t nf_nat_init\t[nf_nat]\n";

KernelSymbols parse(const std::string& text) {
    std::istringstream in(text);
    return KernelSymbols::parse(in);
}

TEST(KernelSymbols, ResolvesExactAddressAndOffset) {
    const KernelSymbols ks = parse(kKallsyms);
    ASSERT_FALSE(ks.empty());
    EXPECT_EQ(ks.resolve(0xffffffff81001000), "startup_64+0x0");
    EXPECT_EQ(ks.resolve(0xffffffff81001010), "startup_64+0x10");
    EXPECT_EQ(ks.resolve(0xffffffff81001fff), "startup_64+0xfff");
    EXPECT_EQ(ks.resolve(0xffffffff81002004), "helper_local+0x4");  // lowercase t is text too
    EXPECT_EQ(ks.resolve(0xffffffff8100301a), "__x64_sys_socket+0x1a");
}

TEST(KernelSymbols, DataSymbolsAreNotUsedForResolution) {
    const KernelSymbols ks = parse(kKallsyms);
    // 0xffffffff82000010 is inside "jiffies" (D) and near "static_data" (d):
    // only text counts, so the nearest text symbol below it is used.
    EXPECT_EQ(ks.resolve(0xffffffff82000010), "__x64_sys_socket+0xffd010");
    EXPECT_EQ(ks.resolve(0xffffffff82400000), "__x64_sys_socket+0x13fd000");
}

TEST(KernelSymbols, AddressBelowFirstSymbolIsRawHex) {
    const KernelSymbols ks = parse(kKallsyms);
    EXPECT_EQ(ks.resolve(0xffffffff80000000), "0xffffffff80000000");
    EXPECT_EQ(ks.resolve(0xffffffff80ffffff), "0xffffffff80ffffff");
    EXPECT_EQ(ks.resolve(0), "0x0");
}

TEST(KernelSymbols, ModuleSymbolsDropTheModuleColumn) {
    const KernelSymbols ks = parse(kKallsyms);
    EXPECT_EQ(ks.resolve(0xffffffffc0a00000), "nf_nat_init+0x0");
    EXPECT_EQ(ks.resolve(0xffffffffc0a00042), "nf_nat_init+0x42");
    EXPECT_EQ(ks.resolve(0xffffffffc0a00104), "nf_nat_setup_info+0x4");
}

TEST(KernelSymbols, ZeroAddressesFromKptrRestrictAreIgnored) {
    const KernelSymbols ks = parse(
        "0000000000000000 T _text\n"
        "0000000000000000 T startup_64\n"
        "0000000000000000 t nf_nat_init\t[nf_nat]\n");
    EXPECT_TRUE(ks.empty());
    EXPECT_EQ(ks.resolve(0xffffffff81000010), "0xffffffff81000010");
}

TEST(KernelSymbols, ZeroAddressesMixedWithRealOnesAreSkipped) {
    const KernelSymbols ks = parse(
        "0000000000000000 T hidden\n"
        "ffffffff81000000 T _text\n");
    EXPECT_EQ(ks.resolve(0x10), "0x10");
    EXPECT_EQ(ks.resolve(0xffffffff81000001), "_text+0x1");
}

TEST(KernelSymbols, MalformedLinesAreSkipped) {
    const KernelSymbols ks = parse(
        "\n"
        "garbage\n"
        "ffffffff81000000 T\n"                       // no name
        "zzzz T not_hex\n"
        "1ffffffffffffffffff T too_big\n"            // does not fit 64 bits
        "ffffffff81000000 T _text\n");
    EXPECT_EQ(ks.resolve(0xffffffff81000020), "_text+0x20");
    EXPECT_EQ(ks.resolve(0xffffffff80000000), "0xffffffff80000000");
}

TEST(KernelSymbols, EmptyInput) {
    const KernelSymbols ks = parse("");
    EXPECT_TRUE(ks.empty());
    EXPECT_EQ(ks.resolve(0xffffffff81000000), "0xffffffff81000000");
    const KernelSymbols def;
    EXPECT_TRUE(def.empty());
    EXPECT_EQ(def.resolve(0xdeadbeef), "0xdeadbeef");
}

// --- syscall_from_stack -------------------------------------------------------

TEST(KernelSymbols, AddressesOfNamedTextSymbolsFromAFile) {
    FILE* f = std::tmpfile();
    ASSERT_NE(f, nullptr);
    std::fputs(kKallsyms, f);
    std::fflush(f);
    auto found = KernelSymbols::addresses(fileno(f), {"nf_nat_init", "helper_local", "jiffies", "absent"});
    std::fclose(f);
    // Data symbols are not text; names not present are simply missing.
    EXPECT_EQ(found, (std::map<std::string, uint64_t>{{"helper_local", 0xffffffff81002000},
                                                      {"nf_nat_init", 0xffffffffc0a00000}}));
}

TEST(SyscallFromStack, SocketAutoloadStack) {
    const std::vector<std::string> frames = {
        "__request_module+0x1a0", "__sock_create+0x12c",         "__sys_socket+0x6c",
        "__x64_sys_socket+0x1a",  "do_syscall_64+0x3b",          "entry_SYSCALL_64_after_hwframe+0x63",
    };
    EXPECT_EQ(syscall_from_stack(frames), "socket");
}

TEST(SyscallFromStack, OutermostWrapperWins) {
    // Innermost first: the outer __x64_sys_ frame is the syscall that was made.
    const std::vector<std::string> frames = {
        "__request_module+0x10", "__x64_sys_setsockopt+0x20", "__do_sys_socket+0x8",
        "__x64_sys_socket+0x1a", "do_syscall_64+0x3b",
    };
    EXPECT_EQ(syscall_from_stack(frames), "socket");
}

TEST(SyscallFromStack, OtherArchitecturesAndInnerWrappers) {
    EXPECT_EQ(syscall_from_stack({"__request_module+0x1", "__ia32_sys_socketcall+0x10"}), "socketcall");
    EXPECT_EQ(syscall_from_stack({"__request_module+0x1", "__arm64_sys_finit_module+0x10"}), "finit_module");
    EXPECT_EQ(syscall_from_stack({"__request_module+0x1", "__se_sys_setsockopt+0x10"}), "setsockopt");
    EXPECT_EQ(syscall_from_stack({"__x64_sys_socket"}), "socket");  // no offset
}

TEST(SyscallFromStack, TailCalledWrapperLeavesTheHelperInsideEntryCode) {
    // An nft request as captured on Debian's 6.1 kernel: no __x64_sys_sendmsg frame.
    const std::vector<std::string> frames = {
        "__request_module+0x1a0", "nf_tables_newchain+0x3c1", "nfnetlink_rcv_batch+0x6f1", "netlink_unicast+0x1fb",
        "netlink_sendmsg+0x250",  "__sock_sendmsg+0x5f",      "____sys_sendmsg+0x27f",     "___sys_sendmsg+0x9a",
        "__sys_sendmsg+0x76",     "do_syscall_64+0x5d",       "entry_SYSCALL_64_after_hwframe+0x6e",
    };
    EXPECT_EQ(syscall_from_stack(frames), "sendmsg");
    EXPECT_EQ(syscall_from_stack({"ksys_read+0x10", "do_syscall_64+0x5d"}), "read");
    // Inside the entry code but not a syscall helper: no guess.
    EXPECT_EQ(syscall_from_stack({"__request_module+0x1", "exc_page_fault+0x10", "do_syscall_64+0x5d"}), "");
    EXPECT_EQ(syscall_from_stack({"do_syscall_64+0x5d", "entry_SYSCALL_64_after_hwframe+0x6e"}), "");
}

TEST(SyscallFromStack, NoSyscallFrame) {
    EXPECT_EQ(syscall_from_stack({}), "");
    // A kworker's stack, and a stack of unresolved addresses.
    EXPECT_EQ(syscall_from_stack({"__request_module+0x1a0", "process_one_work+0x1c4", "worker_thread+0x4d",
                                  "kthread+0xe6", "ret_from_fork+0x1f"}),
              "");
    EXPECT_EQ(syscall_from_stack({"0xffffffff81000000", "0xffffffff81000010"}), "");
    // "__sys_" without the entry code around it may be a truncated stack: no guess.
    EXPECT_EQ(syscall_from_stack({"__sys_socket+0x6c"}), "");
}

// read() takes the file from its start, whatever was read before, and
// handles lines split across its read chunks and a last line without newline.
TEST(KernelSymbols, ReadsAFileDescriptorFromItsStart) {
    std::string text;
    for (int i = 0; i < 5000; ++i) {
        char line[64];
        std::snprintf(line, sizeof line, "ffffffff81%06x T function_%d\n", i * 0x100, i);
        text += line;
    }
    text += "ffffffff82000000 T last_without_newline";
    FILE* file = std::tmpfile();
    ASSERT_NE(file, nullptr);
    ASSERT_EQ(std::fwrite(text.data(), 1, text.size(), file), text.size());
    std::fflush(file);  // the descriptor's offset is now at the end

    const KernelSymbols ks = KernelSymbols::read(fileno(file));
    EXPECT_EQ(ks.resolve(0xffffffff81000010), "function_0+0x10");
    EXPECT_EQ(ks.resolve(0xffffffff81123456), "function_4660+0x56");
    EXPECT_EQ(ks.resolve(0xffffffff8112ffff), "function_4863+0xff");
    EXPECT_EQ(ks.resolve(0xffffffff82000001), "last_without_newline+0x1");
    std::fclose(file);
}

TEST(KernelSymbols, UnreadableDescriptorGivesRawAddresses) {
    const KernelSymbols ks = KernelSymbols::read(-1);
    EXPECT_TRUE(ks.empty());
    EXPECT_EQ(ks.resolve(0xffffffff81001000), "0xffffffff81001000");
}

}  // namespace

// The text of nf_hook_slow, where kernels without drop reasons free the
// packets netfilter drops: from its address to the next text symbol's, in
// whatever order kallsyms lists them.
TEST(KernelSymbols, FunctionRangeEndsAtTheNextTextSymbol) {
    std::istringstream in(
        "ffffffff81a00300 T nf_hook_slow_list\n"
        "ffffffff81a00000 T nf_hook_slow\n"
        "ffffffff81a00100 d some_data\n"
        "ffffffff81a00200 t nf_hook_entries_grow\n"
        "ffffffff81900000 T before\n");
    auto range = KernelSymbols::function_range(in, "nf_hook_slow");
    ASSERT_TRUE(range);
    EXPECT_EQ(range->start, 0xffffffff81a00000u);
    EXPECT_EQ(range->end, 0xffffffff81a00200u);
}

TEST(KernelSymbols, FunctionRangeAbsentHiddenOrLast) {
    std::istringstream absent("ffffffff81000000 T _text\n");
    EXPECT_FALSE(KernelSymbols::function_range(absent, "nf_hook_slow"));
    std::istringstream hidden("0000000000000000 T nf_hook_slow\n0000000000000000 T other\n");
    EXPECT_FALSE(KernelSymbols::function_range(hidden, "nf_hook_slow"));
    std::istringstream last("ffffffff81000000 T _text\nffffffff81a00000 T nf_hook_slow\n");
    EXPECT_FALSE(KernelSymbols::function_range(last, "nf_hook_slow"));
}

// The functions that run netfilter hooks, in one pass: each ends at the
// next text symbol, the first of a repeated name counts, and absent,
// hidden or last ones are left out.
TEST(KernelSymbols, FunctionRangesOfSeveralInOnePass) {
    std::istringstream in(
        "ffffffff81b00000 T ip_output\n"
        "ffffffff81a00000 T ip_rcv\n"
        "ffffffff81a00080 d some_data\n"
        "ffffffff81a00100 t ip_rcv_core\n"
        "ffffffff81c00000 t ip_rcv\n"
        "ffffffff81b00400 T ip_forward\n"
        "ffffffff81d00000 T ip6_output\n");
    auto ranges = KernelSymbols::function_ranges(in, {"ip_rcv", "ip_output", "ip6_output", "ipv6_rcv"});
    ASSERT_EQ(ranges.size(), 2u);
    EXPECT_EQ(ranges["ip_rcv"].start, 0xffffffff81a00000u);
    EXPECT_EQ(ranges["ip_rcv"].end, 0xffffffff81a00100u);
    EXPECT_EQ(ranges["ip_output"].start, 0xffffffff81b00000u);
    EXPECT_EQ(ranges["ip_output"].end, 0xffffffff81b00400u);
    EXPECT_EQ(ranges.count("ip6_output"), 0u);  // the last symbol: no end
    EXPECT_EQ(ranges.count("ipv6_rcv"), 0u);
}

TEST(KallsymsLine, EveryTypeHiddenAddressesAndGarbage) {
    auto data = KernelSymbols::parse_line("ffffffff82a1b2c0 D this_cpu_off");
    ASSERT_TRUE(data);
    EXPECT_EQ(data->addr, 0xffffffff82a1b2c0u);
    EXPECT_EQ(data->type, "D");
    EXPECT_EQ(data->name, "this_cpu_off");
    auto module = KernelSymbols::parse_line("ffffffffc0318000 t nf_ct_helper_log\t[nf_conntrack]");
    ASSERT_TRUE(module);
    EXPECT_EQ(module->name, "nf_ct_helper_log");
    auto hidden = KernelSymbols::parse_line("0000000000000000 A runqueues");
    ASSERT_TRUE(hidden);
    EXPECT_EQ(hidden->addr, 0u);
    EXPECT_FALSE(KernelSymbols::parse_line("ffffffff8zz00000 T f"));
    EXPECT_FALSE(KernelSymbols::parse_line("ffffffff81000000 T"));
    EXPECT_FALSE(KernelSymbols::parse_line(""));
    EXPECT_FALSE(KernelSymbols::parse_line("-1 T f"));
}
