// SPDX-License-Identifier: GPL-2.0-only
#include "doctor/doctor_facts.hpp"

#include <gtest/gtest.h>

#include <string>

using namespace nfsleuth;

namespace {

DoctorFacts privileged_kprobe_host() {
    DoctorFacts f;
    f.kernel_release = "6.1.0-57-amd64";
    f.btf_available = true;
    f.btf_path = "/sys/kernel/btf/vmlinux";
    f.caps.sys_admin = true;
    f.ringbuf = true;
    f.loadable_modules = true;
    f.module_tracepoints = true;
    f.tracefs = "/sys/kernel/tracing";
    for (Flavor fl : {Flavor::kprobe, Flavor::kretprobe, Flavor::tp_btf, Flavor::raw_tp, Flavor::tracepoint})
        f.attach_types[fl] = {true, "ok"};
    f.attach_types[Flavor::fentry] = {false, "no BTF for modules"};
    HookFact drop{"ct_drop", "netfilter drops", true, Flavor::tp_btf, "kfree_skb", {}, true, std::nullopt};
    HookFact helper{"helper_drop", "helper drops", false, std::nullopt, "", {"kprobe unavailable: x"}, std::nullopt,
                    std::nullopt};
    f.hooks = {drop, helper};
    f.drops = DropFacts{"kprobe", true, std::string("kfree_skb reason NETFILTER_DROP")};
    f.conntrack_state = "module";
    f.namespaces = {{4026531840u, "init", 12, 262144}, {4026532252u, "evil\x1b[2J", std::nullopt, std::nullopt}};
    return f;
}

TEST(DoctorFacts, BackendsFollowTheAttachTypes) {
    DoctorFacts f = privileged_kprobe_host();
    EXPECT_FALSE(f.backend_works(Backend::fentry));
    EXPECT_TRUE(f.backend_works(Backend::kprobe));
    EXPECT_TRUE(f.backend_works(Backend::tracepoint));
    f.attach_types.erase(Flavor::kretprobe);
    EXPECT_FALSE(f.backend_works(Backend::kprobe)) << "kprobes need their return probes too";
    EXPECT_FALSE(DoctorFacts{}.backend_works(Backend::tracepoint)) << "nothing probed: nothing works";
}

TEST(DoctorFacts, JsonCarriesEveryFactInItsFixedOrder) {
    auto j = to_json(privileged_kprobe_host());
    std::string keys;
    for (const auto& [k, v] : j.items()) keys += k + " ";
    EXPECT_EQ(keys,
              "kernel_release btf privileges loadable_modules module_tracepoints tracefs ringbuf attach_types hooks "
              "drop_backend drop_causes_follow_module drop_recognised_by backends nf_conntrack kernel_agreement notes ");
    EXPECT_EQ(j["hooks"][0]["attach"], "tp_btf:kfree_skb");
    EXPECT_EQ(j["hooks"][0]["backend"], "tracepoint");
    EXPECT_EQ(j["hooks"][0]["works"], true);
    EXPECT_TRUE(j["hooks"][1]["attach"].is_null());
    EXPECT_TRUE(j["hooks"][1]["works"].is_null()) << "not tried is null, not false";
    EXPECT_EQ(j["backends"]["kprobe"], true);
    EXPECT_EQ(j["drop_backend"], "kprobe");
    EXPECT_TRUE(j["nf_conntrack"]["namespaces"][1]["count"].is_null());
    EXPECT_TRUE(j["kernel_agreement"]["journal"].is_null());
    EXPECT_EQ(j["attach_types"].size(), 6u) << "only the probed types";
}

TEST(DoctorFacts, UnprivilegedFactsAreNullNotFalse) {
    DoctorFacts f;
    f.conntrack_state = "absent";
    auto j = to_json(f);
    EXPECT_TRUE(j["ringbuf"].is_null());
    EXPECT_TRUE(j["drop_backend"].is_null());
    EXPECT_TRUE(j["attach_types"].empty());
    EXPECT_EQ(exit_code(f), ExitCode::privilege);
    std::string text = to_text(f);
    EXPECT_NE(text.find("  ring buffer            not probed\n"), std::string::npos) << text;
    EXPECT_NE(text.find("  fentry      not probed\n"), std::string::npos) << text;
}

TEST(DoctorFacts, TextShowsHooksAndEscapesNamespaceNames) {
    DoctorFacts f = privileged_kprobe_host();
    f.hooks[1].refused = std::nullopt;
    std::string text = to_text(f);
    EXPECT_NE(text.find("  ct_drop              tracepoint (tp_btf:kfree_skb), works\n"), std::string::npos) << text;
    EXPECT_NE(text.find("  helper_drop          unavailable: kprobe unavailable: x\n"), std::string::npos) << text;
    EXPECT_NE(text.find("evil\\x1b[2J"), std::string::npos) << "names are escaped: " << text;
    EXPECT_EQ(text.find("evil\x1b"), std::string::npos);
    EXPECT_NE(text.find("Drops recognised by: kfree_skb reason NETFILTER_DROP\n"), std::string::npos) << text;
    EXPECT_NE(text.find("Kernel counters: no journal to check (--journal FILE)\n"), std::string::npos) << text;
}

TEST(DoctorFacts, RefusedHooksAndMismatchesDecideTheExitCode) {
    DoctorFacts f = privileged_kprobe_host();
    EXPECT_EQ(exit_code(f), ExitCode::ok);
    f.mismatches.mismatches = 2;
    f.journal = "/var/lib/nfsleuth/journal";
    EXPECT_EQ(exit_code(f), ExitCode::failure);
    EXPECT_NE(to_text(f).find("Kernel counters: DISAGREED 2 time(s) in /var/lib/nfsleuth/journal\n"),
              std::string::npos);
    f.hooks[0].refused = HookFact::Refusal{"load", "invalid argument"};
    EXPECT_EQ(exit_code(f), ExitCode::unsupported) << "a refused hook outranks the journal";
    EXPECT_NE(to_text(f).find("ct_drop              tracepoint (tp_btf:kfree_skb): REFUSED at load: invalid argument"),
              std::string::npos);
    EXPECT_EQ(to_json(f)["hooks"][0]["refused"]["stage"], "load");
}

TEST(DoctorFacts, DropsNobodyCanRecogniseAreAFinding) {
    DoctorFacts f = privileged_kprobe_host();
    EXPECT_EQ(f.hooks_refused(), 0);
    f.drops->recognised_by = std::nullopt;
    EXPECT_EQ(f.hooks_refused(), 1);
    EXPECT_EQ(exit_code(f), ExitCode::unsupported);
    EXPECT_NE(to_text(f).find("Drops recognised by: NOTHING (see the notes)\n"), std::string::npos);
}

}  // namespace
