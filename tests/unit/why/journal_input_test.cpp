// SPDX-License-Identifier: GPL-2.0-only
#include "why/journal_input.hpp"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <fstream>
#include <sstream>
#include <stdexcept>

#include "test_support.hpp"

namespace {

using namespace nfsleuth;

TEST(JournalInput, ReadsARegularFile) {
    nfsleuth_test::TempDir dir("nfsl-journal-input");
    const std::string path = (dir.path() / "j").string();
    std::ofstream(path) << "one\ntwo\n";
    JournalInput in(path);
    std::string line;
    ASSERT_EQ(read_bounded_line(in.stream(), line, 100), LineRead::ok);
    EXPECT_EQ(line, "one");
    ASSERT_EQ(read_bounded_line(in.stream(), line, 100), LineRead::ok);
    EXPECT_EQ(line, "two");
    EXPECT_EQ(read_bounded_line(in.stream(), line, 100), LineRead::end);
}

TEST(JournalInput, RefusesAFifoWithoutWaitingForAWriter) {
    nfsleuth_test::TempDir dir("nfsl-journal-input");
    const std::string path = (dir.path() / "fifo").string();
    ASSERT_EQ(::mkfifo(path.c_str(), 0600), 0);
    try {
        JournalInput in(path);
        FAIL() << "a FIFO was accepted";
    } catch (const std::runtime_error& e) {
        EXPECT_EQ(std::string(e.what()), path + " is not a regular file");
    }
}

TEST(JournalInput, RefusesDevicesAndDirectories) {
    EXPECT_THROW(JournalInput("/dev/zero"), std::runtime_error);
    EXPECT_THROW(JournalInput("/"), std::runtime_error);
    EXPECT_THROW(JournalInput("/nonexistent/journal"), std::runtime_error);
}

TEST(BoundedLine, ALongerLineIsCutAndFlagged) {
    std::istringstream in(std::string(50, 'a') + "\nb");
    std::string line;
    EXPECT_EQ(read_bounded_line(in, line, 10), LineRead::too_long);
    EXPECT_EQ(line.size(), 10u);
    EXPECT_EQ(read_bounded_line(in, line, 10), LineRead::ok);
    EXPECT_EQ(line, "b");
    EXPECT_EQ(read_bounded_line(in, line, 10), LineRead::end);
}

TEST(JsonNesting, CountsOnlyBracketsOutsideStrings) {
    EXPECT_FALSE(json_nesting_exceeds(R"({"a":[{"b":1}]})", 3));
    EXPECT_TRUE(json_nesting_exceeds(R"({"a":[{"b":[1]}]})", 3));
    EXPECT_FALSE(json_nesting_exceeds(R"({"a":"[[[[{{{{"})", 1));
    EXPECT_FALSE(json_nesting_exceeds(R"({"a":"\"[[[["})", 1));
    EXPECT_TRUE(json_nesting_exceeds(std::string(100000, '['), 64));
}

}  // namespace
