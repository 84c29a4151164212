// SPDX-License-Identifier: GPL-2.0-only
// The activation programs as a source of ct_activate records: chooses and
// attaches the hook, decodes the ring buffer, and completes each event with
// the namespace's name and the rules that needed conntrack there, read once
// the change that caused it has settled.
#pragma once
#include <chrono>
#include <deque>
#include <functional>
#include <map>
#include <memory>

#include "activations/activation_output.hpp"
#include "cli/cli.hpp"
#include "common/clock.hpp"
#include "conntrack/namespace_rules.hpp"
#include "kernel/bpf_support.hpp"
#include "process/cgroup_identity.hpp"
#include "kernel/hooks.hpp"
#include "kernel/kallsyms.hpp"
#include "kernel/kernel_probe.hpp"
#include "kernel/netns_access.hpp"

namespace nfsleuth {

struct ActivationAccounting {
    uint64_t seen = 0;           // events the programs produced
    uint64_t delivered = 0;      // records decoded here
    uint64_t lost = 0;           // ring buffer full
    uint64_t malformed = 0;
    uint64_t not_conntrack = 0;  // registrations at conntrack's priority of another hook
    uint64_t reported = 0;       // ct_activate records handed to the sink (one per family)
};

class ActivationSource {
public:
    using Sink = std::function<void(const ActivationRecord&)>;
    // Throws Failure(unsupported) when no way to see activations exists here.
    // Namespaces are entered through `netns`, cgroups named through
    // `cgroups`; both must outlive this.
    ActivationSource(const CommonOptions& options, KernelProbe& probe, CgroupResolver& cgroups, Sink sink,
                     NetnsAccess& netns = in_process_netns());
    ~ActivationSource();

    const HookSelection& hooks() const;
    // "nf_register_net_hook (fentry)" or "nfnetlink sends (tracepoint)".
    std::string method() const;
    int epoll_fd() const { return ring_->epoll_fd(); }
    void drain() { ring_->drain(); }
    // Hands out the events that have settled (all of them when `all`).
    void complete(bool all = false);
    void detach();
    ActivationAccounting accounting() const;

private:
    void on_record(const void* data, std::size_t size);
    void announce_namespaces();

    struct Pending {
        std::chrono::steady_clock::time_point seen;
        ActivationEvent event;
        std::optional<std::string> hook;
    };

    Sink sink_;
    NetnsAccess& netns_;
    BootClock clock_;
    CgroupResolver& cgroups_;
    RunningKernelSymbols symbols_;  // before programs_: they read addresses from it
    std::map<uint64_t, std::string> conntrack_hooks_;  // address -> name of conntrack's hook functions
    struct Programs;
    std::unique_ptr<Programs> programs_;
    std::deque<Pending> pending_;
    uint64_t delivered_ = 0;
    uint64_t malformed_ = 0;
    uint64_t not_conntrack_ = 0;
    uint64_t reported_ = 0;
    std::unique_ptr<RingBuffer> ring_;
};

}  // namespace nfsleuth
