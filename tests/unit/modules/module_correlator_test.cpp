// SPDX-License-Identifier: GPL-2.0-only
#include "modules/module_correlator.hpp"

#include <gtest/gtest.h>

#include <optional>
#include <string>
#include <vector>

#include "module_event_builders.hpp"

using namespace nfsleuth;
using namespace nfsleuth::testing;

namespace {

class CorrelatorTest : public ::testing::Test {
protected:
    // Feeds every event, returning the trigger given to each.
    std::vector<std::optional<Trigger>> feed(const std::vector<ModuleEvent>& events) {
        std::vector<std::optional<Trigger>> out;
        for (const auto& ev : events) out.push_back(correlator.observe(ev));
        return out;
    }

    static void expect_iptables_trigger(const std::optional<Trigger>& t, const std::string& context) {
        ASSERT_TRUE(t.has_value()) << context;
        EXPECT_EQ(t->pid, 1234u) << context;
        EXPECT_EQ(t->comm, "iptables") << context;
        EXPECT_EQ(t->cmdline, "iptables -t nat -L") << context;
        EXPECT_EQ(t->requested, "iptable_nat") << context;
        EXPECT_EQ(t->ts_boot_ns, 10 * kSecond) << context;
        ASSERT_EQ(t->ancestors.size(), 2u) << context;
        EXPECT_EQ(t->ancestors[0].comm, "bash") << context;
        EXPECT_EQ(t->ancestors[1].pid, 900u) << context;
    }

    ModuleCorrelator correlator;
};

// A correlator with a short request lifetime, for the expiry tests.
ModuleCorrelator::Limits short_ttl(uint64_t ttl_ns) {
    ModuleCorrelator::Limits limits;
    limits.request_ttl_ns = ttl_ns;
    return limits;
}

// --- (a) autoload through a kernel-spawned modprobe --------------------------

TEST_F(CorrelatorTest, AutoloadAttributesEveryLoadToTheRequester) {
    const auto events = iptables_nat_autoload();
    const auto triggers = feed(events);
    ASSERT_EQ(triggers.size(), 5u);
    EXPECT_FALSE(triggers[0].has_value()) << "the request itself was not caused by anyone else";
    for (std::size_t i = 1; i < triggers.size(); ++i) expect_iptables_trigger(triggers[i], events[i].module);
    EXPECT_EQ(correlator.pending_requests(), 0u) << "the request was claimed by its modprobe";
}

TEST_F(CorrelatorTest, FailedLoadOfTheRequestedModuleIsAttributed) {
    const Process modprobe = kernel_modprobe(2000, "iptable_nat");
    correlator.observe(request(10 * kSecond, iptables_process(), "iptable_nat"));
    expect_iptables_trigger(correlator.observe(load_error(10 * kSecond + 5, modprobe, "iptable_nat", -17)),
                            "load_error");
}

TEST_F(CorrelatorTest, KernelModprobeForAnUnrequestedNameHasNoTrigger) {
    correlator.observe(request(10 * kSecond, iptables_process(), "iptable_nat"));
    EXPECT_FALSE(correlator.observe(load(11 * kSecond, kernel_modprobe(2000, "nf_tables"), "nf_tables")));
    EXPECT_EQ(correlator.pending_requests(), 1u);
}

TEST_F(CorrelatorTest, LoadBeforeAnyRequestHasNoTrigger) {
    EXPECT_FALSE(correlator.observe(load(kSecond, kernel_modprobe(2000, "sctp"), "sctp")));
}

// --- (b) explicit modprobe ---------------------------------------------------

TEST_F(CorrelatorTest, ExplicitModprobeFromAShellHasNoTrigger) {
    const Process modprobe = user_process(3000, "modprobe", {"modprobe", "nf_conntrack"},
                                          {{1200, "bash", false}, {900, "sshd", false}});
    EXPECT_FALSE(correlator.observe(load(kSecond, modprobe, "nf_defrag_ipv4")));
    EXPECT_FALSE(correlator.observe(load(kSecond + 1, modprobe, "nf_conntrack")));
}

TEST_F(CorrelatorTest, ExplicitModprobeDoesNotClaimAPendingRequest) {
    correlator.observe(request(10 * kSecond, iptables_process(), "iptable_nat"));
    // Same argv as the kernel would use, but run from a shell.
    const Process modprobe = user_process(3000, "modprobe", {"/sbin/modprobe", "-q", "--", "iptable_nat"},
                                          {{1200, "bash", false}});
    EXPECT_FALSE(correlator.observe(load(11 * kSecond, modprobe, "iptable_nat")));
    EXPECT_EQ(correlator.pending_requests(), 1u);
    // The kernel's own modprobe still finds the request afterwards.
    expect_iptables_trigger(correlator.observe(load(12 * kSecond, kernel_modprobe(2001, "iptable_nat"), "iptable_nat")),
                            "kernel modprobe");
}

// --- (c) concurrent requests ---------------------------------------------------

TEST_F(CorrelatorTest, ConcurrentRequestsAreNotMixedUp) {
    const Process iptables = iptables_process();
    const Process ip6tables =
        user_process(1300, "ip6tables", {"ip6tables", "-L"}, {{1250, "bash", false}, {900, "sshd", false}});
    const Process mp4 = kernel_modprobe(2000, "iptable_nat");
    const Process mp6 = kernel_modprobe(2001, "ip6table_filter");

    const uint64_t t = 10 * kSecond;
    const std::vector<ModuleEvent> events = {
        request(t, iptables, "iptable_nat"),       request(t + 1, ip6tables, "ip6table_filter"),
        load(t + 2, mp6, "x_tables"),              load(t + 3, mp4, "nf_defrag_ipv4"),
        load(t + 4, mp6, "ip6_tables"),            load(t + 5, mp4, "nf_conntrack"),
        load(t + 6, mp4, "nf_nat"),                load(t + 7, mp6, "ip6table_filter"),
        load(t + 8, mp4, "iptable_nat"),
    };
    const auto triggers = feed(events);
    EXPECT_FALSE(triggers[0]);
    EXPECT_FALSE(triggers[1]);
    for (std::size_t i = 2; i < events.size(); ++i) {
        ASSERT_TRUE(triggers[i]) << events[i].module;
        if (events[i].proc.pid == mp4.pid) {
            expect_iptables_trigger(triggers[i], events[i].module);
        } else {
            EXPECT_EQ(triggers[i]->pid, 1300u) << events[i].module;
            EXPECT_EQ(triggers[i]->comm, "ip6tables") << events[i].module;
            EXPECT_EQ(triggers[i]->cmdline, "ip6tables -L") << events[i].module;
            EXPECT_EQ(triggers[i]->requested, "ip6table_filter") << events[i].module;
        }
    }
    EXPECT_EQ(correlator.pending_requests(), 0u);
}

// --- (d) nested request --------------------------------------------------------

TEST_F(CorrelatorTest, NestedRequestInheritsTheOriginalTrigger) {
    auto events = iptables_nat_autoload();
    const Process modprobe = events[1].proc;
    const Process nested = kernel_modprobe(2100, "crypto-crc32c");
    const uint64_t t = events.back().ts_boot_ns;
    feed(events);

    // nf_conntrack's dependency asks for crc32c while the first modprobe runs.
    auto t_request = correlator.observe(request(t + 10, modprobe, "crypto-crc32c"));
    expect_iptables_trigger(t_request, "nested request");

    auto t_generic = correlator.observe(load(t + 20, nested, "crc32c_generic"));
    expect_iptables_trigger(t_generic, "crc32c_generic");
    auto t_libcrc = correlator.observe(load(t + 30, modprobe, "libcrc32c"));
    expect_iptables_trigger(t_libcrc, "libcrc32c");
    EXPECT_EQ(correlator.pending_requests(), 0u);
}

TEST_F(CorrelatorTest, NestedModprobesOwnRequestsAlsoInherit) {
    feed(iptables_nat_autoload());
    const Process first = kernel_modprobe(2000, "iptable_nat");
    const Process second = kernel_modprobe(2100, "crypto-crc32c");
    const Process third = kernel_modprobe(2200, "crypto-crc32c-intel");
    correlator.observe(request(20 * kSecond, first, "crypto-crc32c"));
    correlator.observe(load(20 * kSecond + 1, second, "crypto"));
    expect_iptables_trigger(correlator.observe(request(20 * kSecond + 2, second, "crypto-crc32c-intel")),
                            "second-level request");
    expect_iptables_trigger(correlator.observe(load(20 * kSecond + 3, third, "crc32c_intel")), "crc32c_intel");
}

// --- (e) expiry ----------------------------------------------------------------

TEST(CorrelatorExpiry, UnansweredRequestExpiresAfterTtl) {
    ModuleCorrelator correlator(short_ttl(1000));
    correlator.observe(request(5000, iptables_process(), "iptable_nat"));
    EXPECT_EQ(correlator.pending_requests(), 1u);
    // An unrelated event after the lifetime drives the expiry.
    correlator.observe(load(6001, kernel_modprobe(2000, "dummy"), "dummy"));
    EXPECT_EQ(correlator.pending_requests(), 0u);
    EXPECT_FALSE(correlator.observe(load(6002, kernel_modprobe(2001, "iptable_nat"), "iptable_nat")));
}

TEST(CorrelatorExpiry, RequestIsStillValidAtExactlyTtl) {
    ModuleCorrelator correlator(short_ttl(1000));
    correlator.observe(request(5000, iptables_process(), "iptable_nat"));
    auto t = correlator.observe(load(6000, kernel_modprobe(2000, "iptable_nat"), "iptable_nat"));
    ASSERT_TRUE(t);
    EXPECT_EQ(t->pid, 1234u);
}

TEST(CorrelatorExpiry, LaterLoadForTheExpiredNameGetsNoTrigger) {
    ModuleCorrelator correlator(short_ttl(1000));
    correlator.observe(request(5000, iptables_process(), "iptable_nat"));
    EXPECT_FALSE(correlator.observe(load(7000, kernel_modprobe(2000, "iptable_nat"), "iptable_nat")));
    EXPECT_EQ(correlator.pending_requests(), 0u);
}

// --- (f) newest request wins -----------------------------------------------------

TEST_F(CorrelatorTest, NewestRequestForTheSameNameWins) {
    const Process older = user_process(1500, "nft", {"nft", "list", "ruleset"}, {{1200, "bash", false}});
    const Process newer = iptables_process();
    correlator.observe(request(kSecond, older, "iptable_nat"));
    correlator.observe(request(2 * kSecond, newer, "iptable_nat"));
    EXPECT_EQ(correlator.pending_requests(), 2u);

    auto t = correlator.observe(load(3 * kSecond, kernel_modprobe(2000, "iptable_nat"), "iptable_nat"));
    ASSERT_TRUE(t);
    EXPECT_EQ(t->pid, 1234u);
    EXPECT_EQ(t->ts_boot_ns, 2 * kSecond);
    EXPECT_EQ(correlator.pending_requests(), 1u);

    // The older request is still there for a second modprobe.
    auto t2 = correlator.observe(load(4 * kSecond, kernel_modprobe(2001, "iptable_nat"), "iptable_nat"));
    ASSERT_TRUE(t2);
    EXPECT_EQ(t2->pid, 1500u);
    EXPECT_EQ(t2->comm, "nft");
    EXPECT_EQ(correlator.pending_requests(), 0u);
}

// --- (g) bounded pending list ---------------------------------------------------

TEST(CorrelatorBounds, MaxPendingDropsTheOldestRequests) {
    ModuleCorrelator::Limits limits;
    limits.max_pending = 3;
    ModuleCorrelator correlator(limits);
    const std::vector<std::string> names = {"m0", "m1", "m2", "m3", "m4"};
    for (std::size_t i = 0; i < names.size(); ++i) {
        correlator.observe(request(kSecond + i, user_process(100 + static_cast<uint32_t>(i), "req", {"req"}, {}), names[i]));
        EXPECT_LE(correlator.pending_requests(), 3u);
    }
    EXPECT_EQ(correlator.pending_requests(), 3u);
    EXPECT_FALSE(correlator.observe(load(2 * kSecond, kernel_modprobe(2000, "m0"), "m0"))) << "dropped";
    EXPECT_FALSE(correlator.observe(load(2 * kSecond, kernel_modprobe(2001, "m1"), "m1"))) << "dropped";
    auto t = correlator.observe(load(2 * kSecond, kernel_modprobe(2002, "m2"), "m2"));
    ASSERT_TRUE(t);
    EXPECT_EQ(t->pid, 102u);
    EXPECT_EQ(correlator.pending_requests(), 2u);
}

TEST(CorrelatorBounds, MaxLoadersEvictsTheOldestLink) {
    ModuleCorrelator::Limits limits;
    limits.max_loaders = 1;
    ModuleCorrelator correlator(limits);
    const Process first = kernel_modprobe(2000, "iptable_nat");
    const Process second = kernel_modprobe(2001, "sctp");
    correlator.observe(request(kSecond, iptables_process(), "iptable_nat"));
    correlator.observe(request(kSecond + 1, user_process(1500, "curl", {"curl"}, {}), "sctp"));
    ASSERT_TRUE(correlator.observe(load(kSecond + 2, first, "nf_defrag_ipv4")));
    ASSERT_TRUE(correlator.observe(load(kSecond + 3, second, "libcrc32c")));
    // Only the newest link is kept.
    EXPECT_FALSE(correlator.observe(load(kSecond + 4, first, "nf_conntrack")));
    auto t = correlator.observe(load(kSecond + 5, second, "sctp"));
    ASSERT_TRUE(t);
    EXPECT_EQ(t->pid, 1500u);
}

// --- (h) module_free -------------------------------------------------------------

TEST_F(CorrelatorTest, UnloadHasNoTriggerByDefault) {
    correlator.observe(request(kSecond, iptables_process(), "iptable_nat"));
    const Process rmmod = user_process(4000, "rmmod", {"rmmod", "iptable_nat"}, {{1200, "bash", false}});
    EXPECT_FALSE(correlator.observe(unload(2 * kSecond, rmmod, "iptable_nat")));
    // Not even from a kernel-spawned process whose argv names a pending request:
    // unloading never claims a request.
    EXPECT_FALSE(correlator.observe(unload(3 * kSecond, kernel_modprobe(2000, "iptable_nat"), "iptable_nat")));
    EXPECT_EQ(correlator.pending_requests(), 1u);
}

TEST_F(CorrelatorTest, UnloadByALinkedLoaderIsAttributed) {
    feed(iptables_nat_autoload());
    // If the modprobe that loaded for iptables unloads a module, that is its doing too.
    expect_iptables_trigger(correlator.observe(unload(11 * kSecond, kernel_modprobe(2000, "iptable_nat"), "nf_nat")),
                            "unload by loader");
}

// --- (i) pid reuse -----------------------------------------------------------------

TEST(CorrelatorPidReuse, LoaderLinkIsForgottenAfterTtl) {
    ModuleCorrelator correlator(short_ttl(1000));
    correlator.observe(request(5000, iptables_process(), "iptable_nat"));
    ASSERT_TRUE(correlator.observe(load(5100, kernel_modprobe(2000, "iptable_nat"), "iptable_nat")));
    // Within the lifetime, the same pid is still the linked loader.
    EXPECT_TRUE(correlator.observe(load(6100, kernel_modprobe(2000, "iptable_nat"), "nf_nat")));
    // Later, pid 2000 belongs to someone's explicit modprobe.
    const Process reused = user_process(2000, "modprobe", {"modprobe", "dummy"}, {{1200, "bash", false}});
    EXPECT_FALSE(correlator.observe(load(6101, reused, "dummy")));
    EXPECT_FALSE(correlator.observe(request(6102, reused, "dummy-alias")));
}

// A loader link may outlive its modprobe; a process that reuses the pid is
// not a kernel-spawned modprobe asking for the same name, and inherits nothing.
TEST(CorrelatorPidReuse, ReusedPidOfAnExplicitModprobeWithinTtlGetsNoTrigger) {
    ModuleCorrelator correlator;
    correlator.observe(request(10 * kSecond, iptables_process(), "iptable_nat"));
    ASSERT_TRUE(correlator.observe(load(10 * kSecond + 1, kernel_modprobe(2000, "iptable_nat"), "iptable_nat")));
    const Process reused = user_process(2000, "modprobe", {"modprobe", "dummy"}, {{1200, "bash", false}});
    EXPECT_FALSE(correlator.observe(load(60 * kSecond, reused, "dummy")));
}

// A new kernel-spawned modprobe that got a recycled pid claims the request
// its argv names, not the old link.
TEST(CorrelatorPidReuse, ReusedPidOfAnotherKernelModprobeClaimsItsOwnRequest) {
    ModuleCorrelator correlator;
    correlator.observe(request(10 * kSecond, iptables_process(), "iptable_nat"));
    ASSERT_TRUE(correlator.observe(load(10 * kSecond + 1, kernel_modprobe(2000, "iptable_nat"), "iptable_nat")));
    const Process curl = user_process(1500, "curl", {"curl", "sctp://x"}, {{1200, "bash", false}});
    correlator.observe(request(60 * kSecond, curl, "net-pf-10-proto-132"));
    auto t = correlator.observe(load(60 * kSecond + 1, kernel_modprobe(2000, "net-pf-10-proto-132"), "sctp"));
    ASSERT_TRUE(t);
    EXPECT_EQ(t->pid, 1500u);
    EXPECT_EQ(t->requested, "net-pf-10-proto-132");
    EXPECT_EQ(correlator.pending_requests(), 0u);
}

// A nested request lives for the ttl from its own time, not from the time of
// the original request it inherits.
TEST(CorrelatorExpiry, NestedRequestLivesForTtlFromItsOwnTime) {
    ModuleCorrelator correlator(short_ttl(1000));
    correlator.observe(request(5000, iptables_process(), "iptable_nat"));
    const Process first = kernel_modprobe(2000, "iptable_nat");
    ASSERT_TRUE(correlator.observe(load(5500, first, "nf_conntrack")));
    ASSERT_TRUE(correlator.observe(request(5900, first, "crypto-crc32c")));
    // 200 ns after the nested request, well within its lifetime.
    auto t = correlator.observe(load(6100, kernel_modprobe(2100, "crypto-crc32c"), "crc32c_generic"));
    ASSERT_TRUE(t);
    EXPECT_EQ(t->pid, 1234u);
    EXPECT_EQ(t->requested, "iptable_nat");
}

// --- requested_name_from_modprobe_argv ---------------------------------------------

TEST(RequestedNameFromModprobeArgv, NothingAfterDoubleDash) {
    EXPECT_EQ(requested_name_from_modprobe_argv({"modprobe", "-q", "--"}), "");
}

TEST(CorrelatorLimits, ZeroBoundsAreClampedToOne) {
    ModuleCorrelator::Limits limits;
    limits.max_pending = 0;
    limits.max_loaders = 0;
    ModuleCorrelator correlator(limits);
    correlator.observe(request(100, iptables_process(), "iptable_nat"));
    correlator.observe(request(200, iptables_process(), "nft-chain-2-nat"));
    EXPECT_EQ(correlator.pending_requests(), 1u);
    auto t = correlator.observe(load(300, kernel_modprobe(2000, "nft-chain-2-nat"), "nft_chain_nat"));
    ASSERT_TRUE(t);
    EXPECT_EQ(t->requested, "nft-chain-2-nat");
}

TEST(RequestedNameFromModprobeArgv, NameAfterDoubleDash) {
    EXPECT_EQ(requested_name_from_modprobe_argv({"/sbin/modprobe", "-q", "--", "iptable_nat"}), "iptable_nat");
    EXPECT_EQ(requested_name_from_modprobe_argv({"/sbin/modprobe", "-q", "--", "net-pf-10", "extra"}), "net-pf-10");
    // A name that looks like an option is still the name after "--".
    EXPECT_EQ(requested_name_from_modprobe_argv({"/sbin/modprobe", "--", "-q"}), "-q");
}

TEST(RequestedNameFromModprobeArgv, LastArgumentWithoutDoubleDash) {
    EXPECT_EQ(requested_name_from_modprobe_argv({"/sbin/modprobe", "-q", "crypto-crc32c"}), "crypto-crc32c");
    EXPECT_EQ(requested_name_from_modprobe_argv({"modprobe", "sctp"}), "sctp");
}

TEST(RequestedNameFromModprobeArgv, NothingToFind) {
    EXPECT_EQ(requested_name_from_modprobe_argv({}), "");
    EXPECT_EQ(requested_name_from_modprobe_argv({"/sbin/modprobe"}), "");
}

}  // namespace
