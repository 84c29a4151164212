// SPDX-License-Identifier: GPL-2.0-only
#include "kernel/module_state.hpp"
#include "modules/module_tree.hpp"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "test_support.hpp"

using namespace nfsleuth;
namespace fs = std::filesystem;

namespace {

// A /sys/module look-alike with what `iptables-legacy -t nat -L` and one
// MASQUERADE rule leave loaded.
class ModuleTreeTest : public ::testing::Test {
protected:
    void SetUp() override {
        add("nf_conntrack", 3, {"nf_nat", "xt_MASQUERADE", "xt_conntrack"});
        add("nf_nat", 2, {"iptable_nat", "xt_MASQUERADE"});
        add("iptable_nat", 0, {});
        add("xt_MASQUERADE", 1, {});  // one rule uses it
        add("xt_conntrack", 0, {});
        add("nf_defrag_ipv4", 1, {"nf_conntrack"});
        fs::create_directories(dir_ / "nf_conntrack_builtin_params");  // a built-in with parameters
    }
    void add(const std::string& name, int refcnt, const std::vector<std::string>& holders) {
        fs::create_directories(dir_ / name / "holders");
        std::ofstream(dir_ / name / "initstate") << "live\n";
        std::ofstream(dir_ / name / "refcnt") << refcnt << "\n";
        for (const auto& h : holders) fs::create_directory_symlink(dir_ / h, dir_ / name / "holders" / h);
    }
    nfsleuth_test::TempDir tmp_{"nfsleuth-module-tree"};
    fs::path dir_ = tmp_.path();
};

TEST_F(ModuleTreeTest, ReadsHoldersToAnyDepth) {
    ModuleNode root = read_module_tree(dir_, "nf_conntrack", {});
    EXPECT_EQ(root.state, ModuleState::loaded);
    EXPECT_EQ(root.refcnt, 3u);
    ASSERT_EQ(root.holders.size(), 3u);
    EXPECT_EQ(root.holders[0].name, "nf_nat");
    ASSERT_EQ(root.holders[0].holders.size(), 2u);
    EXPECT_EQ(root.holders[0].holders[0].name, "iptable_nat");
    EXPECT_EQ(root.holders[0].holders[1].name, "xt_MASQUERADE");
    EXPECT_EQ(root.holders[1].name, "xt_MASQUERADE");
    EXPECT_TRUE(root.holders[1].holders.empty());
}

TEST_F(ModuleTreeTest, UnloadOrderPutsHoldersFirstEachOnce) {
    ModuleNode root = read_module_tree(dir_, "nf_conntrack", {});
    EXPECT_EQ(unload_order(root),
              (std::vector<std::string>{"iptable_nat", "xt_MASQUERADE", "nf_nat", "xt_conntrack", "nf_conntrack"}));
}

TEST_F(ModuleTreeTest, ReferencesBeyondHoldersBlockTheUnload) {
    ModuleNode root = read_module_tree(dir_, "nf_conntrack", {});
    EXPECT_EQ(root.other_users(), 0u);
    EXPECT_EQ(blockers(root), (std::vector<std::string>{"xt_MASQUERADE (1 other user)"}));
}

TEST_F(ModuleTreeTest, BuiltinAndAbsentModules) {
    EXPECT_EQ(read_module_tree(dir_, "nf_conntrack_builtin_params", {}).state, ModuleState::builtin);
    EXPECT_EQ(read_module_tree(dir_, "nf_tables", {"kernel/net/netfilter/nf_tables.ko"}).state, ModuleState::builtin);
    EXPECT_EQ(read_module_tree(dir_, "nf_tables", {"nf_tables"}).state, ModuleState::builtin);
    ModuleNode absent = read_module_tree(dir_, "sctp", {"kernel/net/netfilter/nf_tables.ko"});
    EXPECT_EQ(absent.state, ModuleState::absent);
    EXPECT_TRUE(unload_order(absent).empty());
    EXPECT_TRUE(unload_order(read_module_tree(dir_, "nf_tables", {"nf_tables"})).empty());
}

TEST(ModuleNames, FromModulesBuiltinPaths) {
    EXPECT_EQ(module_name_from_path("kernel/net/netfilter/nf_conntrack.ko"), "nf_conntrack");
    EXPECT_EQ(module_name_from_path("kernel/net/ipv4/netfilter/iptable-nat.ko.xz"), "iptable_nat");
    EXPECT_EQ(module_name_from_path("nf_nat"), "nf_nat");
}

TEST(ModprobeD, InstallFalseStopsExplicitRequestsToo) {
    EXPECT_EQ(modprobe_d_lines({"iptable_nat", "nf_conntrack"}),
              (std::vector<std::string>{"blacklist iptable_nat", "install iptable_nat /bin/false",
                                        "blacklist nf_conntrack", "install nf_conntrack /bin/false"}));
}

}  // namespace
