// SPDX-License-Identifier: GPL-2.0-only
#include "drops/drop_source.hpp"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include <algorithm>
#include <iostream>
#include <iterator>
#include <set>

#include "conntrack/ct_stat.hpp"
#include "drops/agreement_output.hpp"
#include "drops.skel.h"
#include "kernel/kallsyms.hpp"
#include "kernel/netns.hpp"
#include "kernel/percpu_layout.hpp"
#include "modules/module_hooks.hpp"

namespace nfsleuth {

namespace {

KernelDropCounters kernel_counters(const CtCpuStat& sum) { return {sum.drop, sum.insert_failed, sum.early_drop}; }

// Functions that run a netfilter hook, with the hook they run (enum
// nf_inet_hooks; the bridge's NF_BR_* hooks have the same numbers): the
// first of them on a rule drop's stack is its hook. Names a kernel lacks
// (inlined, or another version) are left out.
struct HookCaller {
    const char* function;
    uint8_t hook;
};
constexpr HookCaller kHookCallers[] = {
    {"ip_rcv", 0},           {"ip_sublist_rcv", 0},    {"ip_list_rcv", 0},     {"ipv6_rcv", 0},
    {"ip6_sublist_rcv", 0},  {"ipv6_list_rcv", 0},     {"br_handle_frame", 0}, {"ip_local_deliver", 1},
    {"ip6_input", 1},        {"br_pass_frame_up", 1},  {"ip_forward", 2},      {"ip6_forward", 2},
    {"__br_forward", 2},     {"__ip_local_out", 3},    {"ip_local_out", 3},    {"raw_send_hdrinc", 3},
    {"__ip6_local_out", 3},  {"ip6_local_out", 3},     {"ip6_xmit", 3},        {"rawv6_send_hdrinc", 3},
    {"ndisc_send_skb", 3},   {"mld_sendpack", 3},      {"igmp6_send", 3},      {"ip_output", 4},
    {"ip_mc_output", 4},     {"ip6_output", 4},        {"br_forward_finish", 4},
};
static_assert(std::size(kHookCallers) <= NFS_HOOK_CALLERS);

// --pcap-snaplen's bound is what a capture record holds.
static_assert(PcapOptions::kMaxSnaplen == NFS_CAPTURE_MAX);
// The capture ring with --pcap (a page without): about 2,400 records, more
// than a second of the default --pcap-per-second while userspace catches up.
constexpr uint32_t kCaptureRingBytes = 1024 * 1024;

}  // namespace

// The loaded and attached drop programs.
struct DropSource::Programs {
    Skeleton<drops_bpf> skel;
    HookSelection hooks;  // its links go before skel: declared after it
    std::unique_ptr<ModuleHooks> module_causes;     // cause hooks following nf_conntrack
    std::unique_ptr<ModuleHooks> module_evictions;  // its nf_ct_delete, followed while naming evictions

    // `capture`: the kfree_skb programs that also capture packets (--pcap).
    Programs(const CommonOptions& options, const CausePlan& plan, KernelProbe& probe, bool capture)
        : skel(options.btf), hooks(skel->obj, hook_specs(plan, probe, capture), probe, plan.backend) {
        // Loaded now, attached whenever nf_conntrack is there.
        if (plan.follows_module) {
            for (bpf_program* p : programs_named(cause_programs(*plan.backend))) bpf_program__set_autoload(p, true);
            for (bpf_program* p : programs_named(if_present_programs())) bpf_program__set_autoload(p, true);
        }
    }

    // Kprobes that follow nf_conntrack where its build has their function:
    // a compiler clone of nf_ct_delete, the helpers' log call.
    static std::vector<std::string> clone_programs() { return {"kprobe_nf_ct_delete_part"}; }
    static std::vector<std::string> helper_programs() { return helper_drop_hook().candidates.front().programs; }
    static std::vector<std::string> if_present_programs() {
        std::vector<std::string> names = clone_programs();
        for (auto& name : helper_programs()) names.push_back(name);
        return names;
    }

    static std::vector<HookSpec> hook_specs(const CausePlan& plan, const KernelProbe& probe, bool capture) {
        std::vector<HookSpec> specs = drop_hooks(kfree_skb_args(probe), capture);
        if (plan.follows_module) return specs;
        if (plan.backend) specs.insert(specs.end(), drop_cause_hooks().begin(), drop_cause_hooks().end());
        specs.push_back(helper_drop_hook());
        return specs;
    }

    std::vector<bpf_program*> programs_named(const std::vector<std::string>& names) const {
        std::vector<bpf_program*> out;
        for (const auto& name : names) {
            bpf_program* p = bpf_object__find_program_by_name(skel->obj, name.c_str());
            if (!p) throw Failure(ExitCode::failure, "BPF object has no program " + name);
            out.push_back(p);
        }
        return out;
    }

    std::vector<DropAggregator::MapEntry> read_aggregates() const {
        std::vector<DropAggregator::MapEntry> out;
        int fd = bpf_map__fd(skel->maps.drop_aggregates);
        nfs_drop_key key{};
        nfs_drop_key next{};
        const void* prev = nullptr;
        while (bpf_map_get_next_key(fd, prev, &next) == 0) {
            DropAggregator::MapEntry e{next, {}};
            if (bpf_map_lookup_elem(fd, &next, &e.value) == 0) out.push_back(e);
            key = next;
            prev = &key;
        }
        return out;
    }

    uint64_t counter(uint32_t which) const {
        return sum_percpu_counter(bpf_map__fd(skel->maps.drop_counters), which);
    }

    uint64_t capture_counter(uint32_t which) const {
        return sum_percpu_counter(bpf_map__fd(skel->maps.capture_counters), which);
    }

    // The programs classify a drop by the conntrack counters moving since
    // the last drop they saw; start them from the counters' current values.
    // Returns each namespace's totals.
    std::map<uint64_t, CtCpuStat> prime_counters(NetnsAccess& netns) {
        std::map<uint64_t, CtCpuStat> totals;
        int fd = bpf_map__fd(skel->maps.ct_stat_seen);
        for (const auto& ns : list_network_namespaces()) {
            auto stats = read_conntrack_files(netns, {ns.path, ns.inode}, file_bit(NetnsFile::conntrack_stat)).stat;
            if (!stats) continue;
            totals[ns.inode] = total(*stats);
            for (const auto& st : *stats) {
                nfs_ct_stat_key k{static_cast<uint32_t>(ns.inode), st.cpu};
                nfs_ct_stat_seen v{st.drop, st.invalid, st.insert_failed, st.early_drop};
                bpf_map_update_elem(fd, &k, &v, BPF_ANY);
            }
        }
        return totals;
    }
};

DropSource::DropSource(const CommonOptions& options, const DropOptions& drop_options, KernelProbe& probe,
                       CgroupResolver& cgroups, Sink sink, NetnsAccess& netns, KprobeEvents& kprobes)
    : netns_(netns),
      cause_plan_(plan_cause_hooks(probe, parse_backend(options.backend))),
      sink_(std::move(sink)),
      enrich_(cgroups),
      agreement_(cause_plan_.backend && !cause_plan_.follows_module),
      arm_at_percent_(drop_options.arm_at_percent),
      naming_evictions_(arm_at_percent_ <= 0) {  // --arm-at 0: from the start
    // The file first: a bad path fails before anything is loaded.
    if (drop_options.pcap.file) capture_ = std::make_unique<PacketCapture>(drop_options.pcap);
    capture_filter_.pid = options.pid;
    capture_filter_.comm = options.comm;
    try {
        // A refused capture is not fatal (below): the kernel's log only with -v.
        std::optional<QuietLibbpf> quiet;
        if (capture_ && !options.verbose) quiet.emplace();
        load_programs(options, drop_options, probe, capture_ != nullptr);
    } catch (const HookRefused& refused) {
        // The capture is optional: drops are traced without it, and the
        // banner and the summary say why the file stays empty.
        if (!capture_) throw;
        capture_->give_up("the kernel refused the programs that read packets (" + std::string(refused.what()) +
                          "; -v shows the kernel's log)");
        load_programs(options, drop_options, probe, false);
    }
    auto& skel = programs_->skel;
    if (cause_plan_.follows_module) {
        const Backend b = *cause_plan_.backend;
        auto early_drop = programs_->programs_named(cause_programs(b, "early_drop"));
        auto helper = programs_->programs_named(Programs::helper_programs());
        auto ct_delete = programs_->programs_named(cause_programs(b, kEvictedEntriesHook));
        auto clones = programs_->programs_named(Programs::clone_programs());
        auto all_loaded = [](const std::vector<bpf_program*>& progs) {
            return std::all_of(progs.begin(), progs.end(), [](bpf_program* p) { return bpf_program__fd(p) >= 0; });
        };
        if (all_loaded(early_drop) && all_loaded(helper) && all_loaded(ct_delete) && all_loaded(clones)) {
            programs_->module_causes =
                std::make_unique<ModuleHooks>("nf_conntrack", std::move(early_drop), std::move(helper), kprobes);
            programs_->module_evictions =
                std::make_unique<ModuleHooks>("nf_conntrack", std::move(ct_delete), std::move(clones), kprobes);
        } else {
            cause_note_ = "the kernel refused the kprobes on nf_conntrack's functions";
        }
    }
    for (const auto& [inode, sum] : programs_->prime_counters(netns_)) {
        start_drops_[inode] = sum.drop;
        agreement_.before_attach(static_cast<uint32_t>(inode), kernel_counters(sum));
    }
    ring_ = std::make_unique<RingBuffer>(bpf_map__fd(skel->maps.drop_events), [this](const void* data, std::size_t size) {
        auto d = decode_first_drop(data, size);
        if (!d) {
            ++malformed_;
            return;
        }
        if (auto r = aggregator_.on_first_drop(*d)) emit(*r);
    });
    if (capture_ && capture_->available())
        ring_->add(bpf_map__fd(skel->maps.capture_events),
                   [this](const void* data, std::size_t size) { on_capture(data, size); });
    programs_->hooks.attach();
    if (!naming_evictions_) programs_->hooks.detach(kEvictedEntriesHook);
    follow_conntrack();
    // The other side of each namespace's baseline (see kernel_agreement.hpp).
    auto namespaces = list_network_namespaces();
    read_conntrack_fill(namespaces, netns_);
    check_against_kernel(namespaces);
}

void DropSource::load_programs(const CommonOptions& options, const DropOptions& drop_options, KernelProbe& probe,
                               bool capture) {
    programs_ = std::make_unique<Programs>(options, cause_plan_, probe, capture);
    auto& skel = programs_->skel;
    int ncpu = libbpf_num_possible_cpus();
    skel->rodata->nr_cpus = ncpu > 0 ? static_cast<uint32_t>(ncpu) : 1;
    skel->rodata->state_per_task = read_number_file("/sys/kernel/realtime").value_or(0) == 1;
    if (capture) {
        skel->rodata->capture_snaplen = drop_options.pcap.snaplen;
        skel->rodata->capture_per_flow = drop_options.pcap.per_flow;
        bpf_map__set_max_entries(skel->maps.capture_events, kCaptureRingBytes);
    }
    if (!apply_percpu_layout(skel->rodata, probe.kernel_btf())) {
        std::cerr << "nfsleuth: warning: the kernel's BTF has no per-CPU layout; drops without a conntrack entry "
                     "will be reported with cause unknown\n";
    }
    // Where kfree_skb carries no drop reason, the call site tells; it is
    // only needed there, but set everywhere for kernels whose reasons lack
    // NETFILTER_DROP.
    std::set<std::string> functions{"nf_hook_slow"};
    for (const auto& c : kHookCallers) functions.insert(c.function);
    const auto ranges = RunningKernelSymbols().function_ranges(functions);
    uint32_t callers = 0;
    for (const auto& c : kHookCallers) {
        auto it = ranges.find(c.function);
        if (it == ranges.end()) continue;
        skel->rodata->hook_caller_start[callers] = it->second.start;
        skel->rodata->hook_caller_end[callers] = it->second.end;
        skel->rodata->hook_caller_hook[callers] = c.hook;
        ++callers;
    }
    skel->rodata->hook_callers = callers;
    if (auto slow = ranges.find("nf_hook_slow"); slow != ranges.end()) {
        skel->rodata->nf_hook_slow_start = slow->second.start;
        skel->rodata->nf_hook_slow_end = slow->second.end;
    } else if (kfree_skb_args(probe) == KfreeSkbArgs::location) {
        throw Failure(ExitCode::unsupported,
                      "this kernel's skb:kfree_skb has no drop reason and nf_hook_slow is not in /proc/kallsyms, so "
                      "netfilter drops cannot be told from others",
                      "run as root with kernel.kptr_restrict below 2");
    }
    bpf_map__set_max_entries(skel->maps.drop_aggregates, drop_options.max_flows);
    programs_->hooks.load(skel, "drop programs");
}

bool DropSource::sees_evictions() const {
    return cause_plan_.follows_module ? programs_->module_causes != nullptr : cause_plan_.backend.has_value();
}

void DropSource::name_evictions(bool on) {
    naming_evictions_ = on;
    if (auto& following = programs_->module_evictions) {
        if (!on)
            following->detach();
        else if (programs_->module_causes->attached())
            following->follow();
    } else if (on) {
        programs_->hooks.attach(kEvictedEntriesHook);
    } else {
        programs_->hooks.detach(kEvictedEntriesHook);
    }
}

std::optional<EvictionNaming> DropSource::follow_fill(const FillArming& arming) {
    const bool want = arming.always() || arming.armed_count() > 0;
    if (want == naming_evictions_ || !sees_evictions()) return std::nullopt;
    name_evictions(want);
    EvictionNaming change{want, arming.arm_at(), arming.disarm_below(), {}};
    change.message = want ? "a conntrack table is " + percent_text(change.arm_at_percent) +
                                "% full or more (--arm-at): nf_ct_delete is hooked to name the entries early_drop evicts"
                          : "every conntrack table is below " + percent_text(change.disarm_below_percent) +
                                "% full: nf_ct_delete is unhooked, nothing runs per connection";
    return change;
}

std::optional<std::string> DropSource::follow_conntrack() {
    auto& hooks = programs_->module_causes;
    if (!hooks) return std::nullopt;
    switch (hooks->follow()) {
        case ModuleHooks::Change::none: return std::nullopt;
        case ModuleHooks::Change::attached:
        case ModuleHooks::Change::reattached:
            if (naming_evictions_) programs_->module_evictions->follow();
            agreement_.restart(true);
            return "nf_conntrack is loaded: kprobes on its functions now name the entries early_drop evicts and the "
                   "packets its helpers drop";
        case ModuleHooks::Change::detached:
            programs_->module_evictions->detach();
            agreement_.restart(false);
            return "nf_conntrack was unloaded: its kprobes are detached until it is back";
        case ModuleHooks::Change::failed:
            return "cannot attach kprobes to nf_conntrack's functions (" + hooks->error() +
                   "); evictions and helper drops are not named (their drops are still counted)";
    }
    return std::nullopt;
}

std::string DropSource::cause_note() const {
    std::string note;
    if (cause_plan_.follows_module) {
        auto& hooks = programs_->module_causes;
        if (!hooks) return "evictions and helper drops not named (" + cause_note_ + ")";
        note = std::string("evictions and helper drops named by kprobes on nf_conntrack's functions while it is "
                           "loaded (") +
               (hooks->attached() ? "attached" : "waiting for it to load") + "); ";
    } else if (!cause_plan_.backend) {
        return "";
    }
    return note + "evicted entries named " +
           (arm_at_percent_ <= 0 ? std::string("always (--arm-at 0)")
                                 : "while a table is at least " + percent_text(arm_at_percent_) + "% full (--arm-at)");
}

std::vector<Disagreement> DropSource::check_against_kernel(const std::vector<NetnsInfo>& namespaces) {
    std::vector<Disagreement> changed;
    for (const auto& ns : namespaces) {
        if (!ns.ct_stat) continue;
        auto d = agreement_.observe(static_cast<uint32_t>(ns.inode), kernel_counters(*ns.ct_stat));
        changed.insert(changed.end(), d.begin(), d.end());
    }
    return changed;
}

DropSource::~DropSource() = default;

std::string DropSource::backend() const {
    const auto& following = programs_->module_causes;
    if (cause_plan_.follows_module) return following && following->attached() ? "kprobe" : "tracepoint";
    return cause_plan_.backend ? to_string(*cause_plan_.backend) : "tracepoint";
}

const HookSelection& DropSource::hooks() const { return programs_->hooks; }

std::vector<HookOutcome> DropSource::hook_outcomes() const {
    std::vector<HookOutcome> out = programs_->hooks.outcomes();
    if (!cause_plan_.follows_module) return out;
    std::vector<HookSpec> causes, evicted;
    for (const auto& spec : drop_cause_hooks()) (spec.name == kEvictedEntriesHook ? evicted : causes).push_back(spec);
    causes.push_back(helper_drop_hook());
    for (auto [specs, hooks] : {std::pair{&causes, programs_->module_causes.get()},
                                std::pair{&evicted, programs_->module_evictions.get()}}) {
        auto more = following_outcomes(*specs, Flavor::kprobe, hooks, cause_note_);
        out.insert(out.end(), more.begin(), more.end());
    }
    return out;
}

void DropSource::sweep() {
    for (const auto& r : aggregator_.on_sweep(programs_->read_aggregates(), BootClock::boot_now_ns())) emit(r);
}

void DropSource::detach() {
    if (programs_->module_evictions) programs_->module_evictions->detach();
    if (programs_->module_causes) programs_->module_causes->detach();
    programs_->hooks.detach();
}

std::vector<bpf_program*> DropSource::programs() const {
    std::vector<bpf_program*> out = programs_->hooks.programs();
    for (const auto* following : {programs_->module_causes.get(), programs_->module_evictions.get()})
        if (following)
            for (bpf_program* p : following->attached_programs()) out.push_back(p);
    return out;
}

DropAccounting DropSource::accounting() const {
    DropAccounting acc;
    acc.seen = programs_->counter(NFS_DROP_CNT_SEEN);
    acc.reported = aggregator_.reported();
    acc.lost_records = programs_->counter(NFS_DROP_CNT_LOST);
    acc.unaggregated = programs_->counter(NFS_DROP_CNT_NO_AGGREGATE);
    return acc;
}

DropContext DropSource::context_of(const DropRecord& r) {
    DropContext c{clock_.rfc3339(r.ts_boot_ns), backend(), enrich_.netns_name(r.key.netns), std::nullopt,
                  std::nullopt};
    if (r.origin.pid) {
        c.cmdline = enrich_.cmdline(*r.origin.pid);
        c.cgroup = enrich_.cgroup(r.origin.cgroup_id);
    }
    return c;
}

void DropSource::emit(const DropRecord& r) {
    agreement_.count(r.key.netns, r.key.cause, r.count);
    sink_(r, context_of(r));
}

void DropSource::on_capture(const void* data, std::size_t size) {
    auto p = decode_capture(data, size);
    if (!p) {
        capture_->count_malformed();
        return;
    }
    if (!matches_filter(capture_filter_, p->drop) || !capture_->admit(*p)) return;
    // The context only for packets written: it may read /proc.
    capture_->write(*p, context_of(p->drop));
}

std::optional<CaptureAccounting> DropSource::capture_accounting() const {
    if (!capture_) return std::nullopt;
    CaptureAccounting a = capture_->accounting();
    a.skipped_flow += programs_->capture_counter(NFS_CAPTURE_CNT_PAST_FLOW);
    a.lost = programs_->capture_counter(NFS_CAPTURE_CNT_LOST);
    return a;
}

std::string DropSource::capture_note() const {
    if (!capture_) return "";
    std::string note = "pcap: " + capture_->describe();
    // Evictions are entries early_drop() removes, not packets.
    if (sees_evictions()) note += "; evicted entries (early_drop) have no packet to capture";
    return note;
}

nlohmann::ordered_json drops_summary(const DropSummary& summary, DropSource& source, NetnsAccess& netns,
                                     std::vector<std::string>& lines) {
    auto fill = namespace_fill(summary.namespaces(), source.start_drops(), netns);
    const DropAccounting acc = source.accounting();
    auto netns_name = [&source](uint32_t inode) { return source.enricher().netns_name(inode); };
    nlohmann::ordered_json j = summary.to_json(fill, acc);
    j["malformed_records"] = source.malformed();
    j["kernel_agreement"] = agreement_json(source.agreement(), netns_name);
    const auto capture = source.capture_accounting();
    j["pcap"] = capture ? to_json(*capture) : nlohmann::ordered_json(nullptr);
    for (auto& line : summary.human_lines(fill, acc)) lines.push_back(std::move(line));
    for (auto& line : agreement_lines(source.agreement(), netns_name)) lines.push_back(std::move(line));
    if (capture) lines.push_back(to_human_line(*capture));
    return j;
}

std::map<uint32_t, NetnsFill> namespace_fill(const std::vector<uint32_t>& wanted,
                                             const std::map<uint64_t, uint64_t>& start_drops,
                                             NetnsAccess& access) {
    std::map<uint32_t, NetnsFill> fill;
    for (const auto& ns : list_network_namespaces()) {
        auto inode = static_cast<uint32_t>(ns.inode);
        if (std::find(wanted.begin(), wanted.end(), inode) == wanted.end()) continue;
        NetnsFill f{ns.name, std::nullopt, std::nullopt, std::nullopt};
        // Only the namespaces with drops are entered, each once.
        auto files = read_conntrack_files(access, {ns.path, ns.inode});
        f.count = files.count;
        f.max = files.max;
        if (files.stat) {
            auto start = start_drops.find(ns.inode);
            f.kernel_drops = total(*files.stat).drop - (start == start_drops.end() ? 0 : start->second);
        }
        fill[inode] = f;
    }
    return fill;
}

}  // namespace nfsleuth
