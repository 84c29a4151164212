// SPDX-License-Identifier: GPL-2.0-only
// The parts of giving up a hook that need no kernel: which loads the search
// after a refused BPF object tries, what is replayed on each object it
// opens, and how the hooks not traced are reported.
#include "kernel/hook_report.hpp"

#include <gtest/gtest.h>

#include <cerrno>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "kernel/bpf_support.hpp"
#include "kernel/hooks.hpp"
#include "modules.skel.h"
#include "probe.skel.h"
#include "hook_outcome_builders.hpp"

using namespace nfsleuth;
using nfsleuth_test::outcome;

namespace {

using Names = std::vector<std::string>;

// Runs a plan against a kernel that refuses the programs of the hooks in
// `refused` (and the required ones when `required_refused`): every attempt
// is a load that fails when it includes one of them. Returns the attempts.
std::vector<Names> drive(LoadRetryPlan& plan, const std::set<std::string>& refused, bool required_refused = false) {
    std::vector<Names> attempts;
    while (const auto& next = plan.next()) {
        attempts.push_back(*next);
        bool fails = required_refused;
        for (const auto& h : *next) fails = fails || refused.count(h);
        plan.record(fails ? -EACCES : 0);
        if (attempts.size() > 100) break;  // a plan that never ends fails below
    }
    return attempts;
}

std::map<std::string, int> refused_map(const LoadRetryPlan& plan) {
    std::map<std::string, int> out;
    for (const auto& [hook, err] : plan.refused()) out[hook] = err;
    return out;
}

}  // namespace

TEST(LoadRetryPlan, WithoutOptionalHooksTheRefusalIsTheRequiredOnes) {
    LoadRetryPlan plan({}, -EINVAL);
    EXPECT_FALSE(plan.next());
    ASSERT_TRUE(plan.required_error());
    EXPECT_EQ(-EINVAL, *plan.required_error());
}

TEST(LoadRetryPlan, RequiredHooksRefusedAloneEndTheSearch) {
    LoadRetryPlan plan({"a", "b"}, -EINVAL);
    auto attempts = drive(plan, {}, true);
    EXPECT_EQ((std::vector<Names>{{}}), attempts);
    ASSERT_TRUE(plan.required_error());
    EXPECT_EQ(-EACCES, *plan.required_error());
}

TEST(LoadRetryPlan, TheOnlyOptionalHookIsTheRefusedOneWithoutTryingIt) {
    LoadRetryPlan plan({"finit"}, -EINVAL);
    auto attempts = drive(plan, {"finit"});
    EXPECT_EQ((std::vector<Names>{{}}), attempts);
    EXPECT_FALSE(plan.required_error());
    EXPECT_EQ((std::map<std::string, int>{{"finit", -EINVAL}}), refused_map(plan));
    EXPECT_TRUE(plan.kept().empty());
}

TEST(LoadRetryPlan, FirstOfTwoRefused) {
    LoadRetryPlan plan({"a", "b"}, -EINVAL);
    auto attempts = drive(plan, {"a"});
    EXPECT_EQ((std::vector<Names>{{}, {"a"}, {"b"}}), attempts);
    EXPECT_EQ((std::map<std::string, int>{{"a", -EACCES}}), refused_map(plan));
    EXPECT_EQ((Names{"b"}), plan.kept());
}

TEST(LoadRetryPlan, LastOfTwoRefusedIsKnownOnceTheFirstLoads) {
    LoadRetryPlan plan({"a", "b"}, -EINVAL);
    auto attempts = drive(plan, {"b"});
    EXPECT_EQ((std::vector<Names>{{}, {"a"}}), attempts);
    EXPECT_EQ((std::map<std::string, int>{{"b", -EINVAL}}), refused_map(plan));
    EXPECT_EQ((Names{"a"}), plan.kept());
}

TEST(LoadRetryPlan, AllRefusedEndsWithTheRequiredOnesLoadedAgain) {
    LoadRetryPlan plan({"a", "b"}, -EINVAL);
    auto attempts = drive(plan, {"a", "b"});
    // The last load must be of what is kept: the refused {b} is not.
    EXPECT_EQ((std::vector<Names>{{}, {"a"}, {"b"}, {}}), attempts);
    EXPECT_EQ((std::map<std::string, int>{{"a", -EACCES}, {"b", -EACCES}}), refused_map(plan));
    EXPECT_TRUE(plan.kept().empty());
    EXPECT_FALSE(plan.required_error());
}

TEST(LoadRetryPlan, MiddleOneRefusedKeepsTheOthers) {
    LoadRetryPlan plan({"a", "b", "c"}, -EINVAL);
    auto attempts = drive(plan, {"b"});
    EXPECT_EQ((std::vector<Names>{{}, {"a"}, {"a", "b"}, {"a", "c"}}), attempts);
    EXPECT_EQ((Names{"a", "c"}), plan.kept());
    EXPECT_EQ((std::map<std::string, int>{{"b", -EACCES}}), refused_map(plan));
}

TEST(LoadRetryPlan, TheLastLoadIsAlwaysOfWhatIsKeptAndTheSearchIsBounded) {
    const Names all = {"a", "b", "c", "d", "e"};
    // Every subset of refused hooks.
    for (unsigned mask = 1; mask < (1u << all.size()); ++mask) {
        std::set<std::string> refused;
        for (std::size_t i = 0; i < all.size(); ++i)
            if (mask & (1u << i)) refused.insert(all[i]);
        LoadRetryPlan plan(all, -EINVAL);
        auto attempts = drive(plan, refused);
        SCOPED_TRACE("mask " + std::to_string(mask));
        ASSERT_FALSE(attempts.empty());
        EXPECT_LE(attempts.size(), all.size() + 2);
        EXPECT_EQ(plan.kept(), attempts.back());
        std::set<std::string> found;
        for (const auto& [hook, err] : plan.refused()) found.insert(hook);
        EXPECT_EQ(refused, found);
        for (const auto& h : plan.kept()) EXPECT_FALSE(refused.count(h)) << h;
    }
}

TEST(LoadRetryPlan, AKernelThatChangesItsMindIsARequiredRefusal) {
    LoadRetryPlan plan({"a", "b"}, -EINVAL);
    // {} loads, {a} and {b} fail, then {} fails too.
    std::vector<int> results = {0, -EACCES, -EACCES, -ENOMEM};
    for (int r : results) {
        ASSERT_TRUE(plan.next());
        plan.record(r);
    }
    EXPECT_FALSE(plan.next());
    ASSERT_TRUE(plan.required_error());
    EXPECT_EQ(-ENOMEM, *plan.required_error());
}

TEST(HookReport, BannerClausesNameEachHookGivenUpAndWhy) {
    std::vector<HookOutcome> outcomes = {
        outcome("module_request", Flavor::tp_btf, true),
        outcome("finit_module_error", Flavor::tracepoint, false, HookStage::attach,
                "cannot attach BPF program tp_finit_module_exit: Permission denied (EACCES)"),
        outcome("sock_owner", std::nullopt, false, HookStage::plan, "no tracepoint inet_sock_set_state"),
    };
    EXPECT_EQ("; not traced: finit_module_error (cannot attach BPF program tp_finit_module_exit: Permission denied "
              "(EACCES)); not traced: sock_owner (no tracepoint inet_sock_set_state)",
              not_traced_clauses(outcomes));
    EXPECT_EQ("", not_traced_clauses({outcome("module_load", Flavor::raw_tp, true)}));
}

TEST(HookReport, SummaryLinesSayWhereEachWasGivenUp) {
    std::vector<HookOutcome> outcomes = {
        outcome("module_load", Flavor::tp_btf, true),
        outcome("finit_module_error", Flavor::tracepoint, false, HookStage::load,
                "the kernel refused to load its programs: Invalid argument (EINVAL)"),
        outcome("ct_activate", std::nullopt, false, HookStage::setup, "nf_conntrack is not loaded"),
    };
    EXPECT_EQ((std::vector<std::string>{
                  "Not traced: finit_module_error (purpose of finit_module_error), given up at load of "
                  "tracepoint:finit_module_error_target: the kernel refused to load its programs: Invalid argument "
                  "(EINVAL)",
                  "Not traced: ct_activate (purpose of ct_activate), given up at setup: nf_conntrack is not loaded",
              }),
              not_traced_lines(outcomes));
}

TEST(HookReport, JsonListsOnlyTheHooksGivenUp) {
    std::vector<HookOutcome> outcomes = {
        outcome("module_free", Flavor::raw_tp, true),
        outcome("finit_module_error", Flavor::tracepoint, false, HookStage::attach, "refused"),
        outcome("sock_owner", std::nullopt, false, HookStage::plan, "none offered"),
    };
    outcomes[1].required = false;
    auto j = not_traced_json(outcomes);
    ASSERT_TRUE(j.is_array());
    ASSERT_EQ(2u, j.size());
    EXPECT_EQ(R"({"hook":"finit_module_error","purpose":"purpose of finit_module_error","required":false,)"
              R"("stage":"attach","attach":"tracepoint:finit_module_error_target","reason":"refused"})",
              j[0].dump());
    EXPECT_TRUE(j[1]["attach"].is_null());
    EXPECT_EQ("plan", j[1]["stage"]);
    EXPECT_TRUE(not_traced_json({}).is_array());
    EXPECT_EQ(0u, not_traced_json({}).size());
}

TEST(HookReport, ASourceThatCannotStartGivesUpAllItsHooks) {
    std::vector<HookSpec> specs = {
        {"ct_activate", "conntrack activation per network namespace", true, {}},
        {"other", "something optional", false, {}},
    };
    auto outcomes = setup_failed(specs, "nf_conntrack is not loaded");
    ASSERT_EQ(2u, outcomes.size());
    for (const auto& o : outcomes) {
        EXPECT_EQ(HookStage::setup, o.failed_at);
        EXPECT_FALSE(o.traced);
        EXPECT_FALSE(o.chosen);
        EXPECT_EQ("nf_conntrack is not loaded", o.reason);
    }
    EXPECT_TRUE(outcomes[0].required);
    EXPECT_FALSE(outcomes[1].required);
    EXPECT_EQ("; not traced: ct_activate (nf_conntrack is not loaded); not traced: other (nf_conntrack is not loaded)",
              not_traced_clauses(outcomes));
}

TEST(CausePrograms, PerBackendAndPerHookExitProgramsFirst) {
    EXPECT_EQ(cause_programs(Backend::kprobe),
              (Names{"kretprobe_early_drop", "kprobe_early_drop", "kprobe_nf_ct_delete"}));
    EXPECT_EQ(cause_programs(Backend::fentry, "early_drop"), (Names{"fexit_early_drop", "fentry_early_drop"}));
    EXPECT_EQ(cause_programs(Backend::fentry, kEvictedEntriesHook), (Names{"fentry_nf_ct_delete"}));
    EXPECT_TRUE(cause_programs(Backend::kprobe, "no_such_hook").empty());
}

TEST(HookReport, StagesHaveStableNames) {
    EXPECT_STREQ("plan", to_string(HookStage::plan));
    EXPECT_STREQ("load", to_string(HookStage::load));
    EXPECT_STREQ("attach", to_string(HookStage::attach));
    EXPECT_STREQ("setup", to_string(HookStage::setup));
}

// Opening a BPF object needs no privileges: the settings a source makes
// between open and load reach the object opened again.
TEST(ObjectSettings, ReachTheObjectOpenedAgain) {
    Skeleton<modules_bpf> first;
    first->rodata->capture_kstack = false;
    ASSERT_EQ(0, bpf_map__set_max_entries(first->maps.module_events, 1024 * 1024));
    bpf_program__set_autoload(first->progs.raw_module_request, false);
    bpf_program__set_autoload(first->progs.tp_init_module_exit, false);
    const ObjectSettings settings(first->obj);

    Skeleton<modules_bpf> again;
    ASSERT_TRUE(again->rodata->capture_kstack);
    settings.apply_to(again->obj);
    EXPECT_FALSE(again->rodata->capture_kstack);
    EXPECT_EQ(1024u * 1024u, bpf_map__max_entries(again->maps.module_events));
    EXPECT_FALSE(bpf_program__autoload(again->progs.raw_module_request));
    EXPECT_FALSE(bpf_program__autoload(again->progs.tp_init_module_exit));
    EXPECT_TRUE(bpf_program__autoload(again->progs.btf_module_request));
}

TEST(ObjectSettings, RefuseAnotherObject) {
    Skeleton<modules_bpf> modules;
    Skeleton<probe_bpf> probe;
    const ObjectSettings settings(modules->obj);
    EXPECT_THROW(settings.apply_to(probe->obj), Failure);
}
