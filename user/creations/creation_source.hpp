// SPDX-License-Identifier: GPL-2.0-only
// Conntrack entry creations, per creator and destination: counted in the
// kernel at allocation where conntrack's functions can be hooked, otherwise
// read from conntrack netlink events and joined to the process the BPF side
// saw sending each entry's first packet.
#pragma once
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "cli/cli.hpp"
#include "conntrack/pressure.hpp"
#include "kernel/hooks.hpp"
#include "kernel/kernel_probe.hpp"
#include "kernel/kprobe_events.hpp"
#include "kernel/netns.hpp"

namespace nfsleuth {

struct CreationAccounting {
    uint64_t seen = 0;          // creations observed (allocations, or netlink NEW events)
    uint64_t reported = 0;      // creations handed out by collect()
    uint64_t attributed = 0;    // of those, with a process
    uint64_t lost = 0;          // netlink events the kernel dropped (receive buffer overruns; a count of bursts)
    uint64_t unaggregated = 0;  // allocations counted but not kept per creator in the kernel
};

// The hooks of the creation programs for a cause plan (none of their own
// where the allocation hook follows nf_conntrack).
std::vector<HookSpec> creation_hooks(const CausePlan& plan);

class CreationSource {
public:
    // plan: how the drop hooks know causes; where they hook conntrack's
    // functions (fentry or kprobe, or kprobes following the nf_conntrack
    // module) the allocation is hooked too, otherwise netlink events are read.
    // Netlink subscriptions are opened through `netns`, the kprobe following
    // nf_conntrack gets its perf event from `kprobes`; both must outlive this.
    CreationSource(const CommonOptions& options, KernelProbe& probe, const CausePlan& plan, uint32_t max_creators,
                   NetnsAccess& netns = in_process_netns(), KprobeEvents& kprobes = in_process_kprobes());
    ~CreationSource();

    // "allocation (fentry)", "allocation (kprobe)" or "netlink".
    std::string method() const;
    const HookSelection& hooks() const;
    // Every hook of the source, the one following nf_conntrack too.
    std::vector<HookOutcome> hook_outcomes() const;
    // Reads the netlink events that wait (the allocation path needs none).
    void drain();
    // Counts the creations of these namespaces only (their tables are under
    // pressure), and none while the list is empty: the hooks that run per
    // new connection are attached, and the netlink subscriptions opened,
    // only while some namespace is armed. Returns what changed in the hook
    // following nf_conntrack, as follow_conntrack() does.
    std::optional<std::string> track(const std::vector<NetnsInfo>& armed);
    // Creations since the last call, one per (netns, creator, destination).
    std::vector<Creation> collect();
    CreationAccounting accounting() const;
    void detach();
    // Following nf_conntrack: attaches the allocation hook when it loads
    // (while tracking), detaches it when it goes. Returns what changed.
    std::optional<std::string> follow_conntrack();
    // Every attached program.
    std::vector<bpf_program*> programs() const;
    // Whether following new namespaces needs CAP_NET_ADMIN.
    bool uses_netlink() const;
    // Netlink: nf_conntrack_netlink is not loaded yet, so nothing is read.
    bool waiting_for_module() const;

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

}  // namespace nfsleuth
