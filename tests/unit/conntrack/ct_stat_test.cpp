// SPDX-License-Identifier: GPL-2.0-only
#include "conntrack/ct_stat.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

using nfsleuth::CtCpuStat;
using nfsleuth::parse_ct_stat;
using nfsleuth::total;

namespace {

// /proc/net/stat/nf_conntrack as a 5.x/6.x kernel prints it: the header,
// then one row of "%08x" values per possible CPU, with the kernel's double
// spaces after the first and the thirteenth column.
const char* const kHeader =
    "entries  clashres found new invalid ignore delete chainlength insert insert_failed drop early_drop "
    "icmp_error  expect_new expect_create expect_delete search_restart\n";

// Per CPU: invalid, insert_failed, drop and early_drop all differ, and no
// column shares a value with its neighbours, so a wrong index shows.
//         entries   clashres found    new      invalid  ignore   delete   chainlen insert   ins_fail drop     early    icmp_err  exp_new  exp_cre  exp_del  search_restart
const char* const kCpu0 =
    "000000c5  00000001 00000002 00000003 00000012 00000004 00000005 00000006 00000008 00000003 00000007 00000001 00000009  0000000a 0000000b 0000000c 0000000d\n";
const char* const kCpu1 =
    "00000000  00000011 00000022 00000033 00000a00 00000044 00000055 00000066 00000088 00000010 000000ff 00000002 00000099  000000aa 000000bb 000000cc 000000dd\n";
const char* const kCpu2 =
    "00000000  00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000000 0001e240 00000020 00000000  00000000 00000000 00000000 00000000\n";

std::string three_cpus() { return std::string(kHeader) + kCpu0 + kCpu1 + kCpu2; }

void expect_stat(const CtCpuStat& s, uint32_t cpu, uint32_t drop, uint32_t invalid, uint32_t insert_failed,
                 uint32_t early_drop) {
    EXPECT_EQ(s.cpu, cpu);
    EXPECT_EQ(s.drop, drop);
    EXPECT_EQ(s.invalid, invalid);
    EXPECT_EQ(s.insert_failed, insert_failed);
    EXPECT_EQ(s.early_drop, early_drop);
}

}  // namespace

TEST(CtStat, ParsesEachCpuInOrder) {
    const auto stats = parse_ct_stat(three_cpus());
    ASSERT_TRUE(stats);
    ASSERT_EQ(stats->size(), 3u);
    expect_stat((*stats)[0], 0, 7, 0x12, 3, 1);
    expect_stat((*stats)[1], 1, 255, 2560, 16, 2);
    expect_stat((*stats)[2], 2, 123456, 0, 0, 32);
}

TEST(CtStat, TotalSumsEveryCpu) {
    const auto stats = parse_ct_stat(three_cpus());
    ASSERT_TRUE(stats);
    expect_stat(total(*stats), 0, 7 + 255 + 123456, 0x12 + 2560, 3 + 16, 1 + 2 + 32);
}

TEST(CtStat, TotalOfNothingIsZero) {
    expect_stat(total({}), 0, 0, 0, 0, 0);
}

TEST(CtStat, ColumnsAreMappedByName) {
    // The same four counters, in another order and among fewer columns.
    const std::string text =
        "early_drop entries drop insert_failed invalid\n"
        "00000001 000000c5 00000007 00000003 00000012\n"
        "00000002 00000000 000000ff 00000010 00000a00\n";
    const auto stats = parse_ct_stat(text);
    ASSERT_TRUE(stats);
    ASSERT_EQ(stats->size(), 2u);
    expect_stat((*stats)[0], 0, 7, 0x12, 3, 1);
    expect_stat((*stats)[1], 1, 255, 2560, 16, 2);
}

TEST(CtStat, MissingNeededColumnIsRejected) {
    for (const char* needed : {"drop", "invalid", "insert_failed", "early_drop"}) {
        std::string header = "entries drop invalid insert_failed early_drop";
        const std::string word = std::string(" ") + needed;
        header.erase(header.find(word), word.size());
        const std::string text = header + "\n00000001 00000002 00000003 00000004\n";
        EXPECT_FALSE(parse_ct_stat(text)) << "without " << needed;
    }
}

// Found by fuzzing: a repeated column name made a needed column's index
// point past the end of a row.
TEST(CtStat, RepeatedColumnNameIsRejected) {
    // Five distinct names, the last at index 5: a row of five values has none.
    EXPECT_FALSE(parse_ct_stat("drop entries drop invalid insert_failed early_drop\n"
                               "00000001 00000002 00000003 00000004 00000005\n"));
}

TEST(CtStat, RowWithTooFewFieldsIsRejected) {
    std::string short_row = kCpu1;
    short_row.erase(short_row.rfind(' '));  // drops search_restart and the newline
    EXPECT_FALSE(parse_ct_stat(std::string(kHeader) + kCpu0 + short_row + "\n"));
}

TEST(CtStat, RowWithTooManyFieldsIsRejected) {
    std::string long_row = kCpu1;
    long_row.insert(long_row.size() - 1, " 00000000");
    EXPECT_FALSE(parse_ct_stat(std::string(kHeader) + kCpu0 + long_row));
}

TEST(CtStat, NonHexFieldIsRejected) {
    std::string row = kCpu0;
    row.replace(row.find("00000007"), 8, "zzzzzzzz");
    EXPECT_FALSE(parse_ct_stat(std::string(kHeader) + row));
}

// A field with trailing garbage is not read as its leading digits.
TEST(CtStat, FieldWithTrailingGarbageIsRejected) {
    std::string row = kCpu0;
    row.replace(row.find("00000007"), 8, "0000001g");
    EXPECT_FALSE(parse_ct_stat(std::string(kHeader) + row));
}

TEST(CtStat, TrailingBlankLineIsIgnored) {
    const auto stats = parse_ct_stat(three_cpus() + "\n");
    ASSERT_TRUE(stats);
    EXPECT_EQ(stats->size(), 3u);
}

TEST(CtStat, EmptyTextIsRejected) {
    EXPECT_FALSE(parse_ct_stat(""));
}

TEST(CtStat, HeaderWithoutRowsHasNoCpus) {
    const auto stats = parse_ct_stat(kHeader);
    ASSERT_TRUE(stats);
    EXPECT_TRUE(stats->empty());
}
