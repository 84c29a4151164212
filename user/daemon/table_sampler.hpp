// SPDX-License-Identifier: GPL-2.0-only
// What `watch` does with the conntrack tables every interval: samples each
// namespace's fill (metrics), arms creation counting and eviction naming
// where a table fills, takes in the creators counted meanwhile, reports
// pressure with its top creators, and holds nfsleuth's drop counts against
// the kernel's counters.
#pragma once
#include <chrono>
#include <vector>

#include "cli/cli.hpp"
#include "common/clock.hpp"
#include "common/event_loop.hpp"
#include "conntrack/forecast.hpp"
#include "conntrack/pressure.hpp"
#include "daemon/daemon_output.hpp"
#include "daemon/metrics.hpp"
#include "daemon/watched_source.hpp"
#include "kernel/netns.hpp"
#include "kernel/netns_access.hpp"

namespace nfsleuth {

class TableSampler {
public:
    // All must outlive it; `loop` runs the creations' netlink drain timer.
    TableSampler(const WatchOptions& watch, DropSource& drops, WatchedCreations& creations, NetnsAccess& netns,
                 EventLoop& loop, DaemonOutput& out, MetricsRegistry& metrics);

    // One sample of every namespace (call right after the drops' sweep).
    void sample();
    // The kernel's counters against nfsleuth's counts only (at the end,
    // after the last sweep).
    void check_kernel();

private:
    void check_kernel(const std::vector<NetnsInfo>& namespaces);
    void take_creations();

    std::chrono::milliseconds window_;
    DropSource& drops_;
    WatchedCreations& creations_;
    NetnsAccess& netns_;
    EventLoop& loop_;
    DaemonOutput& out_;
    MetricsRegistry& metrics_;
    BootClock clock_;
    CreatorStats creators_;
    FillForecaster forecaster_;
    PressureMonitor pressure_;
    std::chrono::steady_clock::time_point last_rotation_;
};

}  // namespace nfsleuth
