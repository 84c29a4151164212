// SPDX-License-Identifier: GPL-2.0-only
// The module programs as a source of attributed module records: loads and
// attaches them, decodes their ring buffer, links loads to the request that
// caused them. Used by `modules` and `watch`.
#pragma once
#include <functional>
#include <memory>
#include <optional>

#include "cli/cli.hpp"
#include "common/clock.hpp"
#include "kernel/bpf_support.hpp"
#include "process/cgroup_identity.hpp"
#include "kernel/hooks.hpp"
#include "kernel/kallsyms.hpp"
#include "kernel/kernel_probe.hpp"
#include "modules/module_correlator.hpp"
#include "modules/module_output.hpp"

namespace nfsleuth {

// Throws Failure(unsupported) explaining why on a kernel without loadable
// modules.
void require_module_support();

class ModuleSource {
public:
    using Sink = std::function<void(const ModuleRecord&)>;
    // Cgroups are named through `cgroups`, which must outlive this.
    ModuleSource(const CommonOptions& options, KernelProbe& probe, CgroupResolver& cgroups, Sink sink);
    ~ModuleSource();

    const HookSelection& hooks() const;
    int epoll_fd() const { return ring_->epoll_fd(); }
    void drain() { ring_->drain(); }
    void detach();
    ModuleAccounting accounting() const;

private:
    void on_record(const void* data, std::size_t size);

    struct Programs;
    std::unique_ptr<Programs> programs_;
    Sink sink_;
    BootClock clock_;
    CgroupResolver& cgroups_;
    RunningKernelSymbols symbols_;
    ModuleCorrelator correlator_;
    uint64_t delivered_ = 0;
    uint64_t malformed_ = 0;
    std::unique_ptr<RingBuffer> ring_;
};

}  // namespace nfsleuth
