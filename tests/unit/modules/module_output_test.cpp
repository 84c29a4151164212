// SPDX-License-Identifier: GPL-2.0-only
#include "modules/module_output.hpp"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <vector>

#include "common/clock.hpp"
#include "common/json_line.hpp"
#include "module_event_builders.hpp"
#include "modules/module_correlator.hpp"
#include "test_support.hpp"

using namespace nfsleuth;
using namespace nfsleuth::testing;
using json = nlohmann::ordered_json;

namespace {

using nfsleuth_test::cgroup_at;

constexpr uint32_t kNetns = 4026531840u;

ModuleRecord record(ModuleEvent ev, std::optional<Trigger> trigger = std::nullopt) {
    ModuleRecord r;
    ev.proc.netns = kNetns;
    ev.proc.cgroup_id = 7777;
    r.event = std::move(ev);
    r.trigger = std::move(trigger);
    r.ts = "2023-11-14T22:13:20.123456Z";
    r.backend = "tracepoint";
    return r;
}

// Runs events through a correlator, the way the modules command does.
std::vector<ModuleRecord> correlate(const std::vector<ModuleEvent>& events) {
    ModuleCorrelator correlator;
    const BootClock clock(1'700'000'000 * static_cast<int64_t>(kSecond));
    std::vector<ModuleRecord> out;
    for (const auto& ev : events) {
        ModuleRecord r;
        r.trigger = correlator.observe(ev);
        r.ts = clock.rfc3339(ev.ts_boot_ns);
        r.backend = "tracepoint";
        r.event = ev;
        out.push_back(std::move(r));
    }
    return out;
}

ModuleSummary summarize(const std::vector<ModuleRecord>& records, std::size_t max_roots = 1000) {
    ModuleSummary summary(max_roots);
    for (const auto& r : records) summary.add(r);
    return summary;
}

Trigger iptables_trigger() {
    const Process p = iptables_process();
    return Trigger{p.pid, p.comm, p.cmdline(), "iptable_nat", p.ancestors, 10 * kSecond};
}

const std::vector<std::string> kSetsockoptStack = {
    "__request_module+0x1a0",      "xt_find_table_lock+0x120", "do_ipt_get_ctl+0x9c",
    "__x64_sys_setsockopt+0x2a",   "do_syscall_64+0x3b",       "entry_SYSCALL_64_after_hwframe+0x63",
};

const std::set<std::string> kEventKeys = {
    "type",  "ts",       "module", "wait",      "error",     "pid",     "tid",     "comm",
    "cmdline", "argv",   "argv_truncated", "uid", "gid",     "cgroup",  "container", "pod", "unit", "cgroup_id", "netns",
    "ancestors", "kstack", "syscall", "trigger", "backend",
};

std::set<std::string> keys(const json& j) {
    std::set<std::string> out;
    for (const auto& [k, v] : j.items()) out.insert(k);
    return out;
}

bool has_raw_control(const std::string& s) {
    for (char ch : s) {
        const auto c = static_cast<unsigned char>(ch);
        if (c < 0x20 || c == 0x7f) return true;
    }
    return false;
}

// --- to_json ---------------------------------------------------------------

TEST(ModuleJson, RequestHasEveryFieldWithItsType) {
    Process p = iptables_process();
    p.uid = 1000;
    p.gid = 1001;
    p.tid = 1235;
    ModuleRecord r = record(request(10 * kSecond, p, "iptable_nat"));
    r.kstack = kSetsockoptStack;
    r.cgroup = cgroup_at("/user.slice/user-1000.slice/session-3.scope");
    const json j = to_json(r);

    EXPECT_EQ(keys(j), kEventKeys);
    EXPECT_EQ(j.at("type"), "module_request");
    EXPECT_EQ(j.at("ts"), "2023-11-14T22:13:20.123456Z");
    EXPECT_EQ(j.at("module"), "iptable_nat");
    ASSERT_TRUE(j.at("wait").is_boolean());
    EXPECT_EQ(j.at("wait"), true);
    EXPECT_TRUE(j.at("error").is_null());
    ASSERT_TRUE(j.at("pid").is_number_unsigned());
    EXPECT_EQ(j.at("pid"), 1234);
    EXPECT_EQ(j.at("tid"), 1235);
    EXPECT_EQ(j.at("comm"), "iptables");
    EXPECT_EQ(j.at("cmdline"), "iptables -t nat -L");
    EXPECT_EQ(j.at("argv"), json::array({"iptables", "-t", "nat", "-L"}));
    ASSERT_TRUE(j.at("argv_truncated").is_boolean());
    EXPECT_EQ(j.at("argv_truncated"), false);
    EXPECT_EQ(j.at("uid"), 1000);
    EXPECT_EQ(j.at("gid"), 1001);
    EXPECT_EQ(j.at("cgroup"), "/user.slice/user-1000.slice/session-3.scope");
    ASSERT_TRUE(j.at("cgroup_id").is_number_unsigned());
    EXPECT_EQ(j.at("cgroup_id"), 7777);
    ASSERT_TRUE(j.at("netns").is_number_unsigned());
    EXPECT_EQ(j.at("netns"), kNetns);
    EXPECT_EQ(j.at("ancestors"), json::parse(R"([{"pid":1200,"comm":"bash"},{"pid":900,"comm":"sshd"}])"));
    EXPECT_EQ(j.at("kstack"), json(kSetsockoptStack));
    EXPECT_EQ(j.at("syscall"), "setsockopt");
    EXPECT_TRUE(j.at("trigger").is_null());
    EXPECT_EQ(j.at("backend"), "tracepoint");
}

TEST(ModuleJson, RequestWithoutSyscallFrameHasEmptySyscall) {
    const json j = to_json(record(request(kSecond, kernel_modprobe(2000, "iptable_nat"), "crypto-crc32c")));
    ASSERT_TRUE(j.at("syscall").is_string());
    EXPECT_EQ(j.at("syscall"), "");
    EXPECT_EQ(j.at("kstack"), json::array());
}

TEST(ModuleJson, LoadWithTrigger) {
    const Process modprobe = kernel_modprobe(2000, "iptable_nat");
    const json j = to_json(record(load(11 * kSecond, modprobe, "nf_nat"), iptables_trigger()));
    EXPECT_EQ(keys(j), kEventKeys);
    EXPECT_EQ(j.at("type"), "module_load");
    EXPECT_EQ(j.at("module"), "nf_nat");
    EXPECT_TRUE(j.at("wait").is_null());
    EXPECT_TRUE(j.at("error").is_null());
    EXPECT_TRUE(j.at("syscall").is_null());
    EXPECT_TRUE(j.at("cgroup").is_null());
    EXPECT_EQ(j.at("pid"), 2000);
    EXPECT_EQ(j.at("comm"), "modprobe");
    EXPECT_EQ(j.at("argv"), json::array({"/sbin/modprobe", "-q", "--", "iptable_nat"}));
    EXPECT_EQ(j.at("ancestors"), json::parse(R"([{"pid":77,"comm":"kworker/u8:1"},{"pid":2,"comm":"kthreadd"}])"));
    EXPECT_EQ(j.at("trigger"),
              json::parse(R"({"pid":1234,"comm":"iptables","cmdline":"iptables -t nat -L","requested":"iptable_nat"})"));
    EXPECT_TRUE(j.at("trigger").at("pid").is_number_unsigned());
}

TEST(ModuleJson, LoadErrorNamesTheErrno) {
    const json j =
        to_json(record(load_error(11 * kSecond, kernel_modprobe(2000, "iptable_nat"), "iptable_nat", -17)));
    EXPECT_EQ(keys(j), kEventKeys);
    EXPECT_EQ(j.at("type"), "module_load_error");
    EXPECT_EQ(j.at("error"), "EEXIST");
    EXPECT_TRUE(j.at("wait").is_null());
    EXPECT_TRUE(j.at("syscall").is_null());
    EXPECT_TRUE(j.at("trigger").is_null());
}

TEST(ModuleJson, UnknownErrnoFallsBackToTheNumber) {
    const json j = to_json(record(load_error(kSecond, kernel_modprobe(2000, "x"), "x", -4000)));
    EXPECT_EQ(j.at("error"), "-4000");
}

TEST(ModuleJson, Free) {
    Process rmmod = user_process(4000, "rmmod", {"rmmod", "nf_nat"}, {{1200, "bash", false}});
    rmmod.args_truncated = true;
    const json j = to_json(record(unload(20 * kSecond, rmmod, "nf_nat")));
    EXPECT_EQ(keys(j), kEventKeys);
    EXPECT_EQ(j.at("type"), "module_free");
    EXPECT_TRUE(j.at("wait").is_null());
    EXPECT_TRUE(j.at("error").is_null());
    EXPECT_TRUE(j.at("syscall").is_null());
    EXPECT_TRUE(j.at("trigger").is_null());
    EXPECT_EQ(j.at("argv_truncated"), true);
}

// --- hostile strings ----------------------------------------------------------

ModuleRecord hostile_record() {
    Process p = user_process(666, "ev\nil\x1b[2J\"q\\",
                             {"a\tb", "\xff\xfe", "caf\xc3\xa9", "\xc2\x9b", "x\x7f", "line1\r\nline2"},
                             {{1, "in\x1b]0;t\x07it", false}});
    ModuleRecord r = record(request(kSecond, p, "nf\ncon\xe6\x97"));
    r.cgroup = cgroup_at("/evil\n.scope");
    r.kstack = {"__request_module+0x1", "__x64_sys_socket+0x2"};
    Trigger t = iptables_trigger();
    t.comm = "tr\x1bigger";
    t.requested = "req\nuested";
    r.trigger = t;
    return r;
}

TEST(ModuleJsonLine, HostileStringsStayOnOneAsciiLine) {
    const std::string line = json_line(to_json(hostile_record()));
    for (char ch : line) {
        const auto c = static_cast<unsigned char>(ch);
        ASSERT_TRUE(c >= 0x20 && c < 0x7f) << "byte " << int(c) << " in " << line;
    }
    EXPECT_NE(line.find("\\u001b"), std::string::npos);
    EXPECT_NE(line.find("\\n"), std::string::npos);
}

TEST(ModuleJsonLine, HostileStringsParseBack) {
    const std::string line = json_line(to_json(hostile_record()));
    const json back = json::parse(line);
    const std::string fffd = "\xef\xbf\xbd";
    EXPECT_EQ(back.at("comm"), "ev\nil\x1b[2J\"q\\");  // valid UTF-8 survives exactly
    EXPECT_EQ(back.at("argv").at(0), "a\tb");
    EXPECT_EQ(back.at("argv").at(1), fffd + fffd);  // invalid bytes become U+FFFD
    EXPECT_EQ(back.at("argv").at(2), "caf\xc3\xa9");
    EXPECT_EQ(back.at("argv").at(3), "\xc2\x9b");
    EXPECT_EQ(back.at("argv").at(4), "x\x7f");
    EXPECT_EQ(back.at("argv").at(5), "line1\r\nline2");
    EXPECT_EQ(back.at("module"), "nf\ncon" + fffd);
    EXPECT_EQ(back.at("cgroup"), "/evil\n.scope");
    EXPECT_EQ(back.at("ancestors").at(0).at("comm"), "in\x1b]0;t\x07it");
    EXPECT_EQ(back.at("trigger").at("comm"), "tr\x1bigger");
    EXPECT_EQ(back.at("trigger").at("requested"), "req\nuested");
    EXPECT_EQ(back.at("syscall"), "socket");
}

TEST(ModuleJsonLine, NonAsciiIsEscaped) {
    EXPECT_EQ(json_line(json{{"m", "caf\xc3\xa9 \xf0\x9f\x98\x80"}}), R"({"m":"caf\u00e9 \ud83d\ude00"})");
    EXPECT_EQ(json_line(json{{"m", "\xff"}}), R"({"m":"\ufffd"})");
}

// --- to_human_line --------------------------------------------------------------

TEST(ModuleHumanLine, LoadWithTrigger) {
    const ModuleRecord r = record(load(11 * kSecond, kernel_modprobe(2000, "iptable_nat"), "nf_nat"), iptables_trigger());
    EXPECT_EQ(to_human_line(r),
              "2023-11-14T22:13:20.123456Z load    nf_nat by modprobe[2000] uid=0 netns=4026531840 "
              "cmd=\"/sbin/modprobe -q -- iptable_nat\" parents=kworker/u8:1[77] <- kthreadd[2] "
              "trigger=iptables[1234] requested=iptable_nat");
}

TEST(ModuleHumanLine, RequestWithCgroupAndSyscall) {
    ModuleRecord r = record(request(10 * kSecond, iptables_process(), "iptable_nat"));
    r.kstack = kSetsockoptStack;
    r.cgroup = cgroup_at("/user.slice");
    EXPECT_EQ(to_human_line(r),
              "2023-11-14T22:13:20.123456Z request iptable_nat by iptables[1234] uid=0 netns=4026531840 "
              "cgroup=/user.slice cmd=\"iptables -t nat -L\" parents=bash[1200] <- sshd[900] syscall=setsockopt");
}

TEST(ModuleHumanLine, FailedAndUnload) {
    const Process modprobe = user_process(3000, "modprobe", {"modprobe", "bogus"}, {});
    EXPECT_EQ(to_human_line(record(load_error(kSecond, modprobe, "bogus", -2))),
              "2023-11-14T22:13:20.123456Z failed  bogus error=ENOENT by modprobe[3000] uid=0 netns=4026531840 "
              "cmd=\"modprobe bogus\"");
    EXPECT_EQ(to_human_line(record(unload(kSecond, modprobe, "dummy"))),
              "2023-11-14T22:13:20.123456Z unload  dummy by modprobe[3000] uid=0 netns=4026531840 "
              "cmd=\"modprobe bogus\"");
}

TEST(ModuleHumanLine, HostileStringsAreEscapedAndTriggerIsShown) {
    const std::string line = to_human_line(hostile_record());
    EXPECT_FALSE(has_raw_control(line)) << line;
    EXPECT_EQ(line.find('\xff'), std::string::npos);
    EXPECT_EQ(line.find("\xc2\x9b"), std::string::npos);
    EXPECT_NE(line.find("request nf\\ncon\\xe6\\x97 by ev\\nil\\x1b[2J\\\"q\\\\[666]"), std::string::npos) << line;
    EXPECT_NE(line.find("cgroup=/evil\\n.scope"), std::string::npos) << line;
    EXPECT_NE(line.find("parents=in\\x1b]0;t\\x07it[1]"), std::string::npos) << line;
    EXPECT_NE(line.find("caf\xc3\xa9"), std::string::npos) << "valid UTF-8 is kept: " << line;
    EXPECT_NE(line.find(" trigger=tr\\x1bigger[1234] requested=req\\nuested"), std::string::npos) << line;
}

// --- matches_filter -----------------------------------------------------------------

TEST(ModuleFilter, PidAndCommSelectTheProcessOrWhatItTriggered) {
    auto records = correlate(iptables_nat_autoload());
    const ModuleRecord& request_by_iptables = records.front();
    const ModuleRecord& load_by_modprobe = records.back();
    ASSERT_TRUE(load_by_modprobe.trigger) << "the load is correlated to its request";
    CommonOptions o;
    o.pid = request_by_iptables.event.proc.pid;
    EXPECT_TRUE(matches_filter(o, request_by_iptables));
    EXPECT_TRUE(matches_filter(o, load_by_modprobe)) << "modprobe's load was triggered by the process";
    o.pid = load_by_modprobe.event.proc.pid;
    EXPECT_FALSE(matches_filter(o, request_by_iptables));
    EXPECT_TRUE(matches_filter(o, load_by_modprobe));
    o.pid.reset();
    o.comm = request_by_iptables.event.proc.comm;
    EXPECT_TRUE(matches_filter(o, load_by_modprobe));
    o.comm = "sshd";
    EXPECT_FALSE(matches_filter(o, request_by_iptables));
    EXPECT_FALSE(matches_filter(o, load_by_modprobe));
}

// --- ModuleSummary ----------------------------------------------------------------

const char* const kIptablesSummary =
    "iptables[1234] (bash[1200] <- sshd[900]) \"iptables -t nat -L\" -> iptable_nat -> "
    "nf_defrag_ipv4, nf_conntrack, nf_nat, iptable_nat";

TEST(Summary, AutoloadTreeLine) {
    const ModuleSummary summary = summarize(correlate(iptables_nat_autoload()));
    EXPECT_EQ(summary.roots(), 1u);
    EXPECT_EQ(summary.human_lines(), std::vector<std::string>{kIptablesSummary});
}

TEST(Summary, ExitSummaryAddsTheAccountingToTheTree) {
    const ModuleSummary summary = summarize(correlate(iptables_nat_autoload()));
    ModuleAccounting acc;
    acc.seen = 9;
    acc.delivered = 8;
    acc.lost = 1;
    EXPECT_EQ(module_summary_lines(summary, acc),
              (std::vector<std::string>{"Module loads by trigger:", std::string("  ") + kIptablesSummary,
                                        "Module events: 9 seen, 8 delivered, 1 lost (ring buffer full)"}));
    acc.malformed = 2;
    EXPECT_EQ(module_summary_lines(summary, acc).back(),
              "Module events: 9 seen, 8 delivered, 1 lost (ring buffer full), 2 malformed");
    auto j = module_summary_json(summary, acc);
    EXPECT_EQ(j.at("triggers").size(), 1u);
    EXPECT_EQ(j.at("events_seen"), 9);
    EXPECT_EQ(j.at("events_delivered"), 8);
    EXPECT_EQ(j.at("events_lost"), 1);
    EXPECT_EQ(j.at("decode_errors"), 2);
}

TEST(Summary, ExitSummaryWithoutLoadsSaysNone) {
    EXPECT_EQ(module_summary_lines(ModuleSummary{}, ModuleAccounting{}),
              (std::vector<std::string>{"Module loads by trigger:", "  (none)",
                                        "Module events: 0 seen, 0 delivered, 0 lost (ring buffer full)"}));
}

TEST(Summary, NestedAutoloadJoinsTheOriginalTrigger) {
    auto events = iptables_nat_autoload();
    const Process first = events[1].proc;
    events.push_back(request(11 * kSecond, first, "crypto-crc32c"));
    events.push_back(load(11 * kSecond + 1, kernel_modprobe(2100, "crypto-crc32c"), "crc32c_generic"));
    const ModuleSummary summary = summarize(correlate(events));
    EXPECT_EQ(summary.human_lines(), std::vector<std::string>{std::string(kIptablesSummary) + ", crc32c_generic"});
}

TEST(Summary, LoadsWhoseRequestWasNotSeenStillGroupUnderTheTrigger) {
    // As with --pid 2000: only the modprobe's records reach the summary.
    auto records = correlate(iptables_nat_autoload());
    records.erase(records.begin());
    const ModuleSummary summary = summarize(records);
    EXPECT_EQ(summary.human_lines(), std::vector<std::string>{kIptablesSummary});
}

TEST(Summary, ExplicitModprobeHasNoRequestedArrow) {
    const Process modprobe = user_process(3000, "modprobe", {"modprobe", "nf_conntrack"},
                                          {{1200, "bash", false}, {900, "sshd", false}});
    const ModuleSummary summary = summarize(correlate({load(kSecond, modprobe, "nf_defrag_ipv4"),
                                                       load(kSecond + 1, modprobe, "nf_conntrack")}));
    EXPECT_EQ(summary.human_lines(),
              std::vector<std::string>{
                  "modprobe[3000] (bash[1200] <- sshd[900]) \"modprobe nf_conntrack\" -> nf_defrag_ipv4, nf_conntrack"});
}

TEST(Summary, RequestThatLoadedNothing) {
    const Process curl = user_process(1500, "curl", {"curl", "sctp://x"}, {{1200, "bash", false}});
    const ModuleSummary summary = summarize(correlate({request(kSecond, curl, "net-pf-10-proto-132")}));
    EXPECT_EQ(summary.human_lines(),
              std::vector<std::string>{"curl[1500] (bash[1200]) \"curl sctp://x\" -> net-pf-10-proto-132 -> (nothing loaded)"});
}

TEST(Summary, RootWithoutAncestorsHasNoParentheses) {
    const Process insmod = user_process(3100, "insmod", {"insmod", "./dummy.ko"}, {});
    const ModuleSummary summary = summarize(correlate({load(kSecond, insmod, "dummy")}));
    EXPECT_EQ(summary.human_lines(), std::vector<std::string>{"insmod[3100] \"insmod ./dummy.ko\" -> dummy"});
}

TEST(Summary, FailedLoadsAndUnloadsAreNotListed) {
    const Process modprobe = user_process(3000, "modprobe", {"modprobe", "x"}, {});
    const ModuleSummary summary =
        summarize(correlate({load_error(kSecond, modprobe, "x", -2), unload(kSecond + 1, modprobe, "y")}));
    EXPECT_EQ(summary.roots(), 0u);
    EXPECT_TRUE(summary.human_lines().empty());
}

TEST(Summary, SeparateTriggersInArrivalOrder) {
    const Process curl = user_process(1500, "curl", {"curl", "sctp://x"}, {{1200, "bash", false}});
    auto events = iptables_nat_autoload();
    events.insert(events.begin() + 2, request(10 * kSecond + 1'500'000, curl, "net-pf-10-proto-132"));
    events.push_back(load(10 * kSecond + 5'000'000, kernel_modprobe(2001, "net-pf-10-proto-132"), "sctp"));
    const ModuleSummary summary = summarize(correlate(events));
    EXPECT_EQ(summary.human_lines(),
              (std::vector<std::string>{kIptablesSummary,
                                        "curl[1500] (bash[1200]) \"curl sctp://x\" -> net-pf-10-proto-132 -> sctp"}));
}

TEST(Summary, HostileNamesAreEscaped) {
    const Process evil = user_process(1, "a\x1b[31m", {"x\ny"}, {{0, "p\r", false}});
    const ModuleSummary summary = summarize(correlate({load(kSecond, evil, "m\xff")}));
    EXPECT_EQ(summary.human_lines(), std::vector<std::string>{"a\\x1b[31m[1] (p\\r[0]) \"x\\ny\" -> m\\xff"});
}

TEST(Summary, Json) {
    const ModuleSummary summary = summarize(correlate(iptables_nat_autoload()));
    EXPECT_EQ(summary.to_json(), json::parse(R"({
        "triggers": [{
            "pid": 1234, "comm": "iptables", "cmdline": "iptables -t nat -L",
            "ancestors": [{"pid": 1200, "comm": "bash"}, {"pid": 900, "comm": "sshd"}],
            "requested": "iptable_nat",
            "loaded": ["nf_defrag_ipv4", "nf_conntrack", "nf_nat", "iptable_nat"]
        }],
        "triggers_not_kept": 0
    })"));
}

std::vector<ModuleEvent> explicit_loads(uint32_t first_pid, std::size_t processes, std::size_t loads_each) {
    std::vector<ModuleEvent> events;
    for (std::size_t i = 0; i < processes; ++i) {
        const uint32_t pid = first_pid + static_cast<uint32_t>(i);
        const Process p = user_process(pid, "modprobe", {"modprobe", "m" + std::to_string(i)}, {});
        for (std::size_t k = 0; k < loads_each; ++k) {
            events.push_back(load(kSecond + i * 10 + k, p, "m" + std::to_string(i) + "_" + std::to_string(k)));
        }
    }
    return events;
}

TEST(Summary, MaxRootsBound) {
    const ModuleSummary summary = summarize(correlate(explicit_loads(3000, 3, 1)), 2);
    EXPECT_EQ(summary.roots(), 2u);
    EXPECT_EQ(summary.human_lines(), (std::vector<std::string>{
                                         "modprobe[3000] \"modprobe m0\" -> m0_0",
                                         "modprobe[3001] \"modprobe m1\" -> m1_0",
                                         "(1 more triggers not kept)",
                                     }));
    EXPECT_EQ(summary.to_json().at("triggers").size(), 2u);
    EXPECT_EQ(summary.to_json().at("triggers_not_kept"), 1);
}

TEST(Summary, KeptRootsStillGrowWhenFull) {
    auto events = explicit_loads(3000, 2, 1);
    const Process first = events.front().proc;
    events.push_back(load(5 * kSecond, first, "late"));
    const ModuleSummary summary = summarize(correlate(events), 2);
    EXPECT_EQ(summary.human_lines().front(), "modprobe[3000] \"modprobe m0\" -> m0_0, late");
    EXPECT_EQ(summary.human_lines().size(), 2u);
}

// When the summary is full, a dropped trigger counts once however many
// events it has.
TEST(Summary, DroppedTriggerIsCountedOnce) {
    const ModuleSummary summary = summarize(correlate(explicit_loads(3000, 3, 3)), 2);
    EXPECT_EQ(summary.roots(), 2u);
    EXPECT_EQ(summary.human_lines().back(), "(1 more triggers not kept)");
    EXPECT_EQ(summary.to_json().at("triggers_not_kept"), 1);
}

}  // namespace
