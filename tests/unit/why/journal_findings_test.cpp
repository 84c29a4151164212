// SPDX-License-Identifier: GPL-2.0-only
#include "why/journal_findings.hpp"

#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include "test_support.hpp"

using namespace nfsleuth;

namespace {

std::string mismatch(int n) {
    return R"({"ts":"2026-12-01T10:00:0)" + std::to_string(n) +
           R"(Z","type":"counter_mismatch","netns":4026531840,"netns_name":"","counter":"drop","direction":"unseen",)"
           R"("kernel_min":)" + std::to_string(100 + n) + R"(,"kernel_max":)" + std::to_string(100 + n) +
           R"(,"nfsleuth":)" + std::to_string(n) + R"(,"message":"the kernel counted more"})";
}

MismatchHistory read(const std::string& text) {
    std::istringstream in(text);
    MismatchHistory h;
    read_mismatches(in, h);
    return h;
}

}  // namespace

TEST(JournalMismatches, CountsOnlyTopLevelEvents) {
    // The summary repeats mismatches inside kernel_agreement: not new ones.
    auto h = read(mismatch(1) + "\n" +
                  R"({"type":"summary","kernel_agreement":{"mismatches":[{"type":"counter_mismatch"}]}})" + "\n" +
                  R"({"type":"ct_drop","count":3})" + "\n" + mismatch(2));  // no final newline: still a line
    EXPECT_EQ(h.mismatches, 2u);
    EXPECT_EQ(h.skipped_lines, 0u);
    ASSERT_EQ(h.last.size(), 2u);
    EXPECT_EQ(h.last.back()["nfsleuth"], 2);
    EXPECT_EQ(h.last.back()["kernel_min"], 102);
}

TEST(JournalMismatches, KeepsTheNewestFew) {
    std::string text;
    for (int n = 1; n <= 7; ++n) text += mismatch(n) + "\n";
    auto h = read(text);
    EXPECT_EQ(h.mismatches, 7u);
    ASSERT_EQ(h.last.size(), MismatchHistory::kKept);
    EXPECT_EQ(h.last.front()["nfsleuth"], 5);
    EXPECT_EQ(h.last.back()["nfsleuth"], 7);
}

// Broken or hostile lines are skipped and counted; nested values are never
// copied, and nothing longer than a journal line is kept in memory.
TEST(JournalMismatches, HostileLinesAreSkipped) {
    std::string deep(100000, '[');
    std::string huge = R"({"type":"counter_mismatch","message":")" + std::string(2 << 20, 'x') + R"("})";
    auto h = read(std::string(R"({"type":"counter_mismatch", torn)") + "\n" +
                  R"("counter_mismatch")" + "\n" + deep + R"("counter_mismatch")" + "\n" + huge + "\n" +
                  R"({"type":"counter_mismatch","netns":{"a":[1,2]},"message":["x"],"counter":"drop"})" + "\n" +
                  R"({"type":5,"x":"counter_mismatch"})" + "\n");
    EXPECT_EQ(h.skipped_lines, 4u);  // torn, a bare string, too deep, too long
    EXPECT_EQ(h.mismatches, 1u);
    ASSERT_EQ(h.last.size(), 1u);
    EXPECT_EQ(h.last[0].dump(), R"({"counter":"drop"})");
}

TEST(JournalMismatches, DescribedEscaped) {
    auto h = read(R"({"ts":"T","type":"counter_mismatch","netns":7,"netns_name":"evil\u001b[31m","message":"m\nx"})");
    ASSERT_EQ(h.last.size(), 1u);
    std::string line = describe_mismatch(h.last[0]);
    EXPECT_EQ(line.find('\x1b'), std::string::npos);
    EXPECT_EQ(line.find('\n'), std::string::npos);
    EXPECT_EQ(line.rfind("T netns 7 (evil", 0), 0u);
}

TEST(JournalFiles, RotatedFilesFirstOldestFirst) {
    nfsleuth_test::TempDir dir("nfsl-journal-files");
    const std::string base = (dir.path() / "events.jsonl").string();
    for (const char* suffix : {".1", ".3", ".12"}) std::ofstream(base + suffix) << "{}\n";
    std::filesystem::create_directory(base + ".2");  // listed; the reader refuses what is not a regular file
    EXPECT_EQ(journal_files_oldest_first(base),
              (std::vector<std::string>{base + ".12", base + ".3", base + ".2", base + ".1", base}));
}
