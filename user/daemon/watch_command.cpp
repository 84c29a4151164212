// SPDX-License-Identifier: GPL-2.0-only
#include "daemon/watch_command.hpp"
#include "process/process_enricher.hpp"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/capability.h>
#include <malloc.h>
#include <unistd.h>

#include <chrono>
#include <initializer_list>
#include <iostream>
#include <memory>

#include "activations/activation_source.hpp"
#include "common/clock.hpp"
#include "common/event_loop.hpp"
#include "common/json_line.hpp"
#include "conntrack/pressure.hpp"
#include "creations/creation_source.hpp"
#include "daemon/journal.hpp"
#include "daemon/metrics.hpp"
#include "daemon/metrics_server.hpp"
#include "doctor/hook_report.hpp"
#include "drops/agreement_output.hpp"
#include "drops/drop_output.hpp"
#include "drops/drop_source.hpp"
#include "kernel/capabilities.hpp"
#include "kernel/kernel_probe.hpp"
#include "kernel/netns.hpp"
#include "kernel/netns_broker.hpp"
#include "modules/module_output.hpp"
#include "modules/module_source.hpp"
#include "version.hpp"

namespace nfsleuth {

namespace {

// How often waiting conntrack netlink events are read.
constexpr std::chrono::milliseconds kNetlinkDrainPeriod{50};
// How often settled conntrack activations are completed and reported.
constexpr std::chrono::milliseconds kActivationPeriod{100};

using Kind = MetricsRegistry::Kind;
using ojson = nlohmann::ordered_json;

void define_metrics(MetricsRegistry& m) {
    m.define("nfsleuth_build_info", Kind::gauge, "nfsleuth's version and the backend its drop hooks use",
             {"version", "drop_backend"});
    m.define("nfsleuth_drops_total", Kind::counter, "Packets netfilter dropped, by cause and network namespace",
             {"cause", "netns"});
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
    m.define("nfsleuth_bpf_run_time_seconds_total", Kind::counter,
             "Time the kernel spent in each nfsleuth BPF program (needs kernel.bpf_stats_enabled)", {"program"});
    m.define("nfsleuth_bpf_run_count_total", Kind::counter,
             "Runs of each nfsleuth BPF program (needs kernel.bpf_stats_enabled)", {"program"});
}

// The label a namespace goes by in metrics: its name, or its inode.
std::string netns_label(const std::optional<std::string>& name, uint32_t inode) {
    return name ? *name : std::to_string(inode);
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
    ojson j;
    j["type"] = "netns_broker_lost";
    j["ts"] = ts;
    j["pid"] = pid;
    j["reason"] = reason;
    return j;
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

}  // namespace

ExitCode run_watch(const CommonOptions& options, const DropOptions& drop_options, const WatchOptions& w) {
    // Before anything slow: a signal during loading ends the run cleanly once
    // the loop starts, and SIGHUP never kills.
    SignalInbox signals;
    require_tracing_privileges();
    // Files and the listening socket first: a bad path, a journal in use or
    // a busy port fails before anything is loaded into the kernel.
    std::unique_ptr<Journal> journal;
    if (w.journal) {
        JournalOptions jo;
        jo.path = *w.journal;
        jo.max_bytes = w.journal_max_bytes;
        jo.keep = w.journal_keep;
        jo.fsync_interval = std::chrono::milliseconds(static_cast<int64_t>(w.journal_fsync_s * 1000));
        journal = std::make_unique<Journal>(jo);
        if (journal->stats().torn_bytes_repaired)
            std::cerr << "nfsleuth: warning: cut " << journal->stats().torn_bytes_repaired
                      << " bytes of a partly written last line from " << jo.path << "\n";
    }
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

    auto emit = [&](const ojson& j, const std::string& human) {
        if (journal) journal->append(json_line(j));
        if (!w.quiet) std::cout << (options.json ? json_line(j) : human) << '\n';
    };
    // What is also said on stderr: the event only for journals and JSON readers.
    auto emit_warning = [&](const ojson& j, const std::string& human) {
        std::cerr << human << std::endl;
        if (journal) journal->append(json_line(j));
        if (options.json && !w.quiet) std::cout << json_line(j) << '\n';
    };

    // Only needed while choosing and attaching hooks: its parsed BTF is
    // released once everything is attached.
    auto probe_owner = std::make_unique<KernelProbe>(options.btf);
    KernelProbe& probe = *probe_owner;
    ProcessEnricher enrich;
    DropSummary drop_summary;
    uint64_t first_drop_records = 0;
    DropSource drops(options, drop_options, probe, [&](const DropRecord& r, const DropContext& c) {
        drop_summary.add(r);
        if (r.first) ++first_drop_records;
        metrics.add("nfsleuth_drops_total",
                    {r.key.cause ? to_string(*r.key.cause) : "unknown", netns_label(c.netns_name, r.key.netns)},
                    static_cast<double>(r.count));
        emit(to_json(r, c), to_human_line(r, c));
    }, netns, netns);

    ModuleSummary module_summary;
    std::unique_ptr<ModuleSource> modules;
    std::string modules_note;
    if (KernelProbe::modules_supported()) {
        modules = std::make_unique<ModuleSource>(options, probe, [&](const ModuleRecord& r) {
            module_summary.add(r);
            if (r.event.type == ModuleEventType::load) {
                const std::string& by = r.trigger ? r.trigger->comm : r.event.proc.comm;
                metrics.add("nfsleuth_module_loads_total", {r.event.module, by});
            } else if (r.event.type == ModuleEventType::request) {
                metrics.add("nfsleuth_module_requests_total", {r.event.module, r.event.proc.comm});
            }
            emit(to_json(r), to_human_line(r));
        });
    } else {
        modules_note = "; module events: none on this kernel (no loadable-module support)";
    }

    std::unique_ptr<ActivationSource> activations;
    std::string activations_note;
    std::vector<HookOutcome> activations_given_up;
    try {
        activations = std::make_unique<ActivationSource>(options, probe, [&](const ActivationRecord& r) {
            metrics.add("nfsleuth_conntrack_activations_total", {to_string(r.family), r.event.proc.comm});
            emit(to_json(r), to_human_line(r));
        }, netns);
    } catch (const Failure& f) {
        if (f.code() != ExitCode::unsupported) throw;
        activations_note = std::string("; ct activations: not traced (") + f.what() + ")";
        activations_given_up = setup_failed(activation_hooks(), f.what());
    }

    CreationSource creations(options, probe, drops.cause_plan(), drop_options.max_flows, netns, netns);
    metrics.set("nfsleuth_build_info", {version, drops.backend()}, 1);
    // Every source's hooks: how each is traced, or why not (those following
    // nf_conntrack change as it comes and goes).
    auto hook_outcomes = [&] {
        std::vector<HookOutcome> all = drops.hook_outcomes();
        auto creation_side = creations.hook_outcomes();
        all.insert(all.end(), creation_side.begin(), creation_side.end());
        for (const HookSelection* h : {modules ? &modules->hooks() : nullptr, activations ? &activations->hooks() : nullptr}) {
            if (h) all.insert(all.end(), h->outcomes().begin(), h->outcomes().end());
        }
        all.insert(all.end(), activations_given_up.begin(), activations_given_up.end());
        return all;
    };
    metrics.replace_gauges("nfsleuth_hook_attached", hook_attached_samples(hook_outcomes()));

    probe_owner.reset();
    // libbpf parsed the kernel's BTF once per object while loading; give
    // that memory back to the system rather than keep it resident.
    malloc_trim(0);

    const uint64_t kept = keep_only_capabilities(daemon_capabilities(drops.cause_plan().follows_module));

    BootClock clock;
    CreatorStats creators;
    PressureMonitor pressure(w.threshold_percent);
    FillArming arming(drop_options.arm_at_percent);
    uint64_t armed_episodes = 0;
    auto last_rotation = std::chrono::steady_clock::now();
    const auto window = std::chrono::milliseconds(static_cast<int64_t>(w.window_s * 1000));

    // One source's accounting: events seen, delivered, and lost by reason.
    auto account = [&](const std::string& source, uint64_t seen, uint64_t delivered,
                       std::initializer_list<std::pair<std::string, uint64_t>> lost) {
        metrics.set_counter("nfsleuth_events_seen_total", {source}, static_cast<double>(seen));
        metrics.set_counter("nfsleuth_events_delivered_total", {source}, static_cast<double>(delivered));
        for (const auto& [reason, count] : lost)
            metrics.set_counter("nfsleuth_events_lost_total", {source, reason}, static_cast<double>(count));
    };
    auto update_accounting = [&] {
        // Set again so that the series stay fresh.
        metrics.replace_gauges("nfsleuth_hook_attached", hook_attached_samples(hook_outcomes()));
        DropAccounting d = drops.accounting();
        account("drops", d.seen, d.reported,
                {{"ring_buffer_full", d.lost_records}, {"no_aggregate", d.unaggregated}, {"malformed", drops.malformed()}});
        metrics.set_counter("nfsleuth_drops_folded_total", {},
                            static_cast<double>(d.reported - std::min(d.reported, first_drop_records)));
        if (modules) {
            ModuleAccounting m = modules->accounting();
            account("modules", m.seen, m.delivered, {{"ring_buffer_full", m.lost}, {"malformed", m.malformed}});
        }
        if (activations) {
            ActivationAccounting a = activations->accounting();
            account("activations", a.seen, a.delivered, {{"ring_buffer_full", a.lost}, {"malformed", a.malformed}});
        }
        CreationAccounting c = creations.accounting();
        if (creations.uses_netlink()) {
            account("creations", c.seen, c.reported, {{"netlink_overrun", c.lost}});
        } else {
            account("creations", c.seen, c.reported, {{"no_aggregate", c.unaggregated}});
        }
    };

    auto update_bpf_stats = [&] {
        std::vector<bpf_program*> progs = drops.programs();
        for (auto* p : creations.programs()) progs.push_back(p);
        if (modules)
            for (auto* p : modules->hooks().programs()) progs.push_back(p);
        if (activations)
            for (auto* p : activations->hooks().programs()) progs.push_back(p);
        for (auto* p : progs) {
            bpf_prog_info info{};
            uint32_t len = sizeof info;
            if (bpf_obj_get_info_by_fd(bpf_program__fd(p), &info, &len) != 0) continue;
            const char* name = bpf_program__name(p);
            metrics.set_counter("nfsleuth_bpf_run_time_seconds_total", {name},
                                static_cast<double>(info.run_time_ns) / 1e9);
            metrics.set_counter("nfsleuth_bpf_run_count_total", {name}, static_cast<double>(info.run_cnt));
        }
    };

    // nfsleuth's drop counts against the kernel's conntrack counters, read
    // right after a sweep (see kernel_agreement.hpp).
    auto check_kernel = [&](const std::vector<NetnsInfo>& namespaces) {
        for (const auto& d : drops.check_against_kernel(namespaces)) {
            auto name = enrich.netns_name(d.netns);
            metrics.add("nfsleuth_counter_mismatches_total", {to_string(d.counter)});
            // Loud on stderr whatever the output mode.
            emit_warning(to_json(d, name, clock.rfc3339(BootClock::boot_now_ns())), to_warning_line(d, name));
        }
        std::vector<MetricsRegistry::Sample> gaps;
        for (const auto& ns : drops.agreement().report()) {
            for (const auto& d : ns.disagreements) {
                double gap = d.missed ? static_cast<double>(d.gap()) : -static_cast<double>(d.gap());
                gaps.push_back({{netns_label(enrich.netns_name(ns.netns), ns.netns), to_string(d.counter)}, gap});
            }
        }
        metrics.replace_gauges("nfsleuth_counter_gap", std::move(gaps));
    };

    EventLoop loop(signals, options.duration());
    std::optional<int> netlink_drain;  // the timer draining netlink subscriptions, while any is open
    auto sample = [&] {
        auto namespaces = list_network_namespaces();
        // The fill first: the creations read after it include every entry
        // it counts.
        read_conntrack_fill(namespaces, netns);
        const std::vector<FillSample> fills = fill_samples(namespaces);
        std::vector<MetricsRegistry::Sample> entries, limits;
        for (const auto& f : fills) {
            entries.push_back({{f.name}, static_cast<double>(f.count)});
            limits.push_back({{f.name}, static_cast<double>(f.max)});
        }
        const std::string ts = clock.rfc3339(BootClock::boot_now_ns());
        // Creations are counted where a table is under pressure, from the
        // sample that finds it there; the event says so once they are.
        // Evicted entries are named from the same fill.
        const auto arming_changes = arming.observe(fills);
        if (auto change = drops.follow_fill(arming))
            emit_warning(evictions_event(ts, *change), "nfsleuth: " + change->message);
        std::vector<NetnsInfo> armed;
        std::vector<MetricsRegistry::Sample> armed_gauge;
        for (const auto& ns : namespaces) {
            if (!arming.armed(static_cast<uint32_t>(ns.inode))) continue;
            armed.push_back(ns);
            armed_gauge.push_back({{ns.name}, 1});
        }
        metrics.replace_gauges("nfsleuth_creation_tracking_armed", std::move(armed_gauge));
        if (auto change = creations.track(armed)) std::cerr << "nfsleuth: " << *change << std::endl;
        if (netlink_drain) loop.set_paused(*netlink_drain, armed.empty());
        for (const auto& change : arming_changes) {
            if (change.armed) ++armed_episodes;
            emit(to_json(change, arming, ts, creations.method()), to_human_line(change, arming, ts, creations.method()));
        }
        creations.drain();
        for (auto& c : creations.collect()) {
            if (c.pid) c.cgroup = enrich.cgroup(c.cgroup_id);
            creators.add(c);
            metrics.add("nfsleuth_conntrack_created_total", {netns_label(enrich.netns_name(c.netns), c.netns)},
                        static_cast<double>(c.count));
        }
        auto now = std::chrono::steady_clock::now();
        if (now - last_rotation >= window) {
            creators.rotate();
            last_rotation = now;
        }
        check_kernel(namespaces);
        metrics.replace_gauges("nfsleuth_conntrack_entries", std::move(entries));
        metrics.replace_gauges("nfsleuth_conntrack_max", std::move(limits));
        for (const auto& change : pressure.observe(fills, now)) {
            auto top = creators.top(change.sample.netns, 5);
            if (change.state == PressureChange::State::high)
                metrics.add("nfsleuth_conntrack_pressure_events_total", {change.sample.name});
            emit(to_json(change, top, w.threshold_percent, ts, creations.method()),
                 to_human_line(change, top, w.threshold_percent, ts));
        }
    };

    // The broker cannot be started again without the privileges given up:
    // what needs it stops, loudly, and the rest goes on.
    bool broker_lost = false;
    auto check_broker = [&] {
        if (broker_lost) return;
        // A broker that closed its end is about to be reaped: its end says why.
        auto ended = broker.ended(netns.broken() ? std::chrono::milliseconds(500) : std::chrono::milliseconds(0));
        if (!ended && !netns.broken()) return;
        broker_lost = true;
        const std::string reason = ended ? *ended : "stopped answering: " + *netns.broken();
        emit_warning(broker_lost_event(clock.rfc3339(BootClock::boot_now_ns()), broker.pid(), reason),
                     "nfsleuth: warning: the netns broker (pid " + std::to_string(broker.pid()) + ") is lost (" + reason + ")" +
                         ": the conntrack fill and counters of namespaces, creations in namespaces not yet "
                         "subscribed and activation rules are no longer read, and kprobes are not attached to "
                         "nf_conntrack's next load; drops are still counted");
    };

    auto flush = [&] {
        std::cout.flush();
        if (!journal) return;
        if (!journal->flush() || !journal->sync_if_due(std::chrono::steady_clock::now()))
            std::cerr << "nfsleuth: warning: journal: " << journal->last_error() << "\n";
    };

    if (modules) loop.watch(modules->epoll_fd(), [&] {
        modules->drain();
        flush();
    });
    if (activations) {
        loop.watch(activations->epoll_fd(), [&] { activations->drain(); });
        loop.every(kActivationPeriod, [&] {
            activations->complete();
            flush();
        });
    }
    loop.watch(drops.epoll_fd(), [&] {
        drops.drain();
        flush();
    });
    // Netlink events are read in batches on a timer, not at each one: under
    // thousands of new connections per second a wakeup per event costs the
    // host more than the reading. The receive buffer holds about 13,000
    // events, over a quarter of a second even at 50,000 per second.
    if (creations.uses_netlink()) netlink_drain = loop.every(kNetlinkDrainPeriod, [&] { creations.drain(); });
    if (journal) loop.on_hangup([&] {
        if (!journal->reopen()) std::cerr << "nfsleuth: warning: journal: " << journal->last_error() << "\n";
    });
    // Threads inherit the signal mask: the server's starts once the loop
    // has blocked the signals it takes through its signalfd.
    if (server) server->start();
    loop.every(std::chrono::milliseconds(static_cast<int64_t>(drop_options.interval_s * 1000)), [&] {
        drops.drain();
        drops.sweep();
        sample();
        check_broker();
        update_accounting();
        if (bpf_stats) update_bpf_stats();
        flush();
    });
    sample();  // the first fill sample and namespace subscriptions now, not an interval later

    // Where conntrack is a module, the hooks on its functions follow it in
    // and out.
    if (drops.cause_plan().follows_module) {
        loop.every(kModuleFollowPeriod, [&] {
            const std::string ts = clock.rfc3339(BootClock::boot_now_ns());
            if (auto change = drops.follow_conntrack())
                emit_warning(drop_causes_event(ts, drops.backend(), *change), "nfsleuth: " + *change);
            if (auto change = creations.follow_conntrack()) std::cerr << "nfsleuth: " << *change << std::endl;
            flush();
        });
    }

    std::string banner = drops.hooks().banner("conntrack drops", drops.backend(), true);
    if (!drops.cause_note().empty()) banner += "; " + drops.cause_note();
    banner += "; creations: " + creations.method();
    if (!creations.hooks().describe().empty()) banner += " (" + creations.hooks().describe() + ")";
    banner += arming.always() ? ", always"
                              : " while a table is at least " + percent_text(arming.arm_at()) + "% full (--arm-at)";
    if (creations.waiting_for_module())
        banner += " from when nf_conntrack_netlink is loaded (nfsleuth loads no module)";
    if (modules) banner += "; module events: " + modules->hooks().describe();
    banner += modules_note;
    if (activations) banner += "; ct activations: " + activations->method();
    banner += activations_note;
    banner += not_traced_clauses(creations.hooks().outcomes());
    if (modules) banner += not_traced_clauses(modules->hooks().outcomes());
    if (server) banner += "; metrics: http://" + server->address() + "/metrics";
    if (journal) banner += "; journal: " + journal->path();
    banner += "; capabilities kept: " + capability_names(kept);
    banner += "; netns broker: pid " + std::to_string(broker.pid()) + " with " + capability_names(broker.capabilities());
    if (!options.duration_s) banner += "; Ctrl-C to stop";
    std::cerr << banner << std::endl;

    loop.run();
    // Detach first so the counts stop moving, then collect what is left.
    drops.detach();
    creations.detach();
    if (modules) {
        modules->detach();
        modules->drain();
    }
    if (activations) {
        activations->detach();
        activations->drain();
        activations->complete(true);
    }
    drops.drain();
    drops.sweep();
    {
        auto namespaces = list_network_namespaces();
        check_kernel(namespaces);
    }
    update_accounting();

    DropAccounting d = drops.accounting();
    CreationAccounting c = creations.accounting();
    auto fill = namespace_fill(drop_summary.namespaces(), drops.start_drops(), netns);
    ojson summary;
    summary["type"] = "summary";
    summary["command"] = "watch";
    summary["drops"] = drop_summary.to_json(fill, d);
    summary["drops"]["malformed_records"] = drops.malformed();
    summary["drops"]["folded"] = d.reported - std::min(d.reported, first_drop_records);
    auto netns_name = [&](uint32_t inode) { return enrich.netns_name(inode); };
    summary["drops"]["kernel_agreement"] = agreement_json(drops.agreement(), netns_name);
    if (modules) {
        ModuleAccounting m = modules->accounting();
        ojson ms = module_summary.to_json();
        ms["events_seen"] = m.seen;
        ms["events_delivered"] = m.delivered;
        ms["events_lost"] = m.lost;
        ms["decode_errors"] = m.malformed;
        summary["modules"] = std::move(ms);
    } else {
        summary["modules"] = nullptr;
    }
    if (activations) {
        ActivationAccounting a = activations->accounting();
        summary["activations"] = {{"method", activations->method()}, {"seen", a.seen},
                                  {"delivered", a.delivered},        {"lost", a.lost},
                                  {"malformed", a.malformed},        {"not_conntrack", a.not_conntrack},
                                  {"reported", a.reported}};
    } else {
        summary["activations"] = nullptr;
    }
    summary["creations"] = {{"method", creations.method()},   {"arm_at_percent", arming.arm_at()},
                            {"armed_episodes", armed_episodes}, {"armed_now", arming.armed_count()},
                            {"seen", c.seen},                  {"reported", c.reported},
                            {"attributed", c.attributed},      {"lost", c.lost},
                            {"unaggregated", c.unaggregated}};
    summary["not_traced"] = not_traced_json(hook_outcomes());
    if (journal) {
        journal->flush();
        const JournalStats& js = journal->stats();
        summary["journal"] = {{"path", journal->path()}, {"lines", js.lines}, {"rotations", js.rotations},
                              {"lines_lost", js.lines_lost}, {"write_errors", js.write_errors}};
    }
    std::string human;
    if (!options.json) {
        human = "\n";
        for (const auto& line : drop_summary.human_lines(fill, d)) human += line + "\n";
        for (const auto& line : agreement_lines(drops.agreement(), netns_name)) human += line + "\n";
        if (modules) {
            ModuleAccounting m = modules->accounting();
            human += "Module loads by trigger:\n";
            auto lines = module_summary.human_lines();
            if (lines.empty()) human += "  (none)\n";
            for (const auto& l : lines) human += "  " + l + "\n";
            human += "Module events: " + std::to_string(m.seen) + " seen, " + std::to_string(m.delivered) +
                     " delivered, " + std::to_string(m.lost) + " lost (ring buffer full)\n";
        }
        if (activations) {
            ActivationAccounting a = activations->accounting();
            human += "Conntrack activations (" + activations->method() + "): " + std::to_string(a.reported) +
                     " reported, " + std::to_string(a.lost) + " lost\n";
        }
        human += "Conntrack creations (" + creations.method() + ", counted in " + std::to_string(armed_episodes) +
                 " episodes from --arm-at " + percent_text(arming.arm_at()) + "%): " + std::to_string(c.seen) + " seen, " +
                 std::to_string(c.reported) + " reported, " + std::to_string(c.attributed) +
                 " from a process, " + std::to_string(c.lost) + " lost";
        if (journal)
            human += "\nJournal " + journal->path() + ": " + std::to_string(journal->stats().lines) + " lines, " +
                     std::to_string(journal->stats().rotations) + " rotations, " +
                     std::to_string(journal->stats().lines_lost) + " lost";
        for (const auto& line : not_traced_lines(hook_outcomes())) human += "\n" + line;
    }
    if (journal) {
        journal->append(json_line(summary));
        journal->flush();
    }
    // --quiet: the summary is an event too (journal and metrics only).
    if (!w.quiet) std::cout << (options.json ? json_line(summary) : human) << std::endl;
    return ExitCode::ok;
}

}  // namespace nfsleuth
