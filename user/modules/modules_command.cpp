// SPDX-License-Identifier: GPL-2.0-only
#include "modules/modules_command.hpp"

#include <iostream>

#include "common/event_loop.hpp"
#include "common/json_line.hpp"
#include "kernel/hook_report.hpp"
#include "kernel/capabilities.hpp"
#include "kernel/kernel_probe.hpp"
#include "modules/module_output.hpp"
#include "modules/module_source.hpp"

namespace nfsleuth {

ExitCode run_modules(const CommonOptions& options) {
    // Before anything slow: a signal during loading ends the run cleanly once
    // the loop starts, and SIGHUP never kills.
    SignalInbox signals;
    // A usage error first, whatever the kernel: it is one on every host.
    if (auto forced = parse_backend(options.backend); forced && *forced != Backend::tracepoint) {
        throw Failure(ExitCode::usage,
                      "module events are only traced through tracepoints; --backend " + options.backend +
                          " applies to conntrack hooks",
                      "use --backend auto or --backend tracepoint with `modules`");
    }
    require_module_support();
    require_tracing_privileges();

    KernelProbe probe(options.btf);
    CgroupResolver cgroups(options.pod_dirs);
    ModuleSummary summary;
    ModuleSource source(options, probe, cgroups, [&](const ModuleRecord& r) {
        if (!matches_filter(options, r)) return;
        summary.add(r);
        std::cout << (options.json ? json_line(to_json(r)) : to_human_line(r)) << std::endl;
    });

    EventLoop loop(signals, options.duration());
    loop.watch(source.epoll_fd(), [&] { source.drain(); });

    std::cerr << source.hooks().banner("module events", source.hooks().backend(), options.duration_s.has_value())
              << std::endl;

    loop.run();
    source.drain();

    ModuleAccounting acc = source.accounting();
    if (options.json) {
        nlohmann::ordered_json s = {{"type", "summary"}};
        s.update(module_summary_json(summary, acc));
        s["not_traced"] = not_traced_json(source.hooks().outcomes());
        std::cout << json_line(s) << std::endl;
    } else {
        std::cout << "\n";
        for (const auto& l : module_summary_lines(summary, acc)) std::cout << l << "\n";
        for (const auto& l : not_traced_lines(source.hooks().outcomes())) std::cout << l << "\n";
        std::cout.flush();
    }
    return ExitCode::ok;
}

}  // namespace nfsleuth
