// SPDX-License-Identifier: GPL-2.0-only
#include "drops/drops_command.hpp"

#include <chrono>
#include <iostream>

#include "common/clock.hpp"
#include "common/event_loop.hpp"
#include "common/json_line.hpp"
#include "kernel/hook_report.hpp"
#include "drops/agreement_output.hpp"
#include "drops/drop_output.hpp"
#include "drops/drop_source.hpp"
#include "kernel/capabilities.hpp"
#include "kernel/kernel_probe.hpp"
#include "kernel/module_state.hpp"

namespace nfsleuth {

ExitCode run_drops(const CommonOptions& options, const DropOptions& drop_options) {
    // Before anything slow: a signal during loading ends the run cleanly once
    // the loop starts, and SIGHUP never kills.
    SignalInbox signals;
    require_tracing_privileges();
    if (conntrack_state() == ModuleState::absent) {
        std::cerr << "nfsleuth: note: nf_conntrack is not loaded: conntrack cannot drop anything until it is; rule "
                     "drops are still reported\n";
    }
    KernelProbe probe(options.btf);
    CgroupResolver cgroups(options.pod_dirs);
    DropSummary summary;
    DropSource source(options, drop_options, probe, cgroups, [&](const DropRecord& r, const DropContext& c) {
        if (!matches_filter(options, r)) return;
        summary.add(r, c);
        std::cout << (options.json ? json_line(to_json(r, c)) : to_human_line(r, c)) << '\n';
    });

    auto netns_name = [&](uint32_t inode) { return source.enricher().netns_name(inode); };
    auto print_summary = [&] {
        std::vector<std::string> lines;
        auto j = drops_summary(summary, source, in_process_netns(), lines);
        if (options.json) {
            j["not_traced"] = not_traced_json(source.hook_outcomes());
            std::cout << json_line(j) << '\n';
        } else {
            for (const auto& line : not_traced_lines(source.hook_outcomes())) lines.push_back(line);
            for (const auto& line : lines) std::cout << line << '\n';
        }
    };
    // Every interval and at the end: the kernel's counters against ours.
    BootClock clock;
    // While tracing, the fill also says whether evicted entries are named.
    FillArming eviction_arming(drop_options.arm_at_percent);
    auto check_kernel = [&](bool tracing) {
        auto namespaces = list_network_namespaces();
        read_conntrack_fill(namespaces);
        eviction_arming.observe(fill_samples(namespaces));
        if (auto change = tracing ? source.follow_fill(eviction_arming) : std::nullopt) {
            std::cerr << "nfsleuth: " << change->message << std::endl;
            if (options.json)
                std::cout << json_line(evictions_event(clock.rfc3339(BootClock::boot_now_ns()), *change)) << '\n';
        }
        for (const auto& d : source.check_against_kernel(namespaces)) {
            auto name = netns_name(d.netns);
            std::cerr << to_warning_line(d, name) << std::endl;
            if (options.json) std::cout << json_line(to_json(d, name, clock.rfc3339(BootClock::boot_now_ns()))) << '\n';
        }
    };

    EventLoop loop(signals, options.duration());
    loop.watch(source.epoll_fd(), [&] {
        source.drain();
        std::cout.flush();
    });
    loop.every(std::chrono::milliseconds(static_cast<int64_t>(drop_options.interval_s * 1000)), [&] {
        source.drain();
        source.sweep();
        check_kernel(true);
        if (drop_options.top) print_summary();
        std::cout.flush();
    });

    // Where conntrack is a module, its hooks follow it in and out.
    if (source.cause_plan().follows_module) {
        loop.every(kModuleFollowPeriod, [&] {
            auto change = source.follow_conntrack();
            if (!change) return;
            std::cerr << "nfsleuth: " << *change << std::endl;
            if (options.json)
                std::cout << json_line(drop_causes_event(clock.rfc3339(BootClock::boot_now_ns()), source.backend(),
                                                         *change))
                          << std::endl;
        });
    }

    std::string banner = source.hooks().banner("conntrack drops", source.backend(), options.duration_s.has_value());
    if (!source.cause_note().empty()) banner += "; " + source.cause_note();
    if (!source.capture_note().empty()) banner += "; " + source.capture_note();
    std::cerr << banner << std::endl;
    // A table already filling has its evicted entries named from now on.
    check_kernel(true);
    std::cout.flush();

    loop.run();
    // Detach first so the counts stop moving, then collect what is left.
    source.detach();
    source.drain();
    source.sweep();
    check_kernel(false);
    if (!options.json) std::cout << '\n';
    print_summary();
    std::cout.flush();
    return ExitCode::ok;
}

}  // namespace nfsleuth
