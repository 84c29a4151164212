// SPDX-License-Identifier: GPL-2.0-only
#include "drops/kernel_agreement.hpp"

#include <gtest/gtest.h>

#include "drops/agreement_output.hpp"

using nfsleuth::CheckedCounter;
using nfsleuth::Disagreement;
using nfsleuth::DropCause;
using nfsleuth::KernelAgreement;
using nfsleuth::KernelDropCounters;

namespace {

constexpr uint32_t kNs = 4026532177;

KernelDropCounters drops(uint64_t drop, uint64_t insert_failed = 0, uint64_t early_drop = 0) {
    return {drop, insert_failed, early_drop};
}

// A namespace traced from the start: read before and after attaching.
KernelAgreement started(bool sees_evictions, KernelDropCounters before, KernelDropCounters after) {
    KernelAgreement a(sees_evictions);
    a.before_attach(kNs, before);
    EXPECT_TRUE(a.observe(kNs, after).empty());
    return a;
}

}  // namespace

TEST(KernelAgreement, ExactCountsAgree) {
    KernelAgreement a = started(false, drops(100), drops(100));
    a.count(kNs, DropCause::table_full, 20);
    a.count(kNs, DropCause::rule, 7);    // not conntrack's: not in `drop`
    a.count(kNs, DropCause::helper, 3);  // counted by the kernel nowhere
    EXPECT_TRUE(a.observe(kNs, drops(120)).empty());
    a.count(kNs, DropCause::invalid, 5);
    EXPECT_TRUE(a.observe(kNs, drops(125)).empty());
    auto report = a.report();
    ASSERT_EQ(report.size(), 1u);
    EXPECT_TRUE(report[0].checked);
    EXPECT_EQ(report[0].kernel_delta.drop, 25u);
    EXPECT_EQ(report[0].nfsleuth.drop, 25u);
    EXPECT_TRUE(report[0].disagreements.empty());
}

// Drops the kernel counted just before a reading may still be on their way
// through nfsleuth's program: a shortfall against the newest reading is not
// a miss, one against the reading before it is.
TEST(KernelAgreement, MissesAreJudgedAgainstThePreviousReading) {
    KernelAgreement a = started(false, drops(0), drops(0));
    a.count(kNs, DropCause::table_full, 10);
    EXPECT_TRUE(a.observe(kNs, drops(13)).empty()) << "3 drops may be in flight";
    a.count(kNs, DropCause::table_full, 3);
    EXPECT_TRUE(a.observe(kNs, drops(13)).empty());
}

TEST(KernelAgreement, UnseenDropsAreReportedOnceAndWhenTheGapGrows) {
    KernelAgreement a = started(false, drops(0), drops(0));
    a.count(kNs, DropCause::table_full, 10);
    EXPECT_TRUE(a.observe(kNs, drops(30)).empty());
    a.count(kNs, DropCause::table_full, 5);
    auto d = a.observe(kNs, drops(30));
    ASSERT_EQ(d.size(), 1u);
    EXPECT_EQ(d[0].counter, CheckedCounter::drop);
    EXPECT_TRUE(d[0].missed);
    EXPECT_EQ(d[0].kernel_min, 30u);
    EXPECT_EQ(d[0].kernel_max, 30u);
    EXPECT_EQ(d[0].nfsleuth, 15u);
    EXPECT_TRUE(a.observe(kNs, drops(30)).empty()) << "the same gap is not reported again";
    EXPECT_EQ(a.observe(kNs, drops(40)).size(), 0u) << "new drops may be in flight";
    auto grown = a.observe(kNs, drops(40));
    ASSERT_EQ(grown.size(), 1u);
    EXPECT_EQ(grown[0].kernel_min, 40u);
    ASSERT_EQ(a.report()[0].disagreements.size(), 1u);
}

// A zero that should not be zero: the kernel counts, nfsleuth sees nothing.
TEST(KernelAgreement, NothingSeenWhileTheKernelDropsIsAMiss) {
    KernelAgreement a = started(false, drops(5), drops(5));
    a.observe(kNs, drops(35));
    auto d = a.observe(kNs, drops(35));
    ASSERT_EQ(d.size(), 1u);
    EXPECT_EQ(d[0].nfsleuth, 0u);
    EXPECT_EQ(d[0].kernel_min, 30u);
    EXPECT_NE(d[0].describe().find("the kernel counted 30 conntrack drops (drop counter), nfsleuth saw only 0"),
              std::string::npos)
        << d[0].describe();
}

// More conntrack drops than the kernel counted: rule drops taken for
// conntrack's.
TEST(KernelAgreement, MoreThanTheKernelCountedIsMisnaming) {
    KernelAgreement a = started(false, drops(0), drops(0));
    a.count(kNs, DropCause::table_full, 12);
    auto d = a.observe(kNs, drops(10));
    ASSERT_EQ(d.size(), 1u);
    EXPECT_FALSE(d[0].missed);
    EXPECT_EQ(d[0].kernel_max, 10u);
    EXPECT_EQ(d[0].nfsleuth, 12u);
}

// The start is bracketed: drops between the reading before attaching and
// the one after may or may not have been seen.
TEST(KernelAgreement, DropsWhileAttachingWidenTheRange) {
    KernelAgreement a = started(false, drops(100), drops(104));
    a.count(kNs, DropCause::table_full, 2);  // two of the four were seen
    EXPECT_TRUE(a.observe(kNs, drops(104)).empty());
    EXPECT_TRUE(a.observe(kNs, drops(104)).empty());
}

// A clash the kernel drops counts in `drop` on some kernels: nfsleuth's
// clashes may stand for some of it.
TEST(KernelAgreement, ClashesMayBeInTheDropCounter) {
    KernelAgreement a = started(false, drops(0), drops(0));
    a.count(kNs, DropCause::insert_failed, 3);
    a.count(kNs, DropCause::table_full, 2);
    a.observe(kNs, drops(5, 3));
    EXPECT_TRUE(a.observe(kNs, drops(5, 3)).empty());
}

TEST(KernelAgreement, EvictionsAreComparedOnlyWhereTheyAreSeen) {
    KernelAgreement blind = started(false, drops(0), drops(0));
    blind.observe(kNs, drops(0, 0, 9));
    EXPECT_TRUE(blind.observe(kNs, drops(0, 0, 9)).empty());
    EXPECT_EQ(blind.not_compared().size(), 2u);

    KernelAgreement seeing = started(true, drops(0), drops(0));
    seeing.count(kNs, DropCause::early_drop, 4);
    seeing.observe(kNs, drops(0, 0, 9));
    auto d = seeing.observe(kNs, drops(0, 0, 9));
    ASSERT_EQ(d.size(), 1u);
    EXPECT_EQ(d[0].counter, CheckedCounter::early_drop);
    EXPECT_EQ(seeing.not_compared().size(), 1u);
}

// A namespace seen only later is bracketed over two readings before it is
// compared: nothing is claimed about what happened before it was seen.
TEST(KernelAgreement, LateNamespaceNeedsTwoReadingsFirst) {
    KernelAgreement a(false);
    EXPECT_TRUE(a.observe(kNs, drops(500)).empty());
    EXPECT_TRUE(a.observe(kNs, drops(510)).empty());
    EXPECT_FALSE(a.report()[0].checked);
    a.count(kNs, DropCause::table_full, 4);
    EXPECT_TRUE(a.observe(kNs, drops(514)).empty());
    EXPECT_TRUE(a.report()[0].checked);
}

// Counters that go back belong to a new namespace on a reused inode, or
// to nf_conntrack loaded again: a new baseline, no false alarm.
TEST(KernelAgreement, CountersGoingBackStartOver) {
    KernelAgreement a = started(false, drops(0), drops(0));
    a.count(kNs, DropCause::table_full, 50);
    a.observe(kNs, drops(50));
    EXPECT_TRUE(a.observe(kNs, drops(2)).empty());
    EXPECT_TRUE(a.observe(kNs, drops(3)).empty());
    EXPECT_TRUE(a.observe(kNs, drops(3)).empty());
}

// Hooks attached or detached: the way drops are seen changed, so every
// namespace starts over, and what was found before stays reported.
TEST(KernelAgreement, RestartKeepsEarlierDisagreements) {
    KernelAgreement a = started(false, drops(0), drops(0));
    a.observe(kNs, drops(8));
    ASSERT_EQ(a.observe(kNs, drops(8)).size(), 1u);
    a.restart(true);
    EXPECT_TRUE(a.sees_evictions());
    EXPECT_TRUE(a.observe(kNs, drops(8, 0, 1)).empty());
    EXPECT_TRUE(a.observe(kNs, drops(8, 0, 1)).empty());
    ASSERT_EQ(a.report()[0].disagreements.size(), 1u);
    EXPECT_EQ(a.report()[0].disagreements[0].kernel_min, 8u);
}

TEST(AgreementOutput, JsonEventAndSummary) {
    KernelAgreement a = started(false, drops(0), drops(0));
    a.observe(kNs, drops(30));
    auto d = a.observe(kNs, drops(30));
    ASSERT_EQ(d.size(), 1u);
    auto j = nfsleuth::to_json(d[0], std::string("ct\x1b[31m"), "2026-12-01T10:00:00Z");
    EXPECT_EQ(j["type"], "counter_mismatch");
    EXPECT_EQ(j["counter"], "drop");
    EXPECT_EQ(j["direction"], "unseen");
    EXPECT_EQ(j["kernel_min"], 30);
    EXPECT_EQ(j["nfsleuth"], 0);
    auto line = nfsleuth::to_warning_line(d[0], std::string("ct\x1b[31m"));
    EXPECT_EQ(line.find('\x1b'), std::string::npos) << "namespace names are escaped: " << line;
    EXPECT_EQ(line.rfind("nfsleuth: WARNING: netns 4026532177 (ct", 0), 0u) << line;
    auto namer = [](uint32_t) { return std::optional<std::string>("ctfull"); };
    auto lines = nfsleuth::agreement_lines(a, namer);
    ASSERT_GE(lines.size(), 2u);
    EXPECT_EQ(lines[0], "Kernel counters: MISMATCH in 1 of 1 namespaces: nfsleuth's drop counts are not to be trusted there");
    auto summary = nfsleuth::agreement_json(a, namer);
    EXPECT_EQ(summary["agree"], false);
    EXPECT_EQ(summary["namespaces"][0]["kernel"]["drop"], 30);
    EXPECT_EQ(summary["namespaces"][0]["mismatches"].size(), 1u);
}

TEST(AgreementOutput, AgreementSaysWhatWasCompared) {
    KernelAgreement a = started(false, drops(0), drops(0));
    a.count(kNs, DropCause::table_full, 1);
    a.observe(kNs, drops(1));
    auto lines = nfsleuth::agreement_lines(a, [](uint32_t) { return std::nullopt; });
    ASSERT_EQ(lines.size(), 3u);
    EXPECT_EQ(lines[0], "Kernel counters: agree in 1 namespace (drop, insert_failed)");
    EXPECT_EQ(lines[2].rfind("  not compared: early_drop", 0), 0u);
}
