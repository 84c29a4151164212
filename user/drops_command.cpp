// SPDX-License-Identifier: GPL-2.0-only
#include "drops_command.hpp"

#include <chrono>
#include <iostream>

#include "drop_output.hpp"
#include "drop_source.hpp"
#include "event_loop.hpp"
#include "json_line.hpp"
#include "kernel_probe.hpp"

namespace nfsleuth {

namespace {

bool matches_filter(const CommonOptions& o, const DropRecord& r) {
    if (o.pid && r.origin.pid != o.pid) return false;
    if (o.comm && (!r.origin.pid || r.origin.comm != *o.comm)) return false;
    return true;
}

}  // namespace

ExitCode run_drops(const CommonOptions& options, const DropOptions& drop_options) {
    require_tracing_privileges();
    if (conntrack_state() == ModuleState::absent) {
        std::cerr << "nfsleuth: note: nf_conntrack is not loaded: conntrack cannot drop anything until it is; rule "
                     "drops are still reported\n";
    }
    KernelProbe probe(options.btf);
    DropSummary summary;
    DropSource source(options, drop_options, probe, [&](const DropRecord& r, const DropContext& c) {
        if (!matches_filter(options, r)) return;
        summary.add(r);
        std::cout << (options.json ? json_line(to_json(r, c)) : to_human_line(r, c)) << '\n';
    });

    auto print_summary = [&] {
        auto fill = namespace_fill(summary.namespaces(), source.start_drops());
        if (options.json) {
            auto j = summary.to_json(fill, source.accounting());
            j["malformed_records"] = source.malformed();
            std::cout << json_line(j) << '\n';
        } else {
            for (const auto& line : summary.human_lines(fill, source.accounting())) std::cout << line << '\n';
        }
    };

    EventLoop loop(options.duration());
    loop.watch(source.epoll_fd(), [&] {
        source.drain();
        std::cout.flush();
    });
    loop.every(std::chrono::milliseconds(static_cast<int64_t>(drop_options.interval_s * 1000)), [&] {
        source.drain();
        source.sweep();
        if (drop_options.top) print_summary();
        std::cout.flush();
    });

    std::cerr << source.hooks().banner("conntrack drops", source.backend(), options.duration_s.has_value())
              << std::endl;

    loop.run();
    // Detach first so the counts stop moving, then collect what is left.
    source.detach();
    source.drain();
    source.sweep();
    if (!options.json) std::cout << '\n';
    print_summary();
    std::cout.flush();
    return ExitCode::ok;
}

}  // namespace nfsleuth
