// SPDX-License-Identifier: GPL-2.0-only
// The drop programs as a source of counted, enriched drop records: loads
// and attaches them, consumes their ring buffer and sweeps their
// aggregates. Used by `drops` and `watch`.
#pragma once
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "cli/cli.hpp"
#include "common/clock.hpp"
#include "conntrack/pressure.hpp"
#include "drops/drop_aggregator.hpp"
#include "drops/drop_output.hpp"
#include "drops/kernel_agreement.hpp"
#include "drops/packet_capture.hpp"
#include "kernel/bpf_support.hpp"
#include "kernel/hooks.hpp"
#include "kernel/kernel_probe.hpp"
#include "kernel/kprobe_events.hpp"
#include "kernel/netns.hpp"
#include "process/process_enricher.hpp"

struct drops_bpf;

namespace nfsleuth {

// How often a source following the nf_conntrack module looks for it
// (/proc/modules, a few kilobytes): the cause hooks are missing for at most
// this long after it loads.
constexpr std::chrono::milliseconds kModuleFollowPeriod{200};

class DropSource {
public:
    using Sink = std::function<void(const DropRecord&, const DropContext&)>;
    // Cgroups are named through `cgroups`, namespaces read through `netns`,
    // the kprobes following nf_conntrack get their perf events from
    // `kprobes`; all must outlive this.
    DropSource(const CommonOptions& options, const DropOptions& drop_options, KernelProbe& probe,
               CgroupResolver& cgroups, Sink sink,
               NetnsAccess& netns = in_process_netns(), KprobeEvents& kprobes = in_process_kprobes());
    ~DropSource();

    // "fentry" or "kprobe" when conntrack's functions give the causes,
    // "tracepoint" when its statistics do.
    std::string backend() const;
    const CausePlan& cause_plan() const { return cause_plan_; }
    const HookSelection& hooks() const;
    // Every hook of the source, those following nf_conntrack too, for the
    // hook reports (summary, metrics); the banner's clauses are hooks()'s.
    std::vector<HookOutcome> hook_outcomes() const;
    // Every attached program, the cause hooks following nf_conntrack too.
    std::vector<bpf_program*> programs() const;
    // Where conntrack is a module: attaches the cause hooks when it loads,
    // detaches them when it goes (call often). Returns what changed.
    std::optional<std::string> follow_conntrack();
    // Names evicted entries (attaches the hook at every entry's end) only
    // while a table is at least --arm-at full: call after `arming` (made
    // with the same --arm-at) observed each fill sample. Returns what changed.
    std::optional<EvictionNaming> follow_fill(const FillArming& arming);
    // Whether early_drop's evictions are seen at all (fentry and kprobe).
    bool sees_evictions() const;
    // For the banner: how causes are known while following nf_conntrack,
    // and from when evicted entries are named.
    std::string cause_note() const;
    int epoll_fd() const { return ring_->epoll_fd(); }
    // Consumes the first-drop records waiting in the ring buffer.
    void drain() { ring_->drain(); }
    // Reports what the aggregates counted since the last sweep.
    void sweep();
    // Detaches the programs; counts stop moving (call drain+sweep after).
    void detach();
    DropAccounting accounting() const;
    uint64_t malformed() const { return malformed_; }
    // --pcap: what was written and skipped, the kernel's counts included;
    // nullopt without --pcap.
    std::optional<CaptureAccounting> capture_accounting() const;
    // For the banner: the capture file and its limits; empty without --pcap.
    std::string capture_note() const;
    // Conntrack drop counter totals per namespace when tracing started.
    const std::map<uint64_t, uint64_t>& start_drops() const { return start_drops_; }
    ProcessEnricher& enricher() { return enrich_; }
    // Holds nfsleuth's counts against the kernel's conntrack counters of
    // each namespace, read (read_conntrack_fill) right after sweep().
    // Returns the disagreements that are new or grew.
    std::vector<Disagreement> check_against_kernel(const std::vector<NetnsInfo>& namespaces);
    const KernelAgreement& agreement() const { return agreement_; }

private:
    struct Programs;
    std::unique_ptr<Programs> programs_;
    NetnsAccess& netns_;
    CausePlan cause_plan_;
    std::string cause_note_;
    std::map<uint64_t, uint64_t> start_drops_;
    Sink sink_;
    BootClock clock_;
    ProcessEnricher enrich_;
    DropAggregator aggregator_;
    KernelAgreement agreement_;
    uint64_t malformed_ = 0;
    double arm_at_percent_;
    bool naming_evictions_;
    std::unique_ptr<PacketCapture> capture_;
    CommonOptions capture_filter_;  // --pid and --comm select the packets written too
    std::unique_ptr<RingBuffer> ring_;
    // Opens, configures and loads the programs; `capture`: the kfree_skb
    // programs that also capture packets (--pcap).
    void load_programs(const CommonOptions& options, const DropOptions& drop_options, KernelProbe& probe,
                       bool capture);
    void name_evictions(bool on);
    // What userspace adds to a drop: time, backend, names, command line, cgroup.
    DropContext context_of(const DropRecord& r);
    void emit(const DropRecord& r);
    void on_capture(const void* data, std::size_t size);
};

// The drop part of an exit summary, the same for `drops` and `watch`: what
// was reported, the accounting, and the agreement with the kernel's
// counters; `lines` gets its human form.
nlohmann::ordered_json drops_summary(const DropSummary& summary, DropSource& source, NetnsAccess& netns,
                                     std::vector<std::string>& lines);

// Fill and kernel drop count of the given namespaces (entered once each).
std::map<uint32_t, NetnsFill> namespace_fill(const std::vector<uint32_t>& wanted,
                                             const std::map<uint64_t, uint64_t>& start_drops,
                                             NetnsAccess& access = in_process_netns());

}  // namespace nfsleuth
