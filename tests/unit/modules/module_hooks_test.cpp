// SPDX-License-Identifier: GPL-2.0-only
#include "modules/module_hooks.hpp"

#include <gtest/gtest.h>

using namespace nfsleuth;

namespace {

constexpr const char* kModules =
    "nf_nat 57344 1 iptable_nat, Live 0xffffffffc0a3c000\n"
    "nf_conntrack 188416 2 nf_nat,xt_MASQUERADE, Live 0xffffffffc0318000\n"
    "nf_defrag_ipv6 24576 1 nf_conntrack, Live 0xffffffffc0311000\n"
    "vboxdrv 606208 0 - Live 0xffffffffc0f00000 (OE)\n"
    "sctp 446464 0 - Loading 0xffffffffc1000000\n"
    "xt_nat 16384 0 - Unloading 0xffffffffc1100000\n";

}  // namespace

TEST(ModuleInstance, LiveModuleIsKnownByItsLoadAddress) {
    EXPECT_EQ(module_instance(kModules, "nf_conntrack"), "0xffffffffc0318000");
    EXPECT_EQ(module_instance(kModules, "vboxdrv"), "0xffffffffc0f00000");
}

TEST(ModuleInstance, NamesMatchWholly) {
    EXPECT_FALSE(module_instance(kModules, "nf_con"));
    EXPECT_FALSE(module_instance(kModules, "nf_conntrack_netlink"));
    EXPECT_FALSE(module_instance("", "nf_conntrack"));
}

// A module still initialising has no symbols to attach to yet; one being
// unloaded is as good as gone.
TEST(ModuleInstance, OnlyLiveModulesCount) {
    EXPECT_FALSE(module_instance(kModules, "sctp"));
    EXPECT_FALSE(module_instance(kModules, "xt_nat"));
}

TEST(ModuleInstance, MalformedLinesAreSkipped) {
    EXPECT_FALSE(module_instance("nf_conntrack 188416\n", "nf_conntrack"));
    EXPECT_EQ(module_instance("garbage\nnf_conntrack x y z Live 0xffffffffc0318000\n", "nf_conntrack"),
              "0xffffffffc0318000");
    EXPECT_FALSE(module_instance("nf_conntrack 1 2 - Live (OE)\n", "nf_conntrack"));
}

// With kptr_restrict every address reads 0: loads are then told apart by
// presence only.
TEST(ModuleInstance, HiddenAddressesStillShowPresence) {
    EXPECT_EQ(module_instance("nf_conntrack 188416 0 - Live 0x0000000000000000\n", "nf_conntrack"),
              "0x0000000000000000");
}

// --- the hook reports of hooks following a module ------------------------------------

namespace {

const std::vector<HookSpec> kFollowing = {
    {"early_drop", "evictions", true,
     {{Flavor::fentry, "early_drop", {"fexit_early_drop", "fentry_early_drop"}},
      {Flavor::kprobe, "early_drop", {"kretprobe_early_drop", "kprobe_early_drop"}}}},
    {"fentry_only", "a hook without a kprobe", false, {{Flavor::fentry, "f", {"fentry_f"}}}},
};

}  // namespace

// Programs the kernel refused: every hook with a kprobe is given up at load,
// optional (the source falls back on conntrack's counters), and says why.
TEST(FollowingOutcomes, RefusedProgramsAreGivenUpAtLoad) {
    auto out = following_outcomes(kFollowing, Flavor::kprobe, nullptr, "the kernel refused them");
    ASSERT_EQ(out.size(), 1u);
    EXPECT_EQ(out[0].hook, "early_drop");
    EXPECT_EQ(out[0].purpose, "evictions");
    EXPECT_FALSE(out[0].required);
    ASSERT_TRUE(out[0].chosen);
    EXPECT_EQ(out[0].chosen->flavor, Flavor::kprobe);
    EXPECT_EQ(out[0].chosen->programs, (std::vector<std::string>{"kretprobe_early_drop", "kprobe_early_drop"}));
    EXPECT_FALSE(out[0].traced);
    EXPECT_EQ(out[0].failed_at, HookStage::load);
    EXPECT_EQ(out[0].reason, "the kernel refused them");
}

// Waiting for the module to load is not a failure: not traced, not given up.
TEST(FollowingOutcomes, WaitingForTheModuleIsNotGivingUp) {
    ModuleHooks waiting("nfsleuth_no_such_module", {});
    auto out = following_outcomes(kFollowing, Flavor::kprobe, &waiting, "unused");
    ASSERT_EQ(out.size(), 1u);
    EXPECT_FALSE(out[0].traced);
    EXPECT_FALSE(out[0].failed_at);
    EXPECT_TRUE(out[0].reason.empty());
}
