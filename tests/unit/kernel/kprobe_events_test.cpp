// SPDX-License-Identifier: GPL-2.0-only
#include "kernel/kprobe_events.hpp"

#include <bpf/libbpf.h>

#include <gtest/gtest.h>

#include <cerrno>
#include <set>
#include <string>

#include "creations.skel.h"
#include "drops.skel.h"
#include "kernel/bpf_support.hpp"

using namespace nfsleuth;

TEST(KprobeTargets, SectionsNameTheirFunctionWhole) {
    EXPECT_EQ(kprobe_of_section("kprobe/early_drop"), std::make_pair(KprobeTarget::early_drop, false));
    EXPECT_EQ(kprobe_of_section("kretprobe/__nf_conntrack_alloc"),
              std::make_pair(KprobeTarget::nf_conntrack_alloc, true));
    EXPECT_EQ(kprobe_of_section("kprobe/nf_ct_delete.part.0"), std::make_pair(KprobeTarget::nf_ct_delete_part, false));
    for (const char* s : {"", "kprobe/", "kretprobe/", "kprobe", "kprobe/early_drop+0x4", "kprobe/early_dro",
                          "kprobe/nf_ct_delete.part", "kprobe/nf_register_net_hook", "fentry/early_drop",
                          "kretprobe.multi/early_drop", "uprobe/early_drop", "kprobe//early_drop"})
        EXPECT_FALSE(kprobe_of_section(s)) << s;
}

// Functions the programs once probed and no longer do: the broker must not
// open kprobes on them.
TEST(KprobeTargets, NoLongerProbedFunctionsAreRefused) {
    for (const char* s : {"kprobe/nf_hook_slow", "kretprobe/nf_hook_slow", "kprobe/nf_conntrack_in",
                          "kretprobe/nf_conntrack_in", "kprobe/__nf_conntrack_confirm",
                          "kretprobe/__nf_conntrack_confirm"})
        EXPECT_FALSE(kprobe_of_section(s)) << s;
}

TEST(KprobeTargets, EveryTargetHasItsFunction) {
    for (std::size_t i = 0; i < kKprobeTargetCount; ++i) {
        const auto t = static_cast<KprobeTarget>(i);
        EXPECT_EQ(kprobe_of_section(std::string("kretprobe/") + kprobe_function(t)), std::make_pair(t, true));
    }
}

// Every kprobe the drop and creation programs have follows nf_conntrack
// (ModuleHooks): each must be a target the broker can open, and every
// target must be one of them (the broker opens no kprobe nfsleuth does not
// use). Opening an object needs no privileges.
TEST(KprobeTargets, AreExactlyTheKprobesOfTheFollowingPrograms) {
    Skeleton<drops_bpf> drops;
    Skeleton<creations_bpf> creations;
    int kprobes = 0;
    std::set<KprobeTarget> used;
    for (bpf_object* obj : {drops->obj, creations->obj}) {
        bpf_program* p = nullptr;
        bpf_object__for_each_program(p, obj) {
            const std::string section = bpf_program__section_name(p);
            if (section.rfind("kprobe/", 0) != 0 && section.rfind("kretprobe/", 0) != 0) continue;
            ++kprobes;
            const auto target = kprobe_of_section(section);
            EXPECT_TRUE(target) << bpf_program__name(p) << " in " << section;
            if (target) used.insert(target->first);
        }
    }
    EXPECT_EQ(kprobes, 6);
    for (std::size_t i = 0; i < kKprobeTargetCount; ++i)
        EXPECT_TRUE(used.count(static_cast<KprobeTarget>(i))) << kprobe_function(static_cast<KprobeTarget>(i));
}

TEST(KprobePmu, FormatBits) {
    EXPECT_EQ(parse_config_bit("config:0\n"), 0u);
    EXPECT_EQ(parse_config_bit("config:0"), 0u);
    EXPECT_EQ(parse_config_bit("config:63\n"), 63u);
    for (const char* s : {"", "config:", "config:\n", "config:64", "config:0-7", "config1:0", "config:x", " config:0",
                          "config:0\n\n", "config:-1", "config:100"})
        EXPECT_FALSE(parse_config_bit(s)) << s;
}

// Without a kprobe PMU (kernels before 4.17; hosts without kprobes) the
// answer is ENOENT, never an event nor a crash.
TEST(KprobePmu, NoPmuIsENOENT) {
    if (kprobe_pmu()) GTEST_SKIP() << "this kernel has a kprobe PMU";
    auto e = in_process_kprobes().open_kprobe(KprobeTarget::nf_ct_delete, false);
    EXPECT_EQ(e.status, NetnsStatus::failed);
    EXPECT_EQ(e.error, ENOENT);
    EXPECT_FALSE(e.fd);
}
