// SPDX-License-Identifier: GPL-2.0-only
#include <gtest/gtest.h>

#include <optional>
#include <string>
#include <vector>

#include "daemon/metrics.hpp"
#include "daemon/watched_source.hpp"
#include "hook_outcome_builders.hpp"

using namespace nfsleuth;
using nfsleuth_test::outcome;

namespace {

TEST(WatchedSource, HookGaugeSamplesCarryTheMethodAndWhetherItIsAttached) {
    std::vector<HookOutcome> outcomes = {
        outcome("ct_drop", Flavor::tp_btf, true),
        outcome("finit_module_error", Flavor::tracepoint, false, HookStage::attach, "refused"),
        outcome("nf_hook_slow", std::nullopt, false, HookStage::plan, "no fentry"),
    };
    std::vector<MetricsRegistry::Sample> expected = {
        {{"ct_drop", "tp_btf"}, 1.0},
        {{"finit_module_error", "tracepoint"}, 0.0},
        {{"nf_hook_slow", "none"}, 0.0},
    };
    EXPECT_EQ(expected, hook_attached_samples(outcomes));

    // As the daemon exposes them.
    MetricsRegistry m;
    m.define("nfsleuth_hook_attached", MetricsRegistry::Kind::gauge, "hooks", {"hook", "method"});
    m.replace_gauges("nfsleuth_hook_attached", hook_attached_samples(outcomes));
    std::string text = m.render();
    EXPECT_NE(std::string::npos, text.find("nfsleuth_hook_attached{hook=\"ct_drop\",method=\"tp_btf\"} 1\n"));
    EXPECT_NE(std::string::npos,
              text.find("nfsleuth_hook_attached{hook=\"finit_module_error\",method=\"tracepoint\"} 0\n"));
}

TEST(WatchedSource, NamespaceLabelIsTheNameElseTheInode) {
    EXPECT_EQ("blue", netns_label(std::string("blue"), 4026531840u));
    EXPECT_EQ("4026531840", netns_label(std::nullopt, 4026531840u));
}

}  // namespace
