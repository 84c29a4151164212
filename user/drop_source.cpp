// SPDX-License-Identifier: GPL-2.0-only
#include "drop_source.hpp"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include <algorithm>
#include <fstream>
#include <iostream>
#include <iterator>

#include "ct_stat.hpp"
#include "drops.skel.h"
#include "netns.hpp"
#include "percpu_layout.hpp"
#include "text.hpp"

namespace nfsleuth {

std::optional<std::string> ProcessEnricher::netns_name(uint32_t inode) {
    auto it = netns_.find(inode);
    if (it != netns_.end()) return it->second;
    auto now = std::chrono::steady_clock::now();
    if (now - last_scan_ > std::chrono::seconds(1)) {
        last_scan_ = now;
        if (netns_.size() > 4096) netns_.clear();
        for (const auto& ns : list_network_namespaces()) netns_[static_cast<uint32_t>(ns.inode)] = ns.name;
        it = netns_.find(inode);
        if (it != netns_.end()) return it->second;
    }
    return std::nullopt;
}

std::optional<std::string> ProcessEnricher::cmdline(uint32_t pid) {
    if (auto it = cmdlines_.find(pid); it != cmdlines_.end()) return it->second;
    std::ifstream in("/proc/" + std::to_string(pid) + "/cmdline");
    std::string block((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    if (block.empty()) return std::nullopt;  // gone, or a kernel thread
    if (cmdlines_.size() > 4096) cmdlines_.clear();
    return cmdlines_[pid] = join_args(split_args(block));
}

// The loaded and attached drop programs.
struct DropSource::Programs {
    Skeleton<drops_bpf> skel;
    HookSelection hooks;  // its links go before skel: declared after it

    Programs(const CommonOptions& options, std::optional<Backend> cause_backend, KernelProbe& probe)
        : skel(options.btf), hooks(skel->obj, hook_specs(cause_backend), probe, cause_backend) {}

    static std::vector<HookSpec> hook_specs(std::optional<Backend> cause_backend) {
        std::vector<HookSpec> specs = drop_hooks();
        if (cause_backend) specs.insert(specs.end(), drop_cause_hooks().begin(), drop_cause_hooks().end());
        return specs;
    }

    std::vector<DropAggregator::MapEntry> read_aggregates() const {
        std::vector<DropAggregator::MapEntry> out;
        int fd = bpf_map__fd(skel->maps.drop_aggregates);
        nfs_drop_key key{};
        nfs_drop_key next{};
        const void* prev = nullptr;
        while (bpf_map_get_next_key(fd, prev, &next) == 0) {
            DropAggregator::MapEntry e{next, {}};
            if (bpf_map_lookup_elem(fd, &next, &e.value) == 0) out.push_back(e);
            key = next;
            prev = &key;
        }
        return out;
    }

    uint64_t counter(uint32_t which) const {
        return sum_percpu_counter(bpf_map__fd(skel->maps.drop_counters), which);
    }
};

DropSource::DropSource(const CommonOptions& options, const DropOptions& drop_options, KernelProbe& probe, Sink sink)
    : cause_backend_(choose_cause_backend(probe, parse_backend(options.backend))), sink_(std::move(sink)) {
    programs_ = std::make_unique<Programs>(options, cause_backend_, probe);
    auto& skel = programs_->skel;
    int ncpu = libbpf_num_possible_cpus();
    skel->rodata->nr_cpus = ncpu > 0 ? static_cast<uint32_t>(ncpu) : 1;
    skel->rodata->backend_id = !cause_backend_ ? 3 : *cause_backend_ == Backend::fentry ? 1 : 2;
    skel->rodata->cause_from_hooks = cause_backend_.has_value();
    if (!apply_percpu_layout(skel->rodata, probe.kernel_btf())) {
        std::cerr << "nfsleuth: warning: the kernel's BTF has no per-CPU layout; drops without a conntrack entry "
                     "will be reported with cause unknown\n";
    }
    bpf_map__set_max_entries(skel->maps.drop_aggregates, drop_options.max_flows);
    if (int err = skel.load(); err) {
        throw Failure(ExitCode::unsupported, "the kernel refused nfsleuth's drop programs: " + describe_errno(err),
                      "run with -v to see the verifier log, and `nfsleuth doctor`");
    }
    // The programs classify a drop by the conntrack counters moving since
    // the last drop they saw; start them from the counters' current values.
    int fd = bpf_map__fd(skel->maps.ct_stat_seen);
    for (const auto& ns : list_network_namespaces()) {
        auto stats = read_ct_stat(ns.path);
        if (!stats) continue;
        start_drops_[ns.inode] = total(*stats).drop;
        for (const auto& s : *stats) {
            nfs_ct_stat_key k{static_cast<uint32_t>(ns.inode), s.cpu};
            nfs_ct_stat_seen v{s.drop, s.invalid, s.insert_failed, s.early_drop};
            bpf_map_update_elem(fd, &k, &v, BPF_ANY);
        }
    }
    ring_ = std::make_unique<RingBuffer>(bpf_map__fd(skel->maps.drop_events), [this](const void* data, std::size_t size) {
        auto d = decode_first_drop(data, size);
        if (!d) {
            ++malformed_;
            return;
        }
        if (auto r = aggregator_.on_first_drop(*d)) emit(*r);
    });
    programs_->hooks.attach();
}

DropSource::~DropSource() = default;

std::string DropSource::backend() const { return cause_backend_ ? to_string(*cause_backend_) : "tracepoint"; }

const HookSelection& DropSource::hooks() const { return programs_->hooks; }

void DropSource::sweep() {
    for (const auto& r : aggregator_.on_sweep(programs_->read_aggregates())) emit(r);
}

void DropSource::detach() { programs_->hooks.detach(); }

DropAccounting DropSource::accounting() const {
    DropAccounting acc;
    acc.seen = programs_->counter(NFS_DROP_CNT_SEEN);
    acc.reported = aggregator_.reported();
    acc.lost_records = programs_->counter(NFS_DROP_CNT_LOST);
    acc.unaggregated = programs_->counter(NFS_DROP_CNT_NO_AGGREGATE);
    return acc;
}

void DropSource::emit(const DropRecord& r) {
    DropContext c{clock_.rfc3339(r.ts_boot_ns), backend(), enrich_.netns_name(r.key.netns), std::nullopt,
                  std::nullopt};
    if (r.origin.pid) {
        c.cmdline = enrich_.cmdline(*r.origin.pid);
        c.cgroup = enrich_.cgroup(r.origin.cgroup_id);
    }
    sink_(r, c);
}

std::map<uint32_t, NetnsFill> namespace_fill(const std::vector<uint32_t>& wanted,
                                             const std::map<uint64_t, uint64_t>& start_drops) {
    std::map<uint32_t, NetnsFill> fill;
    for (const auto& ns : list_network_namespaces()) {
        auto inode = static_cast<uint32_t>(ns.inode);
        if (std::find(wanted.begin(), wanted.end(), inode) == wanted.end()) continue;
        NetnsFill f{ns.name, std::nullopt, std::nullopt, std::nullopt};
        // Only the namespaces with drops are entered, each once.
        run_in_netns(ns.path, [&] {
            f.count = read_number_file("/proc/sys/net/netfilter/nf_conntrack_count");
            f.max = read_number_file("/proc/sys/net/netfilter/nf_conntrack_max");
            if (auto stats = read_ct_stat_here()) {
                auto start = start_drops.find(ns.inode);
                f.kernel_drops = total(*stats).drop - (start == start_drops.end() ? 0 : start->second);
            }
        });
        fill[inode] = f;
    }
    return fill;
}

}  // namespace nfsleuth
