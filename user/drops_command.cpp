// SPDX-License-Identifier: GPL-2.0-only
#include "drops_command.hpp"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include <algorithm>
#include <chrono>
#include <fstream>
#include <iostream>
#include <iterator>
#include <map>
#include <sstream>
#include <unordered_map>

#include "bpf_support.hpp"
#include "cgroups.hpp"
#include "clock.hpp"
#include "ct_stat.hpp"
#include "drop_aggregator.hpp"
#include "drop_output.hpp"
#include "drops.skel.h"
#include "event_loop.hpp"
#include "hooks.hpp"
#include "json_line.hpp"
#include "kernel_probe.hpp"
#include "netns.hpp"
#include "percpu_layout.hpp"
#include "text.hpp"

namespace nfsleuth {

namespace {

// Loads the drop programs of the chosen hooks, seeds their view of the
// conntrack counters, and attaches them.
class DropTracer {
public:
    DropTracer(const CommonOptions& options, const DropOptions& drop_options, KernelProbe& probe)
        : skel_(options.btf),
          cause_backend_(choose_cause_backend(probe, parse_backend(options.backend))),
          hooks_(skel_->obj, hook_specs(cause_backend_), probe, cause_backend_) {
        int ncpu = libbpf_num_possible_cpus();
        skel_->rodata->nr_cpus = ncpu > 0 ? static_cast<uint32_t>(ncpu) : 1;
        skel_->rodata->backend_id = !cause_backend_ ? 3 : *cause_backend_ == Backend::fentry ? 1 : 2;
        skel_->rodata->cause_from_hooks = cause_backend_.has_value();
        if (auto layout = find_percpu_layout(probe.kernel_btf()); layout && layout->complete()) {
            skel_->rodata->pcpu_runqueues = layout->runqueues;
            skel_->rodata->pcpu_this_cpu_off = layout->this_cpu_off;
            skel_->rodata->pcpu_preempt_count = layout->preempt_count;
        } else {
            std::cerr << "nfsleuth: warning: the kernel's BTF has no per-CPU layout; drops without a conntrack entry "
                         "will be reported with cause unknown\n";
        }
        bpf_map__set_max_entries(skel_->maps.drop_aggregates, drop_options.max_flows);
        if (int err = skel_.load(); err) {
            throw Failure(ExitCode::unsupported, "the kernel refused nfsleuth's drop programs: " + describe_errno(err),
                          "run with -v to see the verifier log, and `nfsleuth doctor`");
        }
        prime_counters();
        hooks_.attach();
    }

    // "fentry" or "kprobe" when conntrack's functions give the causes,
    // "tracepoint" when its statistics do.
    std::string backend() const { return cause_backend_ ? to_string(*cause_backend_) : "tracepoint"; }
    int events_fd() const { return bpf_map__fd(skel_->maps.drop_events); }
    uint64_t counter(uint32_t which) const {
        return sum_percpu_counter(bpf_map__fd(skel_->maps.drop_counters), which);
    }
    const HookSelection& hooks() const { return hooks_; }
    void detach() { hooks_.detach(); }
    // Conntrack drop counter totals per namespace when tracing started.
    const std::map<uint64_t, uint64_t>& start_drops() const { return start_drops_; }

    std::vector<DropAggregator::MapEntry> read_aggregates() const {
        std::vector<DropAggregator::MapEntry> out;
        int fd = bpf_map__fd(skel_->maps.drop_aggregates);
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

private:
    static std::vector<HookSpec> hook_specs(std::optional<Backend> cause_backend) {
        std::vector<HookSpec> specs = drop_hooks();
        if (cause_backend) specs.insert(specs.end(), drop_cause_hooks().begin(), drop_cause_hooks().end());
        return specs;
    }

    // The programs classify a drop by the conntrack counters moving since
    // the last drop they saw; start them from the counters' current values.
    void prime_counters() {
        int fd = bpf_map__fd(skel_->maps.ct_stat_seen);
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
    }

    Skeleton<drops_bpf> skel_;
    std::optional<Backend> cause_backend_;
    HookSelection hooks_;  // its links go before skel_: declared after it
    std::map<uint64_t, uint64_t> start_drops_;
};

// Namespace names and process command lines, looked up lazily and cached.
class DropEnricher {
public:
    std::optional<std::string> netns_name(uint32_t inode) {
        auto it = netns_.find(inode);
        if (it != netns_.end()) return it->second;
        auto now = std::chrono::steady_clock::now();
        if (now - last_scan_ > std::chrono::seconds(1)) {
            last_scan_ = now;
            for (const auto& ns : list_network_namespaces()) netns_[static_cast<uint32_t>(ns.inode)] = ns.name;
            it = netns_.find(inode);
            if (it != netns_.end()) return it->second;
        }
        return std::nullopt;
    }

    std::optional<std::string> cmdline(uint32_t pid) {
        if (auto it = cmdlines_.find(pid); it != cmdlines_.end()) return it->second;
        std::ifstream in("/proc/" + std::to_string(pid) + "/cmdline");
        std::string block((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
        if (block.empty()) return std::nullopt;  // gone, or a kernel thread
        if (cmdlines_.size() > 4096) cmdlines_.clear();
        return cmdlines_[pid] = join_args(split_args(block));
    }

    std::optional<std::string> cgroup(uint64_t id) { return cgroups_.lookup(id); }

private:
    std::unordered_map<uint32_t, std::string> netns_;
    std::chrono::steady_clock::time_point last_scan_{};
    std::unordered_map<uint32_t, std::string> cmdlines_;
    CgroupPaths cgroups_;
};

bool matches_filter(const CommonOptions& o, const DropRecord& r) {
    if (o.pid && r.origin.pid != o.pid) return false;
    if (o.comm && (!r.origin.pid || r.origin.comm != *o.comm)) return false;
    return true;
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

}  // namespace

ExitCode run_drops(const CommonOptions& options, const DropOptions& drop_options) {
    require_tracing_privileges();
    if (conntrack_state() == ModuleState::absent) {
        std::cerr << "nfsleuth: note: nf_conntrack is not loaded: conntrack cannot drop anything until it is; rule "
                     "drops are still reported\n";
    }
    KernelProbe probe(options.btf);
    DropTracer tracer(options, drop_options, probe);
    const std::string backend = tracer.backend();

    BootClock clock;
    DropEnricher enrich;
    DropAggregator aggregator;
    DropSummary summary;
    uint64_t malformed = 0;

    auto emit = [&](const DropRecord& r) {
        if (!matches_filter(options, r)) return;
        DropContext c{clock.rfc3339(r.ts_boot_ns), backend, enrich.netns_name(r.key.netns), std::nullopt, std::nullopt};
        if (r.origin.pid) {
            c.cmdline = enrich.cmdline(*r.origin.pid);
            c.cgroup = enrich.cgroup(r.origin.cgroup_id);
        }
        summary.add(r);
        std::cout << (options.json ? json_line(to_json(r, c)) : to_human_line(r, c)) << '\n';
    };
    auto accounting = [&] {
        DropAccounting acc;
        acc.seen = tracer.counter(NFS_DROP_CNT_SEEN);
        acc.reported = aggregator.reported();
        acc.lost_records = tracer.counter(NFS_DROP_CNT_LOST);
        acc.unaggregated = tracer.counter(NFS_DROP_CNT_NO_AGGREGATE);
        return acc;
    };
    auto print_summary = [&] {
        auto fill = namespace_fill(summary.namespaces(), tracer.start_drops());
        if (options.json) {
            auto j = summary.to_json(fill, accounting());
            j["malformed_records"] = malformed;
            std::cout << json_line(j) << '\n';
        } else {
            for (const auto& line : summary.human_lines(fill, accounting())) std::cout << line << '\n';
        }
    };
    auto sweep = [&] {
        for (const auto& r : aggregator.on_sweep(tracer.read_aggregates())) emit(r);
    };

    RingBuffer ring(tracer.events_fd(), [&](const void* data, std::size_t size) {
        auto d = decode_first_drop(data, size);
        if (!d) {
            ++malformed;
            return;
        }
        if (auto r = aggregator.on_first_drop(*d)) emit(*r);
    });
    EventLoop loop(options.duration());
    loop.watch(ring.epoll_fd(), [&] {
        ring.drain();
        std::cout.flush();
    });
    loop.every(std::chrono::milliseconds(static_cast<int64_t>(drop_options.interval_s * 1000)), [&] {
        ring.drain();
        sweep();
        if (drop_options.top) print_summary();
        std::cout.flush();
    });

    std::cerr << tracer.hooks().banner("conntrack drops", backend, options.duration_s.has_value()) << std::endl;

    loop.run();
    // Detach first so the counts stop moving, then collect what is left.
    tracer.detach();
    ring.drain();
    sweep();
    if (!options.json) std::cout << '\n';
    print_summary();
    std::cout.flush();
    return ExitCode::ok;
}

}  // namespace nfsleuth
