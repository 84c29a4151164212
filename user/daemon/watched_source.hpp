// SPDX-License-Identifier: GPL-2.0-only
// The tracers `watch` runs, each behind one small interface so that the
// daemon composes them alike: its banner clause, its hooks and programs,
// its accounting, its place in the event loop, its part of the summary.
#pragma once
#include <bpf/libbpf.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "activations/activation_source.hpp"
#include "common/event_loop.hpp"
#include "conntrack/pressure.hpp"
#include "creations/creation_source.hpp"
#include "daemon/daemon_output.hpp"
#include "daemon/metrics.hpp"
#include "drops/drop_output.hpp"
#include "drops/drop_source.hpp"
#include "kernel/hooks.hpp"
#include "kernel/netns_broker.hpp"
#include "modules/module_output.hpp"
#include "modules/module_source.hpp"
#include "process/process_enricher.hpp"

namespace nfsleuth {

// A source's events seen, delivered, and lost by reason, as the metrics
// nfsleuth_events_{seen,delivered,lost}_total publish them.
struct SourceAccounting {
    std::string source;
    uint64_t seen = 0;
    uint64_t delivered = 0;
    std::vector<std::pair<std::string, uint64_t>> lost;  // reason, count
};

class WatchedSource {
public:
    virtual ~WatchedSource() = default;
    // Its clause of the start banner, e.g. "module events: ...".
    virtual std::string banner() const = 0;
    // How each of its hooks is traced, or why not.
    virtual std::vector<HookOutcome> hook_outcomes() const = 0;
    virtual std::vector<bpf_program*> programs() const = 0;
    // Nothing for a source that does not run on this kernel.
    virtual std::optional<SourceAccounting> accounting() const = 0;
    // Has the loop read its events (and run its timers), `flush` after each batch.
    virtual void start(EventLoop& loop, const std::function<void()>& flush) = 0;
    // Detaches, then delivers what is still waiting.
    virtual void finish() = 0;
    // Its key in the exit summary; its value there (null when it does not
    // run), appending its lines of the human summary to `lines`.
    virtual const char* summary_key() const = 0;
    virtual nlohmann::ordered_json summarize(std::vector<std::string>& lines) = 0;
};

// The samples of the gauge nfsleuth_hook_attached{hook, method}: 1 for a
// hook attached with that method (tp_btf, fentry, ...), 0 for one given up
// (method "none" when no candidate was usable).
std::vector<MetricsRegistry::Sample> hook_attached_samples(const std::vector<HookOutcome>& outcomes);

// The label a namespace goes by in metrics: its name, or its inode.
std::string netns_label(const std::optional<std::string>& name, uint32_t inode);

// Counts `count` in a per-container family, labelled `labels` then pod and
// container, when the cgroup is a container's.
void add_container_count(MetricsRegistry& metrics, const std::string& family, MetricsRegistry::Labels labels,
                         const std::optional<CgroupIdentity>& cgroup, double count);

// Conntrack drops: every drop counted, each flow's first reported at once.
class WatchedDrops : public WatchedSource {
public:
    WatchedDrops(const CommonOptions& options, const DropOptions& drop_options, KernelProbe& probe,
                 CgroupResolver& cgroups, BrokerClient& netns, DaemonOutput& out, MetricsRegistry& metrics);
    DropSource& source() { return source_; }
    const DropSource& source() const { return source_; }

    std::string banner() const override;
    std::vector<HookOutcome> hook_outcomes() const override { return source_.hook_outcomes(); }
    std::vector<bpf_program*> programs() const override { return source_.programs(); }
    std::optional<SourceAccounting> accounting() const override;
    void start(EventLoop& loop, const std::function<void()>& flush) override;
    void finish() override;
    const char* summary_key() const override { return "drops"; }
    nlohmann::ordered_json summarize(std::vector<std::string>& lines) override;
    // Drops folded into an aggregate rather than reported by their own record.
    uint64_t folded() const;

private:
    // --pcap: nfsleuth_pcap_packets_total{outcome}, mirrored from the counts.
    void publish_capture();

    BrokerClient& netns_;
    DaemonOutput& out_;
    MetricsRegistry& metrics_;
    std::chrono::milliseconds interval_;
    DropSummary summary_;
    uint64_t first_drop_records_ = 0;
    DropSource source_;
};

// A tracer some kernels cannot run: its source when it runs, else the hooks
// it gave up.
template <class Source>
class OptionalWatchedSource : public WatchedSource {
public:
    explicit OptionalWatchedSource(const char* key) : key_(key) {}
    const char* summary_key() const override { return key_; }
    void finish() override {
        if (!source_) return;
        source_->detach();
        source_->drain();
        deliver_rest();
    }
    std::vector<HookOutcome> hook_outcomes() const override {
        return source_ ? source_->hooks().outcomes() : given_up_;
    }
    std::vector<bpf_program*> programs() const override {
        return source_ ? source_->hooks().programs() : std::vector<bpf_program*>{};
    }
    // Ring-buffer sources: events lost when it was full, or malformed.
    std::optional<SourceAccounting> accounting() const override {
        if (!source_) return std::nullopt;
        auto a = source_->accounting();
        return SourceAccounting{summary_key(), a.seen, a.delivered, {{"ring_buffer_full", a.lost}, {"malformed", a.malformed}}};
    }

protected:
    // After the last drain: hands out what the source still holds back.
    virtual void deliver_rest() {}

    std::unique_ptr<Source> source_;
    std::vector<HookOutcome> given_up_;

private:
    const char* key_;  // in the summary, and the accounting's source label
};

// Who loads kernel modules; absent on a kernel without loadable modules.
class WatchedModules : public OptionalWatchedSource<ModuleSource> {
public:
    WatchedModules(const CommonOptions& options, KernelProbe& probe, CgroupResolver& cgroups, DaemonOutput& out,
                   MetricsRegistry& metrics);
    // The source (in the base) goes first: its sink fills summary_.
    ~WatchedModules() override { source_.reset(); }

    std::string banner() const override;
    void start(EventLoop& loop, const std::function<void()>& flush) override;
    nlohmann::ordered_json summarize(std::vector<std::string>& lines) override;

private:
    ModuleSummary summary_;
};

// Who turns conntrack on in a namespace; absent where the kernel offers no
// way to see it (its hooks then reported as given up).
class WatchedActivations : public OptionalWatchedSource<ActivationSource> {
public:
    WatchedActivations(const CommonOptions& options, KernelProbe& probe, CgroupResolver& cgroups, BrokerClient& netns,
                       DaemonOutput& out, MetricsRegistry& metrics);

    std::string banner() const override;
    void start(EventLoop& loop, const std::function<void()>& flush) override;
    nlohmann::ordered_json summarize(std::vector<std::string>& lines) override;

private:
    void deliver_rest() override { source_->complete(true); }
    std::string unsupported_;  // why there is no source
};

// Who creates conntrack entries, counted only while a namespace's table is
// at least --arm-at full: the fill samples arm and disarm it here.
class WatchedCreations : public WatchedSource {
public:
    WatchedCreations(const CommonOptions& options, KernelProbe& probe, const CausePlan& plan,
                     const DropOptions& drop_options, BrokerClient& netns);
    CreationSource& source() { return source_; }
    const FillArming& arming() const { return arming_; }
    // Arms and disarms namespaces from a fill sample; returns the changes.
    std::vector<ArmingChange> observe(const std::vector<FillSample>& fills);
    // The timer draining netlink subscriptions (start()), paused while none is open.
    std::optional<int> netlink_drain() const { return netlink_drain_; }

    std::string banner() const override;
    std::vector<HookOutcome> hook_outcomes() const override { return source_.hook_outcomes(); }
    std::vector<bpf_program*> programs() const override { return source_.programs(); }
    std::optional<SourceAccounting> accounting() const override;
    void start(EventLoop& loop, const std::function<void()>& flush) override;
    void finish() override { source_.detach(); }
    const char* summary_key() const override { return "creations"; }
    nlohmann::ordered_json summarize(std::vector<std::string>& lines) override;

private:
    CreationSource source_;
    FillArming arming_;
    uint64_t episodes_ = 0;  // times a namespace was armed
    bool follows_module_;    // the allocation hook follows nf_conntrack
    std::optional<int> netlink_drain_;
};

}  // namespace nfsleuth
