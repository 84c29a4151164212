// SPDX-License-Identifier: GPL-2.0-only
#include "modules_command.hpp"

#include <bpf/libbpf.h>

#include <chrono>
#include <cstdio>
#include <iostream>

#include "bpf_support.hpp"
#include "cgroups.hpp"
#include "clock.hpp"
#include "event_loop.hpp"
#include "hooks.hpp"
#include "json_line.hpp"
#include "kallsyms.hpp"
#include "kernel_probe.hpp"
#include "module_correlator.hpp"
#include "module_output.hpp"
#include "modules.skel.h"

namespace nfsleuth {

namespace {

void require_module_support() {
    if (KernelProbe::modules_supported()) return;
    std::string what =
        "this kernel has no loadable-module support (CONFIG_MODULES is not set), so nothing can be autoloaded here";
    switch (conntrack_state()) {
        case ModuleState::builtin: what += "; nf_conntrack is built in"; break;
        case ModuleState::absent: what += "; nf_conntrack is not part of this kernel"; break;
        case ModuleState::loaded: break;
    }
    throw Failure(ExitCode::unsupported, what,
                  "use `nfsleuth doctor` to see conntrack per network namespace; module tracing needs a kernel built "
                  "with CONFIG_MODULES");
}

// Loads the module programs of the chosen hooks and attaches them.
class ModuleTracer {
public:
    ModuleTracer(const CommonOptions& options, KernelProbe& probe)
        : skel_(options.btf), hooks_(select(skel_->obj, options, probe)) {
        if (int err = skel_.load(); err) {
            throw Failure(ExitCode::unsupported, "the kernel refused nfsleuth's module programs: " + describe_errno(err),
                          "run with -v to see the verifier log, and `nfsleuth doctor`");
        }
        hooks_.attach();
    }

    int events_fd() const { return bpf_map__fd(skel_->maps.module_events); }
    uint64_t counter(nfs_module_counter which) const {
        return sum_percpu_counter(bpf_map__fd(skel_->maps.module_counters), which);
    }
    const HookSelection& hooks() const { return hooks_; }

private:
    static HookSelection select(bpf_object* obj, const CommonOptions& options, KernelProbe& probe) {
        std::optional<Backend> forced = parse_backend(options.backend);
        if (forced && *forced != Backend::tracepoint) {
            throw Failure(ExitCode::usage,
                          std::string("module events are only traced through tracepoints; --backend ") +
                              options.backend + " applies to conntrack hooks",
                          "use --backend auto or --backend tracepoint with `modules`");
        }
        return HookSelection(obj, module_hooks(), probe, forced);
    }

    Skeleton<modules_bpf> skel_;
    HookSelection hooks_;  // its links go before skel_: declared after it
};

bool matches_filter(const CommonOptions& o, const ModuleRecord& r) {
    const Process& p = r.event.proc;
    if (o.pid && p.pid != *o.pid && !(r.trigger && r.trigger->pid == *o.pid)) return false;
    if (o.comm && p.comm != *o.comm && !(r.trigger && r.trigger->comm == *o.comm)) return false;
    return true;
}

}  // namespace

ExitCode run_modules(const CommonOptions& options) {
    require_module_support();
    require_tracing_privileges();

    KernelProbe probe(options.btf);
    ModuleTracer tracer(options, probe);

    BootClock clock;
    CgroupPaths cgroups;
    std::optional<KernelSymbols> symbols;  // loaded at the first stack: costs ~100 ms
    ModuleCorrelator correlator;
    ModuleSummary summary;
    uint64_t decode_errors = 0;
    uint64_t delivered = 0;

    auto on_record = [&](const void* data, std::size_t size) {
        auto ev = decode_module_event(data, size);
        if (!ev) {
            ++decode_errors;
            return;
        }
        ++delivered;
        ModuleRecord r;
        r.trigger = correlator.observe(*ev);
        if (!ev->kstack.empty()) {
            if (!symbols) symbols = KernelSymbols::load_running_kernel();
            for (uint64_t addr : ev->kstack) r.kstack.push_back(symbols->resolve(addr));
        }
        r.cgroup_path = cgroups.lookup(ev->proc.cgroup_id);
        r.ts = clock.rfc3339(ev->ts_boot_ns);
        r.backend = "tracepoint";
        r.event = std::move(*ev);
        if (!matches_filter(options, r)) return;
        summary.add(r);
        if (options.json) {
            std::cout << json_line(to_json(r)) << std::endl;
        } else {
            std::cout << to_human_line(r) << std::endl;
        }
    };

    RingBuffer ring(tracer.events_fd(), on_record);
    EventLoop loop(options.duration());
    loop.watch(ring.epoll_fd(), [&] { ring.drain(); });

    std::cerr << tracer.hooks().banner("module events", tracer.hooks().backend(), options.duration_s.has_value())
              << std::endl;

    loop.run();
    ring.drain();

    uint64_t seen = tracer.counter(NFS_MOD_CNT_SEEN);
    uint64_t lost = tracer.counter(NFS_MOD_CNT_LOST);
    if (options.json) {
        nlohmann::ordered_json s = summary.to_json();
        s["type"] = "summary";
        s["events_seen"] = seen;
        s["events_delivered"] = delivered;
        s["events_lost"] = lost;
        s["decode_errors"] = decode_errors;
        std::cout << json_line(s) << std::endl;
    } else {
        std::cout << "\nModule loads by trigger:\n";
        auto lines = summary.human_lines();
        if (lines.empty()) std::cout << "  (none)\n";
        for (const auto& l : lines) std::cout << "  " << l << "\n";
        std::cout << "Events: " << seen << " seen, " << delivered << " delivered, " << lost
                  << " lost (ring buffer full)";
        if (decode_errors) std::cout << ", " << decode_errors << " malformed";
        std::cout << std::endl;
    }
    return ExitCode::ok;
}

}  // namespace nfsleuth
