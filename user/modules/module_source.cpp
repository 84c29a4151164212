// SPDX-License-Identifier: GPL-2.0-only
#include "modules/module_source.hpp"

#include <bpf/libbpf.h>

#include "kernel/module_state.hpp"
#include "modules.skel.h"

namespace nfsleuth {

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

struct ModuleSource::Programs {
    Skeleton<modules_bpf> skel;
    HookSelection hooks;  // its links go before skel: declared after it

    Programs(const CommonOptions& options, KernelProbe& probe) : skel(options.btf), hooks(select(skel->obj, options, probe)) {
        hooks.load(skel, "module programs");
    }

    static HookSelection select(bpf_object* obj, const CommonOptions& options, KernelProbe& probe) {
        // Module events exist only as tracepoints: --backend applies here
        // only when it asks for tracepoints.
        std::optional<Backend> forced = parse_backend(options.backend);
        if (forced != Backend::tracepoint) forced.reset();
        return HookSelection(obj, module_hooks(), probe, forced);
    }
};

ModuleSource::ModuleSource(const CommonOptions& options, KernelProbe& probe, CgroupResolver& cgroups, Sink sink)
    : programs_(std::make_unique<Programs>(options, probe)), sink_(std::move(sink)), cgroups_(cgroups) {
    ring_ = std::make_unique<RingBuffer>(bpf_map__fd(programs_->skel->maps.module_events),
                                         [this](const void* data, std::size_t size) { on_record(data, size); });
    programs_->hooks.attach();
}

ModuleSource::~ModuleSource() = default;

const HookSelection& ModuleSource::hooks() const { return programs_->hooks; }

void ModuleSource::detach() { programs_->hooks.detach(); }

ModuleAccounting ModuleSource::accounting() const {
    int fd = bpf_map__fd(programs_->skel->maps.module_counters);
    return {sum_percpu_counter(fd, NFS_MOD_CNT_SEEN), delivered_, sum_percpu_counter(fd, NFS_MOD_CNT_LOST),
            malformed_};
}

void ModuleSource::on_record(const void* data, std::size_t size) {
    auto ev = decode_module_event(data, size);
    if (!ev) {
        ++malformed_;
        return;
    }
    ++delivered_;
    ModuleRecord r;
    r.trigger = correlator_.observe(*ev);
    if (!ev->kstack.empty()) {
        for (uint64_t addr : ev->kstack) r.kstack.push_back(symbols_.resolve(addr));
    }
    r.cgroup = cgroups_.lookup(ev->proc.cgroup_id);
    r.ts = clock_.rfc3339(ev->ts_boot_ns);
    r.backend = "tracepoint";
    r.event = std::move(*ev);
    sink_(r);
}

}  // namespace nfsleuth
