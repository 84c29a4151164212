// SPDX-License-Identifier: GPL-2.0-only
#include "activations/activation_source.hpp"

#include <linux/netlink.h>
#include <sys/socket.h>
#include <unistd.h>

#include <map>
#include <set>

#include "activations.skel.h"
#include "common/unique_fd.hpp"
#include "kernel/netns.hpp"
#include "modules/module_tree.hpp"

namespace nfsleuth {

namespace {

std::set<std::string> conntrack_hook_names() {
    std::set<std::string> names;
    for (const auto& [family, name] : conntrack_hook_symbols()) names.insert(name);
    return names;
}

// A registration's rules are read this long after it: the kernel registers
// the hook while it checks the new rule, before the rule is in place. The
// netlink way sees the change after it is complete.
constexpr std::chrono::milliseconds kRegistrationSettleTime{200};
// Each completion reads at most this many namespaces' rulesets (each runs
// the ruleset tools); later ones say why theirs were not read.
constexpr std::size_t kRuleReadsPerCompletion = 8;

}  // namespace

struct ActivationSource::Programs {
    Skeleton<activations_bpf> skel;
    HookSelection hooks;  // its links go before skel: declared after it

    Programs(const CommonOptions& options, KernelProbe& probe, RunningKernelSymbols& symbols)
        : skel(options.btf), hooks(skel->obj, activation_hooks(), probe, parse_backend(options.backend)) {
        if (uses_netlink()) {
            // The netlink way compares hook functions with conntrack's own.
            const auto found = symbols.addresses_of(conntrack_hook_names());
            bool any = false;
            for (const auto& [family, name] : conntrack_hook_symbols()) {
                auto it = found.find(name);
                const uint64_t addr = it == found.end() ? 0 : it->second;
                any = any || addr;
                switch (family) {
                    case CtFamily::ipv4: skel->rodata->ct_hook_ipv4 = addr; break;
                    case CtFamily::ipv6: skel->rodata->ct_hook_ipv6 = addr; break;
                    case CtFamily::bridge: skel->rodata->ct_hook_bridge = addr; break;
                }
            }
            if (!any)
                throw Failure(ExitCode::unsupported,
                              "conntrack's hook functions are not in /proc/kallsyms (nf_conntrack not loaded, or "
                              "addresses hidden)",
                              "on a kernel that can hook nf_register_net_hook (fentry or kprobe) this is not needed");
            skel->rodata->self_tgid = static_cast<uint32_t>(::getpid());
        }
        hooks.load(skel, "activation programs");
    }

    bool uses_netlink() const { return hooks.backend() == "tracepoint"; }
};

ActivationSource::ActivationSource(const CommonOptions& options, KernelProbe& probe, CgroupResolver& cgroups, Sink sink,
                                   NetnsAccess& netns)
    : sink_(std::move(sink)),
      netns_(netns),
      cgroups_(cgroups),
      programs_(std::make_unique<Programs>(options, probe, symbols_)) {
    ring_ = std::make_unique<RingBuffer>(bpf_map__fd(programs_->skel->maps.activation_events),
                                         [this](const void* data, std::size_t size) { on_record(data, size); });
    programs_->hooks.attach();
    if (programs_->uses_netlink()) announce_namespaces();
}

ActivationSource::~ActivationSource() = default;

const HookSelection& ActivationSource::hooks() const { return programs_->hooks; }

std::string ActivationSource::method() const {
    return programs_->uses_netlink() ? "nfnetlink sends (tracepoint)"
                                     : "nf_register_net_hook (" + programs_->hooks.backend() + ")";
}

void ActivationSource::detach() { programs_->hooks.detach(); }

ActivationAccounting ActivationSource::accounting() const {
    int fd = bpf_map__fd(programs_->skel->maps.activation_counters);
    return {sum_percpu_counter(fd, NFS_ACT_CNT_SEEN), delivered_, sum_percpu_counter(fd, NFS_ACT_CNT_LOST),
            malformed_, not_conntrack_, reported_};
}

// Sends one empty message to nfnetlink in every namespace visible now, so
// the programs learn which already have conntrack active before anyone
// else's message there; nfnetlink ignores a message shorter than its header.
void ActivationSource::announce_namespaces() {
    // Without nfnetlink nobody has sent it anything yet, and the socket
    // would make the kernel load it.
    if (!module_available("nfnetlink")) return;
    for (const auto& ns : list_network_namespaces()) {
        // Sent from here, not where the socket was made: the programs skip
        // this process's own messages.
        auto socket = netns_.open_socket({ns.path, ns.inode}, NetnsSocket::nfnetlink);
        if (!socket.ok()) continue;
        nlmsghdr empty{};
        sockaddr_nl kernel{};
        kernel.nl_family = AF_NETLINK;
        (void)::sendto(socket.fd.get(), &empty, sizeof empty, 0, reinterpret_cast<sockaddr*>(&kernel), sizeof kernel);
    }
}

void ActivationSource::on_record(const void* data, std::size_t size) {
    auto ev = decode_activation_event(data, size);
    if (!ev) {
        ++malformed_;
        return;
    }
    ++delivered_;
    std::optional<std::string> hook;
    if (ev->method == ActivationMethod::hook_registered) {
        // nf_conntrack may have been (re)loaded since the addresses were
        // read: an unknown one makes them be read again.
        auto known = conntrack_hooks_.find(ev->hook_fn);
        if (known == conntrack_hooks_.end()) {
            conntrack_hooks_.clear();
            for (const auto& [name, addr] : symbols_.addresses_of(conntrack_hook_names())) conntrack_hooks_[addr] = name;
            known = conntrack_hooks_.find(ev->hook_fn);
        }
        if (known == conntrack_hooks_.end()) {
            ++not_conntrack_;
            return;
        }
        hook = known->second;
    }
    pending_.push_back({std::chrono::steady_clock::now(), std::move(*ev), std::move(hook)});
}

void ActivationSource::complete(bool all) {
    const auto now = std::chrono::steady_clock::now();
    std::optional<std::vector<NetnsInfo>> namespaces;
    std::map<uint32_t, NamespaceRules> read;
    auto settled = [&](const Pending& p) {
        return p.event.method != ActivationMethod::hook_registered || now - p.seen >= kRegistrationSettleTime;
    };
    while (!pending_.empty() && (all || settled(pending_.front()))) {
        Pending p = std::move(pending_.front());
        pending_.pop_front();
        if (!namespaces) namespaces = list_network_namespaces();
        const NetnsInfo* ns = nullptr;
        for (const auto& candidate : *namespaces)
            if (candidate.inode == p.event.netns) ns = &candidate;

        ActivationRecord base;
        base.ts = clock_.rfc3339(p.event.ts_boot_ns);
        base.backend = programs_->hooks.backend();
        base.hook = p.hook;
        base.cgroup = cgroups_.lookup(p.event.proc.cgroup_id);
        std::optional<NamespaceRules> rules;
        if (!ns) {
            base.rules_unread = "the namespace is gone";
        } else {
            base.netns_name = ns->name;
            if (auto it = read.find(p.event.netns); it != read.end()) {
                rules = it->second;
            } else if (read.size() >= kRuleReadsPerCompletion) {
                base.rules_unread = "too many activations at once";
            } else {
                rules = read.emplace(p.event.netns, read_namespace_rules(*ns, netns_)).first->second;
            }
        }
        if (rules && !rules->unread.empty()) {
            for (const auto& u : rules->unread) base.rules_unread += (base.rules_unread.empty() ? "" : ", ") + u;
            base.rules_unread += " not read";
        }
        for (CtFamily family : p.event.families) {
            ActivationRecord r = base;
            r.event = p.event;
            r.family = family;
            if (rules) r.rules = rules_for_family(rules->rules, family);
            ++reported_;
            sink_(r);
        }
    }
}

}  // namespace nfsleuth
