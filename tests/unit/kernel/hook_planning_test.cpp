// SPDX-License-Identifier: GPL-2.0-only
// Hook planning (kernel/hooks.hpp) against made-up kernels: which attach
// method each hook gets, what is given up and why, and which backend the
// drop-cause hooks share, without root and without BPF.
#include <gtest/gtest.h>

#include <map>
#include <optional>
#include <set>
#include <string>
#include <utility>

#include "common/error.hpp"
#include "kernel/hooks.hpp"
#include "kernel/kernel_probe.hpp"

using namespace nfsleuth;

namespace {

// A kernel described by what attaches: whole attach types, and targets per
// flavour (a target works when its flavour works and it is listed).
class FakeKernel : public AttachProbe {
public:
    std::set<Flavor> flavors;
    std::set<std::pair<Flavor, std::string>> targets;
    std::set<std::string> symbols;
    std::optional<int> kfree_skb_arity = 3;
    bool conntrack_module = false;

    // A kernel where these flavours work for every function of conntrack.
    static FakeKernel with(std::initializer_list<Flavor> fl) {
        FakeKernel k;
        k.flavors = fl;
        for (Flavor f : fl)
            for (const char* fn : {"early_drop", "nf_ct_delete", "nf_ct_helper_log", "nf_register_net_hook",
                                   "kfree_skb", "sock_send_length"})
                k.targets.insert({f, fn});
        k.symbols = {"nf_hook_slow"};
        return k;
    }

    const ProbeResult& attach_type(Flavor f) override {
        auto [it, _] = results_.insert_or_assign(f, ProbeResult{flavors.count(f) != 0,
                                                                flavors.count(f) ? "ok" : to_string(f) + std::string(" refused")});
        return it->second;
    }
    ProbeResult can_attach(Flavor f, const std::string& target) override {
        if (!flavors.count(f)) return {false, std::string(to_string(f)) + " unavailable"};
        if (!targets.count({f, target})) return {false, "no " + target + " for " + to_string(f)};
        return {true, target};
    }
    bool kallsyms_has(const std::string& name) override { return symbols.count(name) != 0; }
    std::optional<int> tracepoint_arity(const std::string&) const override { return kfree_skb_arity; }
    bool conntrack_in_module() const override { return conntrack_module; }

private:
    std::map<Flavor, ProbeResult> results_;
};

const HookSpec& early_drop_spec() { return drop_cause_hooks().front(); }

TEST(HookPlanning, TheFirstCandidateThatAttachesIsChosenAndTheOthersSayWhy) {
    FakeKernel k = FakeKernel::with({Flavor::kprobe, Flavor::kretprobe});
    HookPlan plan = plan_hook(early_drop_spec(), k, std::nullopt);
    ASSERT_TRUE(plan.chosen);
    EXPECT_EQ(plan.chosen->flavor, Flavor::kprobe);
    EXPECT_EQ(plan.rejected, std::vector<std::string>{"fentry unavailable"});
}

TEST(HookPlanning, AForcedBackendSkipsTheOthersAndSaysWhenItHasNoCandidate) {
    FakeKernel k = FakeKernel::with({Flavor::fentry, Flavor::kprobe});
    EXPECT_EQ(plan_hook(early_drop_spec(), k, Backend::kprobe).chosen->flavor, Flavor::kprobe);
    HookPlan none = plan_hook(early_drop_spec(), k, Backend::tracepoint);
    EXPECT_FALSE(none.chosen);
    EXPECT_EQ(none.rejected, std::vector<std::string>{"no tracepoint hook exists for early_drop"});
}

TEST(HookPlanning, ANeutralHookIgnoresTheForcedBackend) {
    FakeKernel k = FakeKernel::with({Flavor::raw_tp});
    const HookSpec drop = drop_hooks(KfreeSkbArgs::reason).front();
    ASSERT_TRUE(drop.neutral);
    HookPlan plan = plan_hook(drop, k, Backend::fentry);
    ASSERT_TRUE(plan.chosen) << "kfree_skb is watched whatever --backend says";
    EXPECT_EQ(plan.chosen->flavor, Flavor::raw_tp);
    EXPECT_EQ(plan.rejected, std::vector<std::string>{"tp_btf unavailable"});
}

TEST(HookPlanning, NothingAttachesNothingIsChosen) {
    FakeKernel k;
    HookPlan plan = plan_hook(helper_drop_hook(), k, std::nullopt);
    EXPECT_FALSE(plan.chosen);
    EXPECT_EQ(plan.rejected, std::vector<std::string>{"kprobe unavailable"});
}

TEST(HookPlanning, KfreeSkbArgumentsTellHowDropsAreRecognised) {
    FakeKernel k;
    EXPECT_EQ(kfree_skb_args(k), KfreeSkbArgs::reason);
    k.kfree_skb_arity = 2;  // before 5.17
    EXPECT_EQ(kfree_skb_args(k), KfreeSkbArgs::location);
    EXPECT_EQ(drop_hooks(KfreeSkbArgs::location).front().candidates.front().programs,
              std::vector<std::string>{"btf_kfree_skb_at"});
    k.kfree_skb_arity = std::nullopt;  // no BTF: a current kernel is assumed
    EXPECT_EQ(kfree_skb_args(k), KfreeSkbArgs::reason);
}

TEST(CausePlanning, BuiltInConntrackPrefersFentryThenKprobes) {
    FakeKernel fentry = FakeKernel::with({Flavor::fentry, Flavor::kprobe});
    CausePlan p = plan_cause_hooks(fentry, std::nullopt);
    EXPECT_EQ(p.backend, Backend::fentry);
    EXPECT_FALSE(p.follows_module);

    FakeKernel kprobe = FakeKernel::with({Flavor::kprobe});
    EXPECT_EQ(plan_cause_hooks(kprobe, std::nullopt).backend, Backend::kprobe);

    FakeKernel neither = FakeKernel::with({Flavor::tp_btf});
    EXPECT_FALSE(plan_cause_hooks(neither, std::nullopt).backend) << "tracepoint: causes from the counters only";
}

TEST(CausePlanning, AllCauseHooksShareOneBackend) {
    // fentry reaches early_drop but not nf_ct_delete: fentry is not used
    // for one and kprobes for the other.
    FakeKernel k = FakeKernel::with({Flavor::fentry, Flavor::kprobe});
    k.targets.erase({Flavor::fentry, "nf_ct_delete"});
    EXPECT_EQ(plan_cause_hooks(k, std::nullopt).backend, Backend::kprobe);
}

TEST(CausePlanning, ConntrackAsAModuleIsFollowedByKprobes) {
    FakeKernel k = FakeKernel::with({Flavor::fentry, Flavor::kprobe});
    k.conntrack_module = true;
    CausePlan p = plan_cause_hooks(k, std::nullopt);
    EXPECT_EQ(p.backend, Backend::kprobe);
    EXPECT_TRUE(p.follows_module) << "fentry would pin the module";
    // Asked for, fentry is used on the module as it is.
    CausePlan forced = plan_cause_hooks(k, Backend::fentry);
    EXPECT_EQ(forced.backend, Backend::fentry);
    EXPECT_FALSE(forced.follows_module);
    // Without nf_hook_slow in kallsyms the module cannot be followed.
    k.symbols.clear();
    EXPECT_FALSE(plan_cause_hooks(k, std::nullopt).backend);
}

TEST(CausePlanning, AForcedBackendTheKernelLacksIsRefusedWithTheReason) {
    FakeKernel k = FakeKernel::with({Flavor::kprobe});
    try {
        plan_cause_hooks(k, Backend::fentry);
        FAIL() << "fentry forced on a kernel without it";
    } catch (const Failure& f) {
        EXPECT_EQ(f.code(), ExitCode::unsupported);
        EXPECT_EQ(std::string(f.what()), "the fentry backend cannot be used here: early_drop: fentry unavailable");
    }
    k.conntrack_module = true;
    k.symbols.clear();
    try {
        plan_cause_hooks(k, Backend::kprobe);
        FAIL() << "kprobe forced without nf_hook_slow";
    } catch (const Failure& f) {
        EXPECT_EQ(std::string(f.what()), "the kprobe backend cannot be used here: no kernel symbol nf_hook_slow");
    }
    EXPECT_FALSE(plan_cause_hooks(k, Backend::tracepoint).backend);
}

}  // namespace
