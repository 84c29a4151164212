// SPDX-License-Identifier: GPL-2.0-only
// The hook table names BPF programs as strings, resolved only when a
// command runs: every name it holds must be a program of the object that
// source loads. Opening a skeleton needs no privileges.
#include <bpf/libbpf.h>
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "activations.skel.h"
#include "creations.skel.h"
#include "creations/creation_source.hpp"
#include "drops.skel.h"
#include "kernel/bpf_support.hpp"
#include "kernel/hooks.hpp"
#include "modules.skel.h"

namespace nfsleuth {
namespace {

template <class Skel>
void expect_programs_exist(const Skeleton<Skel>& skel, const std::vector<HookSpec>& specs, const char* object) {
    for (const auto& spec : specs)
        for (const auto& c : spec.candidates)
            for (const auto& name : c.programs)
                EXPECT_NE(bpf_object__find_program_by_name(skel->obj, name.c_str()), nullptr)
                    << spec.name << " names " << name << ", which " << object << " lacks";
}

TEST(HookTable, EveryDropHookProgramIsInTheDropObject) {
    const Skeleton<drops_bpf> skel;
    for (auto args : {KfreeSkbArgs::reason, KfreeSkbArgs::location})
        for (bool capture : {false, true}) expect_programs_exist(skel, drop_hooks(args, capture), "drops.bpf.c");
    expect_programs_exist(skel, {helper_drop_hook()}, "drops.bpf.c");
    expect_programs_exist(skel, drop_cause_hooks(), "drops.bpf.c");
    for (auto b : {Backend::fentry, Backend::kprobe})
        for (const auto& name : cause_programs(b))
            EXPECT_NE(bpf_object__find_program_by_name(skel->obj, name.c_str()), nullptr) << name;
    // The clone of nf_ct_delete some builds have, followed with the module.
    EXPECT_NE(bpf_object__find_program_by_name(skel->obj, "kprobe_nf_ct_delete_part"), nullptr);
}

TEST(HookTable, EveryCreationHookProgramIsInTheCreationObject) {
    const Skeleton<creations_bpf> skel;
    for (const CausePlan& plan : {CausePlan{Backend::fentry, false}, CausePlan{Backend::kprobe, false},
                                  CausePlan{Backend::kprobe, true}, CausePlan{}})
        expect_programs_exist(skel, creation_hooks(plan), "creations.bpf.c");
}

TEST(HookTable, EveryActivationAndModuleHookProgramIsInItsObject) {
    expect_programs_exist(Skeleton<activations_bpf>(), activation_hooks(), "activations.bpf.c");
    expect_programs_exist(Skeleton<modules_bpf>(), module_hooks(), "modules.bpf.c");
}

TEST(HookTable, TheHookAttachedOnDemandIsACauseHook) {
    int found = 0;
    for (const auto& spec : drop_cause_hooks()) found += spec.name == kEvictedEntriesHook;
    EXPECT_EQ(found, 1);
}

}  // namespace
}  // namespace nfsleuth
