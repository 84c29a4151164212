// SPDX-License-Identifier: GPL-2.0-only
#include "creations/creation_source.hpp"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <iostream>
#include <map>
#include <set>
#include <tuple>

#include "conntrack/ct_netlink.hpp"
#include "creations.h"
#include "creations.skel.h"
#include "drops/drop_event.hpp"
#include "kernel/bpf_support.hpp"
#include "kernel/percpu_layout.hpp"
#include "modules/module_hooks.hpp"

namespace nfsleuth {

namespace {

std::string destination_of(uint8_t family, uint8_t proto, const uint8_t* daddr, uint16_t dport) {
    nfs_flow raw{};
    raw.family = family;
    raw.proto = proto;
    std::memcpy(raw.daddr, daddr, sizeof raw.daddr);
    raw.dport = dport;
    raw.icmp_type = static_cast<uint8_t>(dport >> 8);
    raw.icmp_code = static_cast<uint8_t>(dport & 0xff);
    return format_destination(decode_flow(raw));
}

// The allocation hook's program for a backend.
const char* alloc_program(Backend b) { return b == Backend::fentry ? "fexit_creation_alloc" : "kretprobe_creation_alloc"; }

HookSpec alloc_hook(Backend b) {
    return {"ct_create",
            "entry allocations per creator",
            false,
            {{b == Backend::fentry ? Flavor::fentry : Flavor::kprobe, "__nf_conntrack_alloc", {alloc_program(b)}}}};
}

using CreatorKeyBytes = std::array<unsigned char, sizeof(nfs_creator_key)>;

}  // namespace

std::vector<HookSpec> creation_hooks(const CausePlan& plan) {
    // Following nf_conntrack, the allocation hook is attached by ModuleHooks.
    if (plan.follows_module) return {};
    if (plan.backend) return {alloc_hook(*plan.backend)};
    return {{"ct_first_packet", "the process sending a new entry's first packet", false,
             {{Flavor::tp_btf, "net_dev_queue", {"btf_net_dev_queue"}},
              {Flavor::raw_tp, "net_dev_queue", {"raw_net_dev_queue"}}},
             true}};
}

struct CreationSource::Impl {
    Skeleton<creations_bpf> skel;
    std::optional<Backend> alloc_backend;
    HookSelection hooks;  // its links go before skel: declared after it
    std::unique_ptr<CtEventSources> netlink;
    std::vector<CtCreation> pending;  // netlink events not yet joined to their owner
    uint64_t pending_overflow = 0;
    std::map<CreatorKeyBytes, uint64_t> reported_counts;  // allocation path: counts already handed out
    uint64_t netlink_seen = 0;
    uint64_t reported = 0;
    uint64_t attributed = 0;

    std::unique_ptr<ModuleHooks> module_alloc;  // the allocation hook following nf_conntrack
    bool follows_module = false;
    bool tracking = false;
    std::set<uint32_t> tracked;  // the namespaces whose creations are reported

    Impl(const CommonOptions& options, KernelProbe& probe, const CausePlan& plan)
        : skel(options.btf),
          alloc_backend(plan.backend),
          hooks(skel->obj, creation_hooks(plan), probe, std::nullopt),
          follows_module(plan.follows_module) {
        if (plan.follows_module)
            bpf_program__set_autoload(bpf_object__find_program_by_name(skel->obj, alloc_program(*plan.backend)), true);
    }

    uint64_t counter(uint32_t which) const {
        return sum_percpu_counter(bpf_map__fd(skel->maps.creation_counters), which);
    }

    std::vector<Creation> collect_allocations() {
        std::map<CreatorKeyBytes, uint64_t> now;
        std::vector<Creation> out;
        int fd = bpf_map__fd(skel->maps.ct_creators);
        nfs_creator_key key{}, next{};
        const void* prev = nullptr;
        while (bpf_map_get_next_key(fd, prev, &next) == 0) {
            nfs_creator_value v{};
            if (bpf_map_lookup_elem(fd, &next, &v) == 0) {
                CreatorKeyBytes bytes;
                std::memcpy(bytes.data(), &next, sizeof next);
                now[bytes] = v.count;
                // The hook counts every namespace while any is tracked.
                if (!tracked.count(next.netns_ino)) {
                    key = next;
                    prev = &key;
                    continue;
                }
                // A key the LRU evicted and created again starts from zero.
                auto old = reported_counts.find(bytes);
                uint64_t before = old != reported_counts.end() && old->second <= v.count ? old->second : 0;
                if (v.count > before) {
                    Creation c;
                    c.netns = next.netns_ino;
                    if (next.pid) {
                        c.pid = next.pid;
                        c.comm = std::string(v.comm, strnlen(v.comm, sizeof v.comm));
                    }
                    c.cgroup_id = next.cgroup_id;
                    c.destination = destination_of(next.family, next.proto, next.daddr, next.dport);
                    c.count = v.count - before;
                    out.push_back(std::move(c));
                }
            }
            key = next;
            prev = &key;
        }
        reported_counts = std::move(now);
        return out;
    }

    std::vector<Creation> collect_netlink() {
        int owners = bpf_map__fd(skel->maps.ct_owners);
        std::map<std::tuple<uint32_t, uint32_t, std::string, uint64_t, std::string>, Creation> merged;
        for (const auto& e : pending) {
            nfs_ct_tuple t{};
            t.netns_ino = e.netns_ino;
            t.zone = e.zone;
            t.family = e.family;
            t.proto = e.proto;
            std::memcpy(t.saddr, e.saddr.data(), sizeof t.saddr);
            std::memcpy(t.daddr, e.daddr.data(), sizeof t.daddr);
            t.sport = e.sport;
            t.dport = e.dport;
            Creation c;
            c.netns = e.netns_ino;
            c.destination = destination_of(e.family, e.proto, e.daddr.data(), e.dport);
            nfs_owner o{};
            if (bpf_map_lookup_and_delete_elem(owners, &t, &o) == 0 ||
                (bpf_map_lookup_elem(owners, &t, &o) == 0 && bpf_map_delete_elem(owners, &t) == 0)) {
                c.pid = o.pid;
                c.comm = std::string(o.comm, strnlen(o.comm, sizeof o.comm));
                c.cgroup_id = o.cgroup_id;
            }
            auto k = std::make_tuple(c.netns, c.pid.value_or(0), c.comm, c.cgroup_id, c.destination);
            auto [it, fresh] = merged.try_emplace(k, c);
            it->second.count += 1;
        }
        pending.clear();
        std::vector<Creation> out;
        for (auto& [k, c] : merged) out.push_back(std::move(c));
        return out;
    }
};

CreationSource::CreationSource(const CommonOptions& options, KernelProbe& probe, const CausePlan& plan,
                               uint32_t max_creators, NetnsAccess& netns, KprobeEvents& kprobes)
    : impl_(std::make_unique<Impl>(options, probe, plan)) {
    auto& skel = impl_->skel;
    apply_percpu_layout(skel->rodata, probe.kernel_btf());
    bpf_map__set_max_entries(skel->maps.ct_creators, max_creators);
    impl_->hooks.load(skel, "creation programs");
    if (!plan.backend) {
        impl_->netlink = std::make_unique<CtEventSources>(netns);
        // Subscribing where it matters most, once, so that a daemon that
        // could never subscribe fails now rather than under pressure.
        auto namespaces = list_network_namespaces();
        if (!namespaces.empty()) impl_->netlink->refresh({namespaces.front()});
        impl_->netlink->refresh({});
    }
    if (plan.follows_module) {
        bpf_program* p = bpf_object__find_program_by_name(skel->obj, alloc_program(*plan.backend));
        if (p && bpf_program__fd(p) >= 0)
            impl_->module_alloc =
                std::make_unique<ModuleHooks>("nf_conntrack", std::vector<bpf_program*>{p}, std::vector<bpf_program*>{}, kprobes);
    }
    // Attached once to find out now whether the kernel takes them, then
    // only while tracking.
    impl_->hooks.attach();
    impl_->hooks.detach();
}

CreationSource::~CreationSource() = default;

std::string CreationSource::method() const {
    if (impl_->module_alloc) return "allocation (kprobe, while nf_conntrack is loaded)";
    if (impl_->alloc_backend) return std::string("allocation (") + to_string(*impl_->alloc_backend) + ")";
    return "netlink";
}

const HookSelection& CreationSource::hooks() const { return impl_->hooks; }

std::vector<HookOutcome> CreationSource::hook_outcomes() const {
    std::vector<HookOutcome> out = impl_->hooks.outcomes();
    if (!impl_->follows_module) return out;
    auto more = following_outcomes({alloc_hook(Backend::kprobe)}, Flavor::kprobe, impl_->module_alloc.get(),
                                   "the kernel refused the kprobe on nf_conntrack's allocation");
    out.insert(out.end(), more.begin(), more.end());
    return out;
}

bool CreationSource::uses_netlink() const { return impl_->netlink != nullptr; }

bool CreationSource::waiting_for_module() const { return impl_->netlink && impl_->netlink->waiting_for_module(); }

void CreationSource::drain() {
    if (!impl_->netlink) return;
    // Owners are joined at collect(), a moment later: the first packet
    // leaves just after the kernel sends the event.
    constexpr std::size_t max_pending = 1 << 18;
    impl_->netlink->drain_all([this](const CtCreation& c) {
        ++impl_->netlink_seen;
        if (impl_->pending.size() < max_pending)
            impl_->pending.push_back(c);
        else
            ++impl_->pending_overflow;
    });
}

std::optional<std::string> CreationSource::track(const std::vector<NetnsInfo>& armed) {
    const bool want = !armed.empty();
    std::optional<std::string> change;
    // Hooks before subscriptions: a netlink event's first packet is seen.
    if (want && !impl_->tracking) {
        impl_->tracking = true;
        impl_->hooks.attach();
        change = follow_conntrack();
    } else if (!want && impl_->tracking) {
        impl_->tracking = false;
        impl_->hooks.detach();
        if (impl_->module_alloc) impl_->module_alloc->detach();
    }
    std::set<uint32_t> now;
    for (const auto& ns : armed) now.insert(static_cast<uint32_t>(ns.inode));
    if (impl_->netlink) {
        // What a subscription about to close still holds is counted.
        const bool closing = std::any_of(impl_->tracked.begin(), impl_->tracked.end(),
                                         [&](uint32_t inode) { return !now.count(inode); });
        if (closing) drain();
        impl_->netlink->refresh(armed);
    }
    impl_->tracked = std::move(now);
    return change;
}

std::vector<Creation> CreationSource::collect() {
    auto out = impl_->alloc_backend ? impl_->collect_allocations() : impl_->collect_netlink();
    for (const auto& c : out) {
        impl_->reported += c.count;
        if (c.pid) impl_->attributed += c.count;
    }
    return out;
}

CreationAccounting CreationSource::accounting() const {
    CreationAccounting a;
    a.reported = impl_->reported;
    a.attributed = impl_->attributed;
    if (impl_->alloc_backend) {
        a.seen = impl_->counter(NFS_CREATE_CNT_SEEN);
        a.unaggregated = impl_->counter(NFS_CREATE_CNT_NO_AGGREGATE);
    } else {
        a.seen = impl_->netlink_seen;
        a.lost = impl_->netlink->overruns() + impl_->pending_overflow;
    }
    return a;
}

void CreationSource::detach() {
    if (impl_->module_alloc) impl_->module_alloc->detach();
    impl_->hooks.detach();
}

std::optional<std::string> CreationSource::follow_conntrack() {
    if (!impl_->module_alloc || !impl_->tracking) return std::nullopt;
    switch (impl_->module_alloc->follow()) {
        case ModuleHooks::Change::attached:
        case ModuleHooks::Change::reattached: return "creations now counted at nf_conntrack's allocation (kprobe)";
        case ModuleHooks::Change::detached: return "nf_conntrack was unloaded: nothing to count until it is back";
        case ModuleHooks::Change::failed:
            return "cannot attach a kprobe to nf_conntrack's allocation (" + impl_->module_alloc->error() +
                   "); creations are not counted";
        case ModuleHooks::Change::none: break;
    }
    return std::nullopt;
}

std::vector<bpf_program*> CreationSource::programs() const {
    std::vector<bpf_program*> out = impl_->hooks.programs();
    if (impl_->module_alloc)
        for (bpf_program* p : impl_->module_alloc->attached_programs()) out.push_back(p);
    return out;
}

}  // namespace nfsleuth
