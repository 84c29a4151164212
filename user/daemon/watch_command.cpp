// SPDX-License-Identifier: GPL-2.0-only
#include "daemon/watch_command.hpp"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/capability.h>
#include <malloc.h>
#include <unistd.h>

#include <chrono>
#include <iostream>
#include <memory>
#include <vector>

#include "common/clock.hpp"
#include "common/event_loop.hpp"
#include "daemon/daemon_output.hpp"
#include "daemon/metrics.hpp"
#include "daemon/metrics_server.hpp"
#include "daemon/table_sampler.hpp"
#include "daemon/watched_source.hpp"
#include "kernel/capabilities.hpp"
#include "kernel/hook_report.hpp"
#include "kernel/kernel_probe.hpp"
#include "kernel/netns_broker.hpp"
#include "version.hpp"

namespace nfsleuth {

namespace {

using Kind = MetricsRegistry::Kind;
using ojson = nlohmann::ordered_json;

void define_metrics(MetricsRegistry& m) {
    m.define("nfsleuth_build_info", Kind::gauge, "nfsleuth's version and the backend its drop hooks use",
             {"version", "drop_backend"});
    m.define("nfsleuth_drops_total", Kind::counter, "Packets netfilter dropped, by cause and network namespace",
             {"cause", "netns"});
    m.define("nfsleuth_container_drops_total", Kind::counter,
             "Packets netfilter dropped that processes in containers sent, by cause, network namespace, pod "
             "(namespace/name, empty outside Kubernetes) and container (name, or runtime:id)",
             {"cause", "netns", "pod", "container"});
    m.define("nfsleuth_module_loads_total", Kind::counter,
             "Kernel modules loaded, by module and the command that triggered the load", {"module", "trigger_comm"});
    m.define("nfsleuth_module_requests_total", Kind::counter, "Module autoload requests, by module and requester",
             {"module", "comm"});
    m.define("nfsleuth_conntrack_entries", Kind::gauge, "Conntrack entries in use, per network namespace", {"netns"});
    m.define("nfsleuth_conntrack_max", Kind::gauge, "Conntrack table limit, per network namespace", {"netns"});
    m.define("nfsleuth_conntrack_created_total", Kind::counter,
             "Conntrack entries created while their namespace's creators were counted (from --arm-at), per "
             "network namespace",
             {"netns"});
    m.define("nfsleuth_container_conntrack_created_total", Kind::counter,
             "Conntrack entries processes in containers created while their namespace's creators were counted, "
             "by network namespace, pod and container",
             {"netns", "pod", "container"});
    m.define("nfsleuth_conntrack_growth_per_second", Kind::gauge,
             "Growth of each network namespace's conntrack entries per second, the slope over --forecast-window",
             {"netns"});
    m.define("nfsleuth_conntrack_full_in_seconds", Kind::gauge,
             "Seconds until a network namespace's conntrack table is full at its current growth (+Inf: not "
             "growing; 0: full)",
             {"netns"});
    m.define("nfsleuth_creation_tracking_armed", Kind::gauge,
             "1 for each network namespace whose creators are counted now (its table reached --arm-at)", {"netns"});
    m.define("nfsleuth_conntrack_activations_total", Kind::counter,
             "Times conntrack became active for a family in a network namespace, by the command that caused it",
             {"family", "comm"});
    m.define("nfsleuth_conntrack_pressure_events_total", Kind::counter,
             "Times a namespace's conntrack table reached the pressure threshold", {"netns"});
    m.define("nfsleuth_events_seen_total", Kind::counter, "Events the BPF programs or netlink produced, by source",
             {"source"});
    m.define("nfsleuth_events_delivered_total", Kind::counter, "Events nfsleuth accounted for, by source",
             {"source"});
    m.define("nfsleuth_events_lost_total", Kind::counter, "Events or records lost, by source and reason",
             {"source", "reason"});
    m.define("nfsleuth_counter_mismatches_total", Kind::counter,
             "Times nfsleuth's drop counts were found to disagree with the kernel's conntrack counters (new or "
             "growing gaps), by counter",
             {"counter"});
    m.define("nfsleuth_counter_gap", Kind::gauge,
             "How far nfsleuth's count is from the kernel's conntrack counter (positive: drops nfsleuth did not "
             "see; negative: more than the kernel counted), per network namespace; absent when they agree",
             {"netns", "counter"});
    m.define("nfsleuth_hook_attached", Kind::gauge,
             "Whether each hook is attached (1) or not traced (0), with the attach method it uses or was refused; "
             "method none: the kernel offers none",
             {"hook", "method"});
    m.define("nfsleuth_drops_folded_total", Kind::counter,
             "Drops counted in a kernel aggregate instead of a record of their own", {});
    m.define("nfsleuth_pcap_packets_total", Kind::counter,
             "Dropped packets offered to the --pcap file, by outcome: written, skipped_flow (past --pcap-per-flow), "
             "skipped_rate (past --pcap-per-second), lost (ring buffer full), unreadable, malformed, write_error",
             {"outcome"});
    m.define("nfsleuth_bpf_run_time_seconds_total", Kind::counter,
             "Time the kernel spent in each nfsleuth BPF program (needs kernel.bpf_stats_enabled)", {"program"});
    m.define("nfsleuth_bpf_run_count_total", Kind::counter,
             "Runs of each nfsleuth BPF program (needs kernel.bpf_stats_enabled)", {"program"});
}

// What the daemon keeps once its programs are attached. Namespaces are
// entered, and kprobe perf events opened, by the netns broker, which keeps
// CAP_SYS_ADMIN and the network capabilities (netns_broker.cpp).
std::vector<int> daemon_capabilities(bool follows_conntrack_module) {
    std::vector<int> keep = {
        CAP_SYS_PTRACE,       // other processes' /proc files: the namespace links listed
                              // each sample, cmdline and cgroup of the processes reported
        CAP_DAC_READ_SEARCH,  // the same files of processes with other credentials
    };
    if (follows_conntrack_module) {
        // Attaching the kprobes on nf_conntrack each time it loads, to perf
        // events the broker opens: CAP_BPF links them (bpf()), CAP_PERFMON
        // lets libbpf probe for BPF links and, without a kprobe PMU, make
        // the kprobes itself. CAP_SYS_ADMIN before 5.8, which has neither.
        auto last = read_number_file("/proc/sys/kernel/cap_last_cap");
        if (last && *last >= CAP_BPF) {
            keep.push_back(CAP_BPF);
            keep.push_back(CAP_PERFMON);
        } else {
            keep.push_back(CAP_SYS_ADMIN);
        }
    }
    return keep;
}

ojson broker_lost_event(const std::string& ts, pid_t pid, const std::string& reason) {
    return {{"type", "netns_broker_lost"}, {"ts", ts}, {"pid", pid}, {"reason", reason}};
}

// Holds kernel.bpf_stats_enabled on while open (the kernel counts the
// holders and turns it off with the last one).
class BpfStatsEnabled {
public:
    BpfStatsEnabled() : fd_(bpf_enable_stats(BPF_STATS_RUN_TIME)) {
        if (fd_ < 0)
            throw Failure(ExitCode::unsupported, "cannot enable BPF run-time statistics: " + describe_errno(fd_),
                          "run without --bpf-stats, or set kernel.bpf_stats_enabled=1 yourself");
    }
    ~BpfStatsEnabled() { ::close(fd_); }
    BpfStatsEnabled(const BpfStatsEnabled&) = delete;
    BpfStatsEnabled& operator=(const BpfStatsEnabled&) = delete;

private:
    int fd_;
};

// The kernel's run time and count of every program of every source.
void publish_bpf_stats(const std::vector<WatchedSource*>& sources, MetricsRegistry& metrics) {
    for (const WatchedSource* source : sources) {
        for (bpf_program* p : source->programs()) {
            bpf_prog_info info{};
            uint32_t len = sizeof info;
            if (bpf_obj_get_info_by_fd(bpf_program__fd(p), &info, &len) != 0) continue;
            const char* name = bpf_program__name(p);
            metrics.set_counter("nfsleuth_bpf_run_time_seconds_total", {name},
                                static_cast<double>(info.run_time_ns) / 1e9);
            metrics.set_counter("nfsleuth_bpf_run_count_total", {name}, static_cast<double>(info.run_cnt));
        }
    }
}

std::vector<HookOutcome> all_hook_outcomes(const std::vector<WatchedSource*>& sources) {
    std::vector<HookOutcome> all;
    for (const WatchedSource* source : sources) {
        auto more = source->hook_outcomes();
        all.insert(all.end(), more.begin(), more.end());
    }
    return all;
}

// Each source's hooks and accounting, set again every interval so that the
// series stay fresh.
void publish_accounting(const std::vector<WatchedSource*>& sources, MetricsRegistry& metrics) {
    for (const WatchedSource* source : sources) {
        auto acc = source->accounting();
        if (!acc) continue;
        metrics.set_counter("nfsleuth_events_seen_total", {acc->source}, static_cast<double>(acc->seen));
        metrics.set_counter("nfsleuth_events_delivered_total", {acc->source}, static_cast<double>(acc->delivered));
        for (const auto& [reason, count] : acc->lost)
            metrics.set_counter("nfsleuth_events_lost_total", {acc->source, reason}, static_cast<double>(count));
    }
    metrics.replace_gauges("nfsleuth_hook_attached", hook_attached_samples(all_hook_outcomes(sources)));
}

// The netns broker cannot be started again without the privileges given
// up: once it is lost, what needs it stops, loudly, and the rest goes on.
class BrokerWatch {
public:
    BrokerWatch(NetnsBrokerProcess& broker, BrokerClient& client, DaemonOutput& out)
        : broker_(broker), client_(client), out_(out) {}
    void check() {
        if (lost_) return;
        // A broker that closed its end is about to be reaped: its end says why.
        auto ended = broker_.ended(client_.broken() ? std::chrono::milliseconds(500) : std::chrono::milliseconds(0));
        if (!ended && !client_.broken()) return;
        lost_ = true;
        const std::string reason = ended ? *ended : "stopped answering: " + *client_.broken();
        out_.warn(broker_lost_event(clock_.rfc3339(BootClock::boot_now_ns()), broker_.pid(), reason),
                  "nfsleuth: warning: the netns broker (pid " + std::to_string(broker_.pid()) + ") is lost (" +
                      reason + ")" +
                      ": the conntrack fill and counters of namespaces, creations in namespaces not yet "
                      "subscribed and activation rules are no longer read, and kprobes are not attached to "
                      "nf_conntrack's next load; drops are still counted");
    }

private:
    NetnsBrokerProcess& broker_;
    BrokerClient& client_;
    DaemonOutput& out_;
    BootClock clock_;
    bool lost_ = false;
};

}  // namespace

ExitCode run_watch(const CommonOptions& options, const DropOptions& drop_options, const WatchOptions& w) {
    // Before anything slow: a signal during loading ends the run cleanly once
    // the loop starts, and SIGHUP never kills.
    SignalInbox signals;
    require_tracing_privileges();
    // Files and the listening socket first: a bad path, a journal in use or
    // a busy port fails before anything is loaded into the kernel.
    DaemonOutput out(options, w);
    MetricsRegistry metrics;
    define_metrics(metrics);
    std::unique_ptr<MetricsServer> server;
    if (w.metrics) server = std::make_unique<MetricsServer>(*w.metrics, metrics);
    std::unique_ptr<BpfStatsEnabled> bpf_stats;
    if (w.bpf_stats) bpf_stats = std::make_unique<BpfStatsEnabled>();
    // Before anything reads a namespace: from here on the namespaces are
    // entered only by the broker. Declared before the sources, it outlives them.
    NetnsBrokerProcess broker;
    BrokerClient netns(broker.take_channel());

    // Only needed while choosing and attaching hooks: its parsed BTF is
    // released once everything is attached.
    auto probe = std::make_unique<KernelProbe>(options.btf);
    // One for all sources: the hierarchy and the kubelet's directories read once.
    CgroupResolver cgroups(options.pod_dirs);
    WatchedDrops drops(options, drop_options, *probe, cgroups, netns, out, metrics);
    WatchedCreations creations(options, *probe, drops.source().cause_plan(), drop_options, netns);
    WatchedModules modules(options, *probe, cgroups, out, metrics);
    WatchedActivations activations(options, *probe, cgroups, netns, out, metrics);
    const std::vector<WatchedSource*> sources = {&drops, &creations, &modules, &activations};
    metrics.set("nfsleuth_build_info", {version, drops.source().backend()}, 1);
    publish_accounting(sources, metrics);
    probe.reset();
    // libbpf parsed the kernel's BTF once per object while loading; give
    // that memory back to the system rather than keep it resident.
    malloc_trim(0);
    const uint64_t kept = keep_only_capabilities(daemon_capabilities(drops.source().cause_plan().follows_module));

    EventLoop loop(signals, options.duration());
    TableSampler tables(w, drops.source(), creations, netns, loop, out, metrics);
    BrokerWatch broker_watch(broker, netns, out);
    auto flush = [&] { out.flush(); };
    for (WatchedSource* source : sources) source->start(loop, flush);
    loop.on_hangup([&] { out.reopen(); });
    // Threads inherit the signal mask: the server's starts once the loop
    // has blocked the signals it takes through its signalfd.
    if (server) server->start();
    auto publish = [&] {
        publish_accounting(sources, metrics);
        metrics.set_counter("nfsleuth_drops_folded_total", {}, static_cast<double>(drops.folded()));
        if (bpf_stats) publish_bpf_stats(sources, metrics);
    };
    loop.every(std::chrono::milliseconds(static_cast<int64_t>(drop_options.interval_s * 1000)), [&] {
        drops.source().drain();
        drops.source().sweep();
        tables.sample();
        broker_watch.check();
        publish();
        flush();
    });
    tables.sample();  // the first fill sample and namespace subscriptions now, not an interval later

    std::string banner;
    for (const WatchedSource* source : sources) banner += (banner.empty() ? "" : "; ") + source->banner();
    if (server) banner += "; metrics: http://" + server->address() + "/metrics";
    if (out.journal()) banner += "; journal: " + out.journal()->path();
    banner += "; capabilities kept: " + capability_names(kept);
    banner += "; netns broker: pid " + std::to_string(broker.pid()) + " with " + capability_names(broker.capabilities());
    if (!options.duration_s) banner += "; Ctrl-C to stop";
    std::cerr << banner << std::endl;

    loop.run();
    for (WatchedSource* source : sources) source->finish();
    tables.check_kernel();
    publish();
    out.flush();

    ojson summary = {{"type", "summary"}, {"command", "watch"}};
    std::vector<std::string> lines = {""};
    for (WatchedSource* source : sources) summary[source->summary_key()] = source->summarize(lines);
    const std::vector<HookOutcome> hooks = all_hook_outcomes(sources);
    summary["not_traced"] = not_traced_json(hooks);
    if (const Journal* journal = out.journal()) {
        const JournalStats& js = journal->stats();
        summary["journal"] = {{"path", journal->path()}, {"lines", js.lines}, {"rotations", js.rotations},
                              {"lines_lost", js.lines_lost}, {"write_errors", js.write_errors}};
        lines.push_back("Journal " + journal->path() + ": " + std::to_string(js.lines) + " lines, " +
                        std::to_string(js.rotations) + " rotations, " + std::to_string(js.lines_lost) + " lost");
    }
    for (auto& line : not_traced_lines(hooks)) lines.push_back(std::move(line));
    std::string human;
    for (std::size_t i = 0; i < lines.size(); ++i) human += (i ? "\n" : "") + lines[i];
    // --quiet: the summary is an event too (journal and metrics only).
    out.summary(summary, human);
    return ExitCode::ok;
}

}  // namespace nfsleuth
