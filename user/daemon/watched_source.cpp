// SPDX-License-Identifier: GPL-2.0-only
#include "daemon/watched_source.hpp"

#include <chrono>
#include <iostream>

#include "activations/activation_output.hpp"
#include "common/clock.hpp"
#include "common/text.hpp"
#include "drops/agreement_output.hpp"
#include "kernel/hook_report.hpp"

namespace nfsleuth {

namespace {

// How often waiting conntrack netlink events are read.
constexpr std::chrono::milliseconds kNetlinkDrainPeriod{50};
// How often settled conntrack activations are completed and reported.
constexpr std::chrono::milliseconds kActivationPeriod{100};

using ojson = nlohmann::ordered_json;

}  // namespace

std::vector<MetricsRegistry::Sample> hook_attached_samples(const std::vector<HookOutcome>& outcomes) {
    std::vector<MetricsRegistry::Sample> out;
    for (const auto& o : outcomes) {
        std::string method = o.chosen ? to_string(o.chosen->flavor) : "none";
        out.push_back({{o.hook, method}, o.traced ? 1.0 : 0.0});
    }
    return out;
}

std::string netns_label(const std::optional<std::string>& name, uint32_t inode) {
    return name ? *name : std::to_string(inode);
}

void add_container_count(MetricsRegistry& metrics, const std::string& family, MetricsRegistry::Labels labels,
                         const std::optional<CgroupIdentity>& cgroup, double count) {
    if (!cgroup || !cgroup->workload.in_container()) return;
    labels.push_back(pod_label(cgroup->workload));
    labels.push_back(container_label(cgroup->workload));
    metrics.add(family, labels, count);
}

// --- drops ---------------------------------------------------------------------

WatchedDrops::WatchedDrops(const CommonOptions& options, const DropOptions& drop_options, KernelProbe& probe,
                           CgroupResolver& cgroups, BrokerClient& netns, DaemonOutput& out,
                           MetricsRegistry& metrics)
    : netns_(netns),
      out_(out),
      metrics_(metrics),
      interval_(static_cast<int64_t>(drop_options.interval_s * 1000)),
      source_(options, drop_options, probe, cgroups, [this](const DropRecord& r, const DropContext& c) {
          summary_.add(r, c);
          if (r.first) ++first_drop_records_;
          const std::string cause = r.key.cause ? to_string(*r.key.cause) : "unknown";
          const std::string netns = netns_label(c.netns_name, r.key.netns);
          metrics_.add("nfsleuth_drops_total", {cause, netns}, static_cast<double>(r.count));
          add_container_count(metrics_, "nfsleuth_container_drops_total", {cause, netns}, c.cgroup,
                              static_cast<double>(r.count));
          out_.emit(to_json(r, c), to_human_line(r, c));
      }, netns, netns) {}

std::string WatchedDrops::banner() const {
    std::string banner = source_.hooks().banner("conntrack drops", source_.backend(), true);
    if (!source_.cause_note().empty()) banner += "; " + source_.cause_note();
    if (!source_.capture_note().empty()) banner += "; " + source_.capture_note();
    return banner;
}

std::optional<SourceAccounting> WatchedDrops::accounting() const {
    DropAccounting d = source_.accounting();
    return SourceAccounting{"drops", d.seen, d.reported,
                            {{"ring_buffer_full", d.lost_records},
                             {"no_aggregate", d.unaggregated},
                             {"malformed", source_.malformed()}}};
}

uint64_t WatchedDrops::folded() const {
    const uint64_t reported = source_.accounting().reported;
    return reported - std::min(reported, first_drop_records_);
}

void WatchedDrops::publish_capture() {
    const auto a = source_.capture_accounting();
    if (!a) return;
    const std::pair<const char*, uint64_t> outcomes[] = {
        {"written", a->written},       {"skipped_flow", a->skipped_flow}, {"skipped_rate", a->skipped_rate},
        {"lost", a->lost},             {"unreadable", a->unreadable},     {"malformed", a->malformed},
        {"write_error", a->write_errors}};
    for (const auto& [outcome, n] : outcomes)
        metrics_.set_counter("nfsleuth_pcap_packets_total", {outcome}, static_cast<double>(n));
}

void WatchedDrops::start(EventLoop& loop, const std::function<void()>& flush) {
    loop.watch(source_.epoll_fd(), [this, flush] {
        source_.drain();
        flush();
    });
    if (source_.capture_accounting()) {
        publish_capture();
        loop.every(interval_, [this] { publish_capture(); });
    }
    // Where conntrack is a module, the hooks on its functions follow it in and out.
    if (!source_.cause_plan().follows_module) return;
    loop.every(kModuleFollowPeriod, [this, flush] {
        if (auto change = source_.follow_conntrack()) {
            BootClock clock;
            out_.warn(drop_causes_event(clock.rfc3339(BootClock::boot_now_ns()), source_.backend(), *change),
                      "nfsleuth: " + *change);
            flush();
        }
    });
}

void WatchedDrops::finish() {
    // Detached first so the counts stop moving, then what is left collected.
    source_.detach();
    source_.drain();
    source_.sweep();
    publish_capture();
}

ojson WatchedDrops::summarize(std::vector<std::string>& lines) {
    ojson j = drops_summary(summary_, source_, netns_, lines);
    j["folded"] = folded();
    return j;
}

// --- creations -----------------------------------------------------------------

WatchedCreations::WatchedCreations(const CommonOptions& options, KernelProbe& probe, const CausePlan& plan,
                                   const DropOptions& drop_options, BrokerClient& netns)
    : source_(options, probe, plan, drop_options.max_flows, netns, netns),
      arming_(drop_options.arm_at_percent),
      follows_module_(plan.follows_module) {}

std::vector<ArmingChange> WatchedCreations::observe(const std::vector<FillSample>& fills) {
    auto changes = arming_.observe(fills);
    for (const auto& c : changes)
        if (c.armed) ++episodes_;
    return changes;
}

std::string WatchedCreations::banner() const {
    std::string banner = "creations: " + source_.method();
    if (!source_.hooks().describe().empty()) banner += " (" + source_.hooks().describe() + ")";
    banner += arming_.always() ? ", always"
                               : " while a table is at least " + percent_text(arming_.arm_at()) + "% full (--arm-at)";
    if (source_.waiting_for_module()) banner += " from when nf_conntrack_netlink is loaded (nfsleuth loads no module)";
    return banner + not_traced_clauses(source_.hooks().outcomes());
}

std::optional<SourceAccounting> WatchedCreations::accounting() const {
    CreationAccounting c = source_.accounting();
    if (source_.uses_netlink()) return SourceAccounting{"creations", c.seen, c.reported, {{"netlink_overrun", c.lost}}};
    return SourceAccounting{"creations", c.seen, c.reported, {{"no_aggregate", c.unaggregated}}};
}

void WatchedCreations::start(EventLoop& loop, const std::function<void()>& flush) {
    // Netlink events are read in batches on a timer, not at each one: under
    // thousands of new connections per second a wakeup per event costs the
    // host more than the reading. The receive buffer holds about 13,000
    // events, over a quarter of a second even at 50,000 per second.
    if (source_.uses_netlink()) {
        netlink_drain_ = loop.every(kNetlinkDrainPeriod, [this] { source_.drain(); });
        loop.set_paused(*netlink_drain_, arming_.armed_count() == 0);
    }
    if (follows_module_) {
        // The allocation hook follows nf_conntrack where it is a module.
        loop.every(kModuleFollowPeriod, [this, flush] {
            if (auto change = source_.follow_conntrack()) {
                std::cerr << "nfsleuth: " << *change << std::endl;
                flush();
            }
        });
    }
}

ojson WatchedCreations::summarize(std::vector<std::string>& lines) {
    CreationAccounting c = source_.accounting();
    lines.push_back("Conntrack creations (" + source_.method() + ", counted in " + std::to_string(episodes_) +
                    " episodes from --arm-at " + percent_text(arming_.arm_at()) + "%): " + std::to_string(c.seen) +
                    " seen, " + std::to_string(c.reported) + " reported, " + std::to_string(c.attributed) +
                    " from a process, " + std::to_string(c.lost) + " lost");
    return {{"method", source_.method()},   {"arm_at_percent", arming_.arm_at()},
            {"armed_episodes", episodes_},   {"armed_now", arming_.armed_count()},
            {"seen", c.seen},                {"reported", c.reported},
            {"attributed", c.attributed},    {"lost", c.lost},
            {"unaggregated", c.unaggregated}};
}

// --- modules -------------------------------------------------------------------

WatchedModules::WatchedModules(const CommonOptions& options, KernelProbe& probe, CgroupResolver& cgroups,
                               DaemonOutput& out, MetricsRegistry& metrics)
    : OptionalWatchedSource("modules") {
    if (!KernelProbe::modules_supported()) return;
    source_ = std::make_unique<ModuleSource>(options, probe, cgroups, [this, &out, &metrics](const ModuleRecord& r) {
        summary_.add(r);
        if (r.event.type == ModuleEventType::load) {
            const std::string& by = r.trigger ? r.trigger->comm : r.event.proc.comm;
            metrics.add("nfsleuth_module_loads_total", {r.event.module, by});
        } else if (r.event.type == ModuleEventType::request) {
            metrics.add("nfsleuth_module_requests_total", {r.event.module, r.event.proc.comm});
        }
        out.emit(to_json(r), to_human_line(r));
    });
}

std::string WatchedModules::banner() const {
    if (!source_) return "module events: none on this kernel (no loadable-module support)";
    return "module events: " + source_->hooks().describe() + not_traced_clauses(source_->hooks().outcomes());
}

void WatchedModules::start(EventLoop& loop, const std::function<void()>& flush) {
    if (!source_) return;
    loop.watch(source_->epoll_fd(), [this, flush] {
        source_->drain();
        flush();
    });
}

ojson WatchedModules::summarize(std::vector<std::string>& lines) {
    if (!source_) return nullptr;
    ModuleAccounting m = source_->accounting();
    for (auto& line : module_summary_lines(summary_, m)) lines.push_back(std::move(line));
    return module_summary_json(summary_, m);
}

// --- activations ---------------------------------------------------------------

WatchedActivations::WatchedActivations(const CommonOptions& options, KernelProbe& probe, CgroupResolver& cgroups,
                                       BrokerClient& netns, DaemonOutput& out, MetricsRegistry& metrics)
    : OptionalWatchedSource("activations") {
    try {
        source_ = std::make_unique<ActivationSource>(options, probe, cgroups, [&out, &metrics](const ActivationRecord& r) {
            metrics.add("nfsleuth_conntrack_activations_total", {to_string(r.family), r.event.proc.comm});
            out.emit(to_json(r), to_human_line(r));
        }, netns);
    } catch (const Failure& f) {
        if (f.code() != ExitCode::unsupported) throw;
        unsupported_ = f.what();
        given_up_ = setup_failed(activation_hooks(), f.what());
    }
}

std::string WatchedActivations::banner() const {
    if (!source_) return "ct activations: not traced (" + unsupported_ + ")";
    return "ct activations: " + source_->method() + not_traced_clauses(source_->hooks().outcomes());
}

void WatchedActivations::start(EventLoop& loop, const std::function<void()>& flush) {
    if (!source_) return;
    loop.watch(source_->epoll_fd(), [this] { source_->drain(); });
    loop.every(kActivationPeriod, [this, flush] {
        source_->complete();
        flush();
    });
}

ojson WatchedActivations::summarize(std::vector<std::string>& lines) {
    if (!source_) return nullptr;
    ActivationAccounting a = source_->accounting();
    lines.push_back("Conntrack activations (" + source_->method() + "): " + std::to_string(a.reported) +
                    " reported, " + std::to_string(a.lost) + " lost");
    return {{"method", source_->method()}, {"seen", a.seen},
            {"delivered", a.delivered},     {"lost", a.lost},
            {"malformed", a.malformed},     {"not_conntrack", a.not_conntrack},
            {"reported", a.reported}};
}

}  // namespace nfsleuth
