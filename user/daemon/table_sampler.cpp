// SPDX-License-Identifier: GPL-2.0-only
#include "daemon/table_sampler.hpp"

#include <iostream>
#include <limits>
#include <string>

#include "drops/agreement_output.hpp"
#include "drops/drop_output.hpp"

namespace nfsleuth {

TableSampler::TableSampler(const WatchOptions& watch, DropSource& drops, WatchedCreations& creations,
                           NetnsAccess& netns, EventLoop& loop, DaemonOutput& out, MetricsRegistry& metrics)
    : window_(static_cast<int64_t>(watch.window_s * 1000)),
      drops_(drops),
      creations_(creations),
      netns_(netns),
      loop_(loop),
      out_(out),
      metrics_(metrics),
      forecaster_(std::chrono::milliseconds(static_cast<int64_t>(watch.forecast_window_s * 1000))),
      pressure_(PressureMonitor::Options{watch.threshold_percent,
                                         std::chrono::seconds(static_cast<int64_t>(watch.full_within_s))}),
      last_rotation_(std::chrono::steady_clock::now()) {}

void TableSampler::sample() {
    auto namespaces = list_network_namespaces();
    // The fill first: the creations read after it include every entry it counts.
    read_conntrack_fill(namespaces, netns_);
    const std::vector<FillSample> fills = fill_samples(namespaces);
    std::vector<MetricsRegistry::Sample> entries, limits;
    for (const auto& f : fills) {
        entries.push_back({{f.name}, static_cast<double>(f.count)});
        limits.push_back({{f.name}, static_cast<double>(f.max)});
    }
    const std::string ts = clock_.rfc3339(BootClock::boot_now_ns());
    // Creations are counted where a table is under pressure, from the sample
    // that finds it there; the event says so once they are. Evicted entries
    // are named from the same fill.
    const auto arming_changes = creations_.observe(fills);
    const FillArming& arming = creations_.arming();
    if (auto change = drops_.follow_fill(arming)) out_.warn(evictions_event(ts, *change), "nfsleuth: " + change->message);
    std::vector<NetnsInfo> armed;
    std::vector<MetricsRegistry::Sample> armed_gauge;
    for (const auto& ns : namespaces) {
        if (!arming.armed(static_cast<uint32_t>(ns.inode))) continue;
        armed.push_back(ns);
        armed_gauge.push_back({{ns.name}, 1});
    }
    metrics_.replace_gauges("nfsleuth_creation_tracking_armed", std::move(armed_gauge));
    CreationSource& creations = creations_.source();
    if (auto change = creations.track(armed)) std::cerr << "nfsleuth: " << *change << std::endl;
    if (auto timer = creations_.netlink_drain()) loop_.set_paused(*timer, armed.empty());
    for (const auto& change : arming_changes)
        out_.emit(to_json(change, arming, ts, creations.method()), to_human_line(change, arming, ts, creations.method()));
    take_creations();
    check_kernel(namespaces);
    metrics_.replace_gauges("nfsleuth_conntrack_entries", std::move(entries));
    metrics_.replace_gauges("nfsleuth_conntrack_max", std::move(limits));
    const auto now = std::chrono::steady_clock::now();
    forecaster_.observe(fills, now);
    const auto forecasts = forecaster_.forecasts();
    std::vector<MetricsRegistry::Sample> growth, full_in;
    for (const auto& f : fills) {
        auto it = forecasts.find(f.netns);
        if (it == forecasts.end()) continue;
        growth.push_back({{f.name}, it->second.growth_per_s});
        full_in.push_back({{f.name}, it->second.full_in_s.value_or(std::numeric_limits<double>::infinity())});
    }
    metrics_.replace_gauges("nfsleuth_conntrack_growth_per_second", std::move(growth));
    metrics_.replace_gauges("nfsleuth_conntrack_full_in_seconds", std::move(full_in));
    for (const auto& change : pressure_.observe(fills, now, forecasts)) {
        auto top = creators_.top(change.sample.netns, 5);
        if (change.state == PressureChange::State::high)
            metrics_.add("nfsleuth_conntrack_pressure_events_total", {change.sample.name});
        out_.emit(to_json(change, top, pressure_.threshold(), ts, creations.method()),
                  to_human_line(change, top, pressure_.threshold(), ts));
    }
}

void TableSampler::take_creations() {
    CreationSource& creations = creations_.source();
    ProcessEnricher& enrich = drops_.enricher();
    creations.drain();
    for (auto& c : creations.collect()) {
        if (c.pid) c.cgroup = enrich.cgroup(c.cgroup_id);
        creators_.add(c);
        const std::string netns = netns_label(enrich.netns_name(c.netns), c.netns);
        metrics_.add("nfsleuth_conntrack_created_total", {netns}, static_cast<double>(c.count));
        add_container_count(metrics_, "nfsleuth_container_conntrack_created_total", {netns}, c.cgroup,
                            static_cast<double>(c.count));
    }
    auto now = std::chrono::steady_clock::now();
    if (now - last_rotation_ >= window_) {
        creators_.rotate();
        last_rotation_ = now;
    }
}

void TableSampler::check_kernel() {
    auto namespaces = list_network_namespaces();
    read_conntrack_fill(namespaces, netns_);
    check_kernel(namespaces);
}

// nfsleuth's drop counts against the kernel's conntrack counters, read right
// after a sweep (see kernel_agreement.hpp); loud on stderr whatever the output.
void TableSampler::check_kernel(const std::vector<NetnsInfo>& namespaces) {
    ProcessEnricher& enrich = drops_.enricher();
    for (const auto& d : drops_.check_against_kernel(namespaces)) {
        auto name = enrich.netns_name(d.netns);
        metrics_.add("nfsleuth_counter_mismatches_total", {to_string(d.counter)});
        out_.warn(to_json(d, name, clock_.rfc3339(BootClock::boot_now_ns())), to_warning_line(d, name));
    }
    std::vector<MetricsRegistry::Sample> gaps;
    for (const auto& ns : drops_.agreement().report()) {
        for (const auto& d : ns.disagreements) {
            double gap = d.missed ? static_cast<double>(d.gap()) : -static_cast<double>(d.gap());
            gaps.push_back({{netns_label(enrich.netns_name(ns.netns), ns.netns), to_string(d.counter)}, gap});
        }
    }
    metrics_.replace_gauges("nfsleuth_counter_gap", std::move(gaps));
}

}  // namespace nfsleuth
