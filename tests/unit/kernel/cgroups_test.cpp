// SPDX-License-Identifier: GPL-2.0-only
#include "kernel/cgroups.hpp"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <optional>
#include <string>
#include <thread>

#include "test_support.hpp"

using nfsleuth::CgroupPaths;
namespace fs = std::filesystem;

namespace {

// A directory tree standing in for a cgroup2 mount: cgroup ids are the
// inode numbers of the directories.
class CgroupTree : public ::testing::Test {
protected:
    void SetUp() override {
        fs::create_directories(root_ / "a" / "b");
        fs::create_directory(root_ / "c");
    }

    static uint64_t id_of(const fs::path& p) {
        struct stat st{};
        EXPECT_EQ(::stat(p.c_str(), &st), 0) << p;
        return st.st_ino;
    }

    nfsleuth_test::TempDir tmp_{"nfsleuth-cgroups"};
    fs::path root_ = tmp_.path();
};

}  // namespace

TEST_F(CgroupTree, PathsRelativeToTheRoot) {
    CgroupPaths paths(root_.string());
    EXPECT_EQ(paths.lookup(id_of(root_)), std::optional<std::string>("/"));
    EXPECT_EQ(paths.lookup(id_of(root_ / "a")), std::optional<std::string>("/a"));
    EXPECT_EQ(paths.lookup(id_of(root_ / "a" / "b")), std::optional<std::string>("/a/b"));
    EXPECT_EQ(paths.lookup(id_of(root_ / "c")), std::optional<std::string>("/c"));
}

TEST_F(CgroupTree, UnknownIdIsNotFound) {
    CgroupPaths paths(root_.string());
    const uint64_t unknown = id_of(root_) ^ 0x7fff'0000'0000ull;
    EXPECT_EQ(paths.lookup(unknown), std::nullopt);
    EXPECT_EQ(paths.lookup(id_of(root_ / "c")), std::optional<std::string>("/c")) << "the tree is still known";
}

TEST_F(CgroupTree, FilesAreNotCgroups) {
    std::ofstream(root_ / "a" / "cgroup.procs") << "1\n";
    CgroupPaths paths(root_.string());
    EXPECT_EQ(paths.lookup(id_of(root_ / "a" / "cgroup.procs")), std::nullopt);
    EXPECT_EQ(paths.lookup(id_of(root_ / "a")), std::optional<std::string>("/a"));
}

TEST_F(CgroupTree, NewDirectoryIsFoundOnALaterScan) {
    CgroupPaths paths(root_.string());
    ASSERT_EQ(paths.lookup(id_of(root_ / "a")), std::optional<std::string>("/a"));

    fs::create_directory(root_ / "a" / "new.scope");
    const uint64_t id = id_of(root_ / "a" / "new.scope");
    EXPECT_EQ(paths.lookup(id), std::nullopt) << "misses rescan at most once a second";

    std::this_thread::sleep_for(std::chrono::milliseconds(1100));
    EXPECT_EQ(paths.lookup(id), std::optional<std::string>("/a/new.scope"));
    EXPECT_EQ(paths.lookup(id_of(root_ / "a" / "b")), std::optional<std::string>("/a/b"));
}

TEST(CgroupPaths, MissingRootFindsNothing) {
    CgroupPaths paths(std::string("/nonexistent/nfsleuth-cgroup-root"));
    EXPECT_EQ(paths.lookup(1), std::nullopt);
}

// On the real cgroup2 hierarchy, a cgroup made after the first lookup is
// found at once through its file handle (a walk would wait a second).
TEST(CgroupPaths, ANewCgroupIsFoundByItsHandleAtOnce) {
    std::ifstream mounts("/proc/self/mounts");
    std::string device, dir, type, rest, root;
    while (mounts >> device >> dir >> type && std::getline(mounts, rest))
        if (type == "cgroup2") root = dir;
    if (root.empty() || ::geteuid() != 0) GTEST_SKIP() << "needs root and a cgroup2 hierarchy";
    CgroupPaths paths;
    struct stat st{};
    ASSERT_EQ(::stat(root.c_str(), &st), 0);
    ASSERT_EQ(paths.lookup(st.st_ino), std::optional<std::string>("/"));

    const std::string name = "nfsleuth-unit-" + std::to_string(::getpid());
    const fs::path made = fs::path(root) / name;
    std::error_code ec;
    if (!fs::create_directory(made, ec)) GTEST_SKIP() << "cannot make a cgroup in " << root << ": " << ec.message();
    const uint64_t id = [&] {
        struct stat s{};
        return ::stat(made.c_str(), &s) == 0 ? static_cast<uint64_t>(s.st_ino) : 0;
    }();
    const auto found = paths.lookup(id);
    fs::remove(made, ec);
    EXPECT_EQ(found, std::optional<std::string>("/" + name));
}
