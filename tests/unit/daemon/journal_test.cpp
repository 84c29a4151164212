// SPDX-License-Identifier: GPL-2.0-only
#include "daemon/journal.hpp"

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <charconv>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "common/error.hpp"
#include "test_support.hpp"

namespace fs = std::filesystem;
using nfsleuth::ExitCode;
using nfsleuth::Failure;
using nfsleuth::Journal;
using nfsleuth::JournalOptions;
using namespace std::chrono_literals;
using nfsleuth_test::failure_of;

namespace {

std::string read_file(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    std::ostringstream s;
    s << in.rdbuf();
    return s.str();
}

void write_file(const std::string& path, const std::string& content) {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out << content;
}

// "line 0\n" .. "line N-1\n"
std::string numbered(int from, int to) {
    std::string out;
    for (int i = from; i < to; ++i) out += "line " + std::to_string(i) + "\n";
    return out;
}

class JournalTest : public ::testing::Test {
protected:
    JournalOptions options(uint64_t max_bytes = 0, unsigned keep = 5) const {
        JournalOptions o;
        o.path = path_;
        o.max_bytes = max_bytes;
        o.keep = keep;
        o.fsync_interval = 1h;  // syncs only where a test asks for them
        return o;
    }
    // Lines 0..9 through a 20-byte journal keeping two: lines 8-9 in the
    // file, 6-7 and 4-5 in its rotations, after four rotations.
    void expect_last_six_lines_in_three_files(const Journal& j) const {
        EXPECT_EQ(read_file(path_), numbered(8, 10));
        EXPECT_EQ(read_file(path_ + ".1"), numbered(6, 8));
        EXPECT_EQ(read_file(path_ + ".2"), numbered(4, 6));
        EXPECT_FALSE(fs::exists(path_ + ".3"));
        EXPECT_EQ(j.stats().rotations, 4u);
    }
    nfsleuth_test::TempDir tmp_{"nfsleuth-journal-test"};
    std::string dir_ = tmp_.path();
    std::string path_ = dir_ + "/events.jsonl";
};

}  // namespace

// --- writing ----------------------------------------------------------------

TEST_F(JournalTest, AppendAndFlushWriteExactLines) {
    Journal j(options());
    j.append(R"({"event":"drop","n":1})");
    j.append(R"({"event":"load","module":"nf_conntrack"})");
    j.append("");
    EXPECT_TRUE(j.flush());
    EXPECT_EQ(read_file(path_), "{\"event\":\"drop\",\"n\":1}\n{\"event\":\"load\",\"module\":\"nf_conntrack\"}\n\n");
    EXPECT_EQ(j.stats().lines, 3u);
    EXPECT_EQ(j.stats().bytes, read_file(path_).size());
    EXPECT_EQ(j.stats().write_errors, 0u);
    EXPECT_EQ(j.stats().lines_lost, 0u);
    EXPECT_TRUE(j.last_error().empty());
}

TEST_F(JournalTest, NothingIsWrittenBeforeFlush) {
    Journal j(options());
    j.append("one");
    j.append("two");
    EXPECT_TRUE(fs::exists(path_));  // created at open
    EXPECT_EQ(read_file(path_), "");
    EXPECT_EQ(j.stats().lines, 0u);
    j.flush();
    EXPECT_EQ(read_file(path_), "one\ntwo\n");
    EXPECT_TRUE(j.flush());  // nothing buffered: no-op
    EXPECT_EQ(read_file(path_), "one\ntwo\n");
}

TEST_F(JournalTest, CreatesFilesWithMode0640AndAppendsToExistingFile) {
    write_file(path_, "old\n");
    {
        Journal j(options());
        j.append("new");
    }  // the destructor flushes
    EXPECT_EQ(read_file(path_), "old\nnew\n");
    fs::remove(path_);
    fs::remove(path_ + ".lock");
    mode_t old_umask = ::umask(022);
    { Journal j(options()); }
    ::umask(old_umask);
    struct stat st{};
    ASSERT_EQ(::stat(path_.c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, 0640u);
    ASSERT_EQ(::stat((path_ + ".lock").c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, 0640u);
}

TEST_F(JournalTest, RejectsLinesContainingNewline) {
    Journal j(options());
    EXPECT_THROW(j.append("{\"a\":1}\n{\"b\":2}"), std::logic_error);
    EXPECT_THROW(j.append("\n"), std::logic_error);
    j.flush();
    EXPECT_EQ(read_file(path_), "");
}

TEST_F(JournalTest, AppendFlushesEarlyInsteadOfGrowingTheBuffer) {
    JournalOptions o = options();
    o.max_buffered_bytes = 16;
    Journal j(o);
    j.append("line 0");
    j.append("line 1");  // 14 bytes buffered
    EXPECT_EQ(read_file(path_), "");
    j.append("line 2");  // would be 21: the first two go out first
    EXPECT_EQ(read_file(path_), numbered(0, 2));
    j.flush();
    EXPECT_EQ(read_file(path_), numbered(0, 3));
    EXPECT_EQ(j.stats().lines_lost, 0u);
}

// --- fsync ------------------------------------------------------------------

TEST_F(JournalTest, SyncsOnScheduleOnlyWhenSomethingWasWritten) {
    JournalOptions o = options();
    o.fsync_interval = 1000ms;
    Journal j(o);
    auto t0 = std::chrono::steady_clock::now();
    EXPECT_TRUE(j.sync_if_due(t0 + 5s));
    EXPECT_EQ(j.stats().fsyncs, 0u);  // nothing written
    j.append("x");
    j.flush();
    EXPECT_EQ(j.stats().fsyncs, 0u);
    EXPECT_TRUE(j.sync_if_due(t0 + 5s));
    EXPECT_EQ(j.stats().fsyncs, 1u);
    j.append("y");
    j.flush();
    EXPECT_TRUE(j.sync_if_due(t0 + 5500ms));  // only 500 ms since the last
    EXPECT_EQ(j.stats().fsyncs, 1u);
    EXPECT_TRUE(j.sync_if_due(t0 + 6s));
    EXPECT_EQ(j.stats().fsyncs, 2u);
}

TEST_F(JournalTest, ZeroIntervalSyncsAfterEveryFlush) {
    JournalOptions o = options();
    o.fsync_interval = 0ms;
    Journal j(o);
    j.append("a");
    j.flush();
    j.append("b");
    j.flush();
    EXPECT_EQ(j.stats().fsyncs, 2u);
}

// --- rotation ---------------------------------------------------------------

// "line N\n" is 7 bytes: a 20-byte limit holds two lines per file.
TEST_F(JournalTest, RotatesAtMaxBytesKeepingTwo) {
    Journal j(options(20, 2));
    for (int i = 0; i < 10; ++i) {
        j.append("line " + std::to_string(i));
        ASSERT_TRUE(j.flush());
    }
    expect_last_six_lines_in_three_files(j);
    EXPECT_EQ(j.stats().lines, 10u);
}

TEST_F(JournalTest, OneLargeFlushIsSplitAtLineBoundariesAcrossRotations) {
    Journal j(options(20, 2));
    for (int i = 0; i < 10; ++i) j.append("line " + std::to_string(i));
    ASSERT_TRUE(j.flush());
    expect_last_six_lines_in_three_files(j);
}

TEST_F(JournalTest, RotationCountsAnExistingFile) {
    write_file(path_, numbered(0, 2));  // 14 bytes already
    Journal j(options(20, 2));
    j.append("line 2");
    j.flush();
    EXPECT_EQ(read_file(path_ + ".1"), numbered(0, 2));
    EXPECT_EQ(read_file(path_), numbered(2, 3));
}

TEST_F(JournalTest, KeepZeroRotationTruncates) {
    Journal j(options(20, 0));
    for (int i = 0; i < 5; ++i) {
        j.append("line " + std::to_string(i));
        j.flush();
    }
    EXPECT_EQ(read_file(path_), numbered(4, 5));
    EXPECT_FALSE(fs::exists(path_ + ".1"));
    EXPECT_EQ(j.stats().rotations, 2u);
}

TEST_F(JournalTest, OversizeLineIsWrittenWholeIntoAFreshFile) {
    const std::string big(50, 'x');
    Journal j(options(20, 3));
    j.append("short");
    j.flush();
    j.append(big);
    j.flush();
    EXPECT_EQ(read_file(path_ + ".1"), "short\n");
    EXPECT_EQ(read_file(path_), big + "\n");
    j.append("after");
    j.flush();  // the file is over the limit: the next line starts a new one
    EXPECT_EQ(read_file(path_), "after\n");
    EXPECT_EQ(read_file(path_ + ".1"), big + "\n");
    EXPECT_EQ(read_file(path_ + ".2"), "short\n");
}

TEST_F(JournalTest, OversizeFirstLineDoesNotRotateAnEmptyFile) {
    const std::string big(50, 'x');
    Journal j(options(20, 3));
    j.append(big);
    j.append("next");
    j.flush();
    EXPECT_EQ(read_file(path_ + ".1"), big + "\n");
    EXPECT_EQ(read_file(path_), "next\n");
    EXPECT_FALSE(fs::exists(path_ + ".2"));
    EXPECT_EQ(j.stats().rotations, 1u);
}

// --- torn tail --------------------------------------------------------------

TEST_F(JournalTest, OpenCutsATornLastLine) {
    write_file(path_, "a\nb\npartial");
    Journal j(options());
    EXPECT_EQ(read_file(path_), "a\nb\n");
    EXPECT_EQ(j.stats().torn_bytes_repaired, 7u);
    j.append("c");
    j.flush();
    EXPECT_EQ(read_file(path_), "a\nb\nc\n");
}

TEST_F(JournalTest, OpenEmptiesAFileWithoutAnyNewline) {
    write_file(path_, std::string(100'000, 'z'));  // longer than one read block
    Journal j(options());
    EXPECT_EQ(read_file(path_), "");
    EXPECT_EQ(j.stats().torn_bytes_repaired, 100'000u);
}

TEST_F(JournalTest, OpenLeavesCompleteFilesAlone) {
    std::string content = "x\n" + std::string(70'000, 'y') + "\n";
    write_file(path_, content);
    {
        Journal j(options());
        EXPECT_EQ(j.stats().torn_bytes_repaired, 0u);
    }
    EXPECT_EQ(read_file(path_), content);
    // A long torn line after a complete one: found across read blocks.
    write_file(path_, "x\n" + std::string(70'000, 'y'));
    Journal j(options());
    EXPECT_EQ(read_file(path_), "x\n");
    EXPECT_EQ(j.stats().torn_bytes_repaired, 70'000u);
}

// --- exclusivity ------------------------------------------------------------

TEST_F(JournalTest, SecondWriterIsRefusedNamingTheHolder) {
    int ready[2];
    ASSERT_EQ(::pipe(ready), 0);
    pid_t child = ::fork();
    ASSERT_GE(child, 0);
    if (child == 0) {
        ::close(ready[0]);
        try {
            Journal j(options());
            char c = 1;
            if (::write(ready[1], &c, 1) != 1) ::_exit(2);
            for (;;) ::pause();
        } catch (...) {
            ::_exit(3);
        }
    }
    ::close(ready[1]);
    char c = 0;
    ASSERT_EQ(::read(ready[0], &c, 1), 1);
    ::close(ready[0]);

    Failure f = failure_of([&] { Journal second(options()); });
    EXPECT_EQ(f.code(), ExitCode::failure);
    EXPECT_NE(std::string(f.what()).find("in use by another nfsleuth (pid " + std::to_string(child) + ")"),
              std::string::npos)
        << f.what();
    EXPECT_NE(std::string(f.what()).find(path_), std::string::npos);
    EXPECT_FALSE(f.remedy().empty());

    ::kill(child, SIGKILL);
    int status = 0;
    ::waitpid(child, &status, 0);
    EXPECT_NO_THROW(Journal again(options()));  // the lock died with its holder
}

TEST_F(JournalTest, SecondJournalInTheSameProcessIsRefusedToo) {
    Journal first(options());
    Failure f = failure_of([&] { Journal second(options()); });
    EXPECT_NE(std::string(f.what()).find("(pid " + std::to_string(::getpid()) + ")"), std::string::npos) << f.what();
}

// --- reopen -----------------------------------------------------------------

TEST_F(JournalTest, ReopenAfterLogrotateMovedTheFile) {
    Journal j(options());
    j.append("a");
    j.flush();
    fs::rename(path_, path_ + ".old");  // logrotate without copytruncate
    j.append("b");                      // still buffered at SIGHUP
    EXPECT_TRUE(j.reopen());
    j.append("c");
    j.flush();
    EXPECT_EQ(read_file(path_ + ".old"), "a\nb\n");
    EXPECT_EQ(read_file(path_), "c\n");
    EXPECT_GE(j.stats().fsyncs, 1u);  // the old file was synced before closing
}

TEST_F(JournalTest, ReopenWithoutRotationKeepsAppending) {
    Journal j(options());
    j.append("a");
    EXPECT_TRUE(j.reopen());
    j.append("b");
    j.flush();
    EXPECT_EQ(read_file(path_), "a\nb\n");
}

TEST_F(JournalTest, RotationAfterAnUnsignalledLogrotateStartsAFreshFile) {
    Journal j(options(20, 2));
    j.append("line 0");
    j.append("line 1");
    j.flush();
    fs::rename(path_, path_ + ".moved");
    j.append("line 2");  // the (moved) file is full
    EXPECT_TRUE(j.flush());
    EXPECT_EQ(read_file(path_ + ".moved"), numbered(0, 2));
    EXPECT_EQ(read_file(path_), numbered(2, 3));
    EXPECT_FALSE(fs::exists(path_ + ".1"));
}

// --- write errors -----------------------------------------------------------

namespace {

// Lowers RLIMIT_FSIZE with SIGXFSZ ignored, so writes past it fail with
// EFBIG; restores both however the test ends.
class FileSizeLimit {
public:
    explicit FileSizeLimit(rlim_t bytes) {
        ::getrlimit(RLIMIT_FSIZE, &old_limit_);
        old_handler_ = ::signal(SIGXFSZ, SIG_IGN);
        rlimit lowered = old_limit_;
        lowered.rlim_cur = bytes;
        ok_ = ::setrlimit(RLIMIT_FSIZE, &lowered) == 0;
    }
    ~FileSizeLimit() {
        ::setrlimit(RLIMIT_FSIZE, &old_limit_);
        ::signal(SIGXFSZ, old_handler_);
    }
    FileSizeLimit(const FileSizeLimit&) = delete;
    FileSizeLimit& operator=(const FileSizeLimit&) = delete;
    bool ok() const { return ok_; }

private:
    rlimit old_limit_{};
    sighandler_t old_handler_;
    bool ok_ = false;
};

}  // namespace

TEST_F(JournalTest, ShortWriteLeavesOnlyCompleteLines) {
    Journal j(options());
    // "line NN\n" is 8 bytes; a 100-byte limit ends the file inside line 12.
    for (int i = 10; i < 40; ++i) j.append("line " + std::to_string(i));
    bool flushed;
    bool limited;
    {
        FileSizeLimit limit(100);
        limited = limit.ok();
        flushed = j.flush();
    }  // no assertion output while the limit is in force
    ASSERT_TRUE(limited);
    EXPECT_FALSE(flushed);
    EXPECT_EQ(read_file(path_), numbered(10, 22));
    EXPECT_EQ(j.stats().lines, 12u);
    EXPECT_EQ(j.stats().lines_lost, 18u);
    EXPECT_EQ(j.stats().write_errors, 1u);
    EXPECT_NE(j.last_error().find("File too large"), std::string::npos) << j.last_error();

    // Once there is room again, lines follow whole lines.
    j.append("line 99");
    EXPECT_TRUE(j.flush());
    EXPECT_EQ(read_file(path_), numbered(10, 22) + "line 99\n");
}

TEST_F(JournalTest, WriteAtTheLimitLosesEverythingButLeavesTheFileIntact) {
    Journal j(options());
    j.append("line 10");
    j.flush();
    for (int i = 11; i < 15; ++i) j.append("line " + std::to_string(i));
    bool flushed;
    {
        FileSizeLimit limit(8);  // exactly the existing line
        flushed = j.flush();
    }
    EXPECT_FALSE(flushed);
    EXPECT_EQ(read_file(path_), "line 10\n");
    EXPECT_EQ(j.stats().lines_lost, 4u);
    EXPECT_EQ(j.stats().write_errors, 1u);
}

// --- path errors ------------------------------------------------------------

TEST_F(JournalTest, MissingDirectoryIsAnErrorAndIsNotCreated) {
    JournalOptions o = options();
    o.path = dir_ + "/no/such/dir/events.jsonl";
    Failure f = failure_of([&] { Journal j(o); });
    EXPECT_EQ(f.code(), ExitCode::failure);
    EXPECT_NE(std::string(f.what()).find(dir_ + "/no/such/dir"), std::string::npos) << f.what();
    EXPECT_NE(std::string(f.what()).find("does not exist"), std::string::npos) << f.what();
    EXPECT_FALSE(f.remedy().empty());
    EXPECT_FALSE(fs::exists(dir_ + "/no"));
}

TEST_F(JournalTest, DirectoryAsPathIsAnError) {
    JournalOptions o = options();
    o.path = dir_;
    Failure f = failure_of([&] { Journal j(o); });
    EXPECT_EQ(f.code(), ExitCode::failure);
    EXPECT_NE(std::string(f.what()).find("is a directory"), std::string::npos) << f.what();
    EXPECT_FALSE(fs::exists(dir_ + ".lock"));
}

TEST_F(JournalTest, ParentThatIsAFileIsAnError) {
    write_file(dir_ + "/plain", "");
    JournalOptions o = options();
    o.path = dir_ + "/plain/events.jsonl";
    Failure f = failure_of([&] { Journal j(o); });
    EXPECT_NE(std::string(f.what()).find("is not a directory"), std::string::npos) << f.what();
}

TEST_F(JournalTest, NonRegularFileIsAnError) {
    JournalOptions o = options();
    o.path = dir_ + "/fifo";
    ASSERT_EQ(::mkfifo(o.path.c_str(), 0600), 0);
    Failure f = failure_of([&] { Journal j(o); });
    EXPECT_NE(std::string(f.what()).find("not a regular file"), std::string::npos) << f.what();
}

TEST_F(JournalTest, JournalThatIsASymlinkIsRefusedAndItsTargetUntouched) {
    write_file(dir_ + "/target", "precious\npartial");
    ASSERT_EQ(::symlink((dir_ + "/target").c_str(), path_.c_str()), 0);
    Failure f = failure_of([&] { Journal j(options()); });
    EXPECT_EQ(f.code(), ExitCode::failure);
    EXPECT_NE(std::string(f.what()).find("is a symbolic link"), std::string::npos) << f.what();
    EXPECT_EQ(read_file(dir_ + "/target"), "precious\npartial");
    EXPECT_FALSE(fs::exists(path_ + ".lock")) << "refused before anything is created";
}

TEST_F(JournalTest, LockThatIsASymlinkIsRefusedAndItsTargetUntouched) {
    write_file(dir_ + "/target", "precious\n");
    ASSERT_EQ(::symlink((dir_ + "/target").c_str(), (path_ + ".lock").c_str()), 0);
    Failure f = failure_of([&] { Journal j(options()); });
    EXPECT_EQ(f.code(), ExitCode::failure);
    EXPECT_NE(std::string(f.what()).find("lock file " + path_ + ".lock is a symbolic link"), std::string::npos)
        << f.what();
    EXPECT_EQ(read_file(dir_ + "/target"), "precious\n");
    EXPECT_FALSE(fs::exists(path_));
}

TEST_F(JournalTest, HardLinkedLockOrJournalIsRefused) {
    write_file(dir_ + "/target", "precious\n");
    ASSERT_EQ(::link((dir_ + "/target").c_str(), (path_ + ".lock").c_str()), 0);
    Failure f = failure_of([&] { Journal j(options()); });
    EXPECT_NE(std::string(f.what()).find("hard links"), std::string::npos) << f.what();
    EXPECT_EQ(read_file(dir_ + "/target"), "precious\n");
    fs::remove(path_ + ".lock");
    write_file(dir_ + "/target", "precious\npartial");
    ASSERT_EQ(::link((dir_ + "/target").c_str(), path_.c_str()), 0);
    f = failure_of([&] { Journal j(options()); });
    EXPECT_NE(std::string(f.what()).find("hard links"), std::string::npos) << f.what();
    EXPECT_EQ(read_file(dir_ + "/target"), "precious\npartial");
}

TEST_F(JournalTest, RotationDoesNotFollowALinkPlantedAtTheJournalsName) {
    write_file(dir_ + "/target", "precious\n");
    Journal j(options(20, 2));
    j.append("line 0");
    ASSERT_TRUE(j.flush());
    // Someone swaps the journal for a link between two writes.
    fs::rename(path_, dir_ + "/moved");
    ASSERT_EQ(::symlink((dir_ + "/target").c_str(), path_.c_str()), 0);
    j.append("line 1");
    j.append("line 2");
    j.append("line 3");
    j.flush();
    EXPECT_EQ(read_file(dir_ + "/target"), "precious\n");
    EXPECT_TRUE(fs::is_symlink(path_));
    EXPECT_FALSE(j.reopen());
    EXPECT_NE(j.last_error().find("is a symbolic link"), std::string::npos) << j.last_error();
    EXPECT_EQ(read_file(dir_ + "/target"), "precious\n");
}

TEST_F(JournalTest, DirectoryWritableByOthersIsRefusedUnlessSticky) {
    for (mode_t mode : {0777, 0770, 0722}) {
        ASSERT_EQ(::chmod(dir_.c_str(), mode), 0);
        Failure f = failure_of([&] { Journal j(options()); });
        EXPECT_EQ(f.code(), ExitCode::failure);
        EXPECT_NE(std::string(f.what()).find("is writable by other users"), std::string::npos) << f.what();
        EXPECT_NE(f.remedy().find("chmod go-w " + dir_), std::string::npos) << f.remedy();
        EXPECT_FALSE(fs::exists(path_ + ".lock"));
    }
    ASSERT_EQ(::chmod(dir_.c_str(), 01777), 0);  // like /tmp
    { Journal j(options()); }
    ASSERT_EQ(::chmod(dir_.c_str(), 0755), 0);
    { Journal j(options()); }
    ::chmod(dir_.c_str(), 0700);
}

TEST_F(JournalTest, UnwritableDirectoryIsAnError) {
    // Root writes anywhere: the attempt runs in a child that drops to nobody.
    ASSERT_EQ(::chmod(dir_.c_str(), 0555), 0);
    int out[2];
    ASSERT_EQ(::pipe(out), 0);
    pid_t child = ::fork();
    ASSERT_GE(child, 0);
    if (child == 0) {
        ::close(out[0]);
        if (::geteuid() == 0 && (::setgid(65534) != 0 || ::setuid(65534) != 0)) ::_exit(2);
        std::string message = "no Failure";
        try {
            Journal j(options());
        } catch (const Failure& f) {
            message = f.what() + std::string(" | ") + f.remedy();
        } catch (...) {
            message = "another exception";
        }
        if (::write(out[1], message.data(), message.size()) < 0) ::_exit(2);
        ::_exit(0);
    }
    ::close(out[1]);
    std::string message;
    char buf[256];
    for (ssize_t n; (n = ::read(out[0], buf, sizeof buf)) > 0;) message.append(buf, static_cast<std::size_t>(n));
    ::close(out[0]);
    int status = 0;
    ::waitpid(child, &status, 0);
    ::chmod(dir_.c_str(), 0700);
    ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
    EXPECT_NE(message.find("Permission denied"), std::string::npos) << message;
    EXPECT_NE(message.find("writable"), std::string::npos) << message;
    EXPECT_FALSE(fs::exists(path_));
}

// --- SIGKILL mid-write ------------------------------------------------------

namespace {

// Checks that `text` is "line N\n" for consecutive N from `next` (from
// whatever the first line says if `next` is negative); returns the next
// expected N, or -1 at the first mismatch.
long expect_consecutive(std::string_view text, long next) {
    while (!text.empty()) {
        std::size_t nl = text.find('\n');
        if (nl == std::string_view::npos) return -1;
        std::string_view line = text.substr(0, nl);
        long n = -1;
        if (line.substr(0, 5) != "line ") return -1;
        auto [end, ec] = std::from_chars(line.data() + 5, line.data() + line.size(), n);
        if (ec != std::errc() || end != line.data() + line.size() || (next >= 0 && n != next)) return -1;
        next = n + 1;
        text.remove_prefix(nl + 1);
    }
    return next;
}

}  // namespace

TEST_F(JournalTest, KilledWriterLeavesOnlyCompleteLinesAndATailOpenRepairs) {
    // keep=0 bounds the disk use to 4 MiB without the fsync a rotation into
    // path.1 costs, so the child spends its time writing.
    JournalOptions o = options(4 << 20, 0);
    pid_t child = ::fork();
    ASSERT_GE(child, 0);
    if (child == 0) {
        try {
            Journal j(o);
            long n = 0;
            std::size_t batch = 1;
            char line[32] = "line ";
            // Varying batches make writes of up to 1 MiB, many pages each,
            // which SIGKILL can cut between two pages.
            for (;;) {
                for (std::size_t i = 0; i < batch; ++i) {
                    char* end = std::to_chars(line + 5, line + sizeof line, n++).ptr;
                    j.append(std::string_view(line, static_cast<std::size_t>(end - line)));
                }
                j.flush();
                batch = batch * 7 % 100'003 + 1;
            }
        } catch (...) {
            ::_exit(3);
        }
    }
    std::this_thread::sleep_for(200ms);
    ::kill(child, SIGKILL);
    int status = 0;
    ASSERT_EQ(::waitpid(child, &status, 0), child);
    ASSERT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) << "child exited with " << status;

    // Truncation happens between whole lines, so the file starts with one;
    // it is "line 0" unless the file was truncated (and may be empty if the
    // kill came right after a truncation).
    const std::string live = read_file(path_);
    const std::size_t last_nl = live.rfind('\n');
    const std::size_t complete = last_nl == std::string::npos ? 0 : last_nl + 1;
    const std::string torn = live.substr(complete);
    if (complete > 0) {
        const long next = expect_consecutive(std::string_view(live).substr(0, complete), -1);
        ASSERT_GE(next, 0) << "a complete line is not the one after its predecessor";
        EXPECT_EQ(("line " + std::to_string(next)).substr(0, torn.size()), torn)
            << "the tail is not the start of the next line";
    } else {
        EXPECT_EQ(torn.substr(0, 5), std::string("line ").substr(0, torn.size()));
        EXPECT_EQ(torn.find_first_not_of("0123456789", std::min<std::size_t>(torn.size(), 5)), std::string::npos);
    }

    Journal j(o);
    EXPECT_EQ(j.stats().torn_bytes_repaired, torn.size());
    EXPECT_EQ(read_file(path_), live.substr(0, complete));
}
