// SPDX-License-Identifier: GPL-2.0-only
#include "module_hooks.hpp"

#include <gtest/gtest.h>

using nfsleuth::module_instance;

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
