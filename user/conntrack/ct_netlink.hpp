// SPDX-License-Identifier: GPL-2.0-only
// Conntrack creations as ctnetlink reports them: one NETLINK_NETFILTER socket
// per network namespace, subscribed to the NEW event group. This is how
// `watch` learns who fills a table on kernels without kprobes or fentry.
#pragma once
#include <array>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <vector>

#include "common/unique_fd.hpp"
#include "kernel/netns.hpp"

namespace nfsleuth {

// The ORIGINAL-direction tuple of a newly created conntrack entry.
struct CtCreation {
    uint32_t netns_ino = 0;
    uint8_t family = 0;                // AF_INET (2) or AF_INET6 (10)
    uint8_t proto = 0;                 // IPPROTO_*
    std::array<uint8_t, 16> saddr{};   // network byte order; IPv4 in the first 4 bytes, the rest zero
    std::array<uint8_t, 16> daddr{};
    // Host byte order. TCP, UDP, UDP-Lite, SCTP, DCCP: the ports (GRE: the
    // keys). ICMP and ICMPv6: sport = the echo identifier, dport =
    // (type << 8) | code. 0 when the kernel reports no such field.
    uint16_t sport = 0;
    uint16_t dport = 0;
    uint16_t zone = 0;                 // the original direction's zone, 0 = default

    bool operator==(const CtCreation&) const = default;
};

// Parses one netlink message (nlmsghdr + nfgenmsg + attributes) as the kernel
// multicasts it. Returns the creation for a conntrack NEW event
// (IPCTNL_MSG_CT_NEW with NLM_F_CREATE), nullopt for anything else: updates,
// destroys, other subsystems, a message longer than `len` or with malformed
// or missing attributes. Reads at most min(len, nlmsg_len) bytes; `nlmsg`
// must be 4-byte aligned, as netlink buffers are.
std::optional<CtCreation> parse_ct_new_message(const void* nlmsg, std::size_t len, uint32_t netns_ino);

// Why a subscription could not be opened.
struct CtSubscribeError {
    enum class Stage {
        enter,      // the namespace is gone or cannot be entered (no CAP_SYS_ADMIN)
        subscribe,  // socket, bind or group membership refused (EPERM without CAP_NET_ADMIN)
        broker,     // the namespace broker is gone
    };
    Stage stage = Stage::enter;
    int error = 0;  // errno
};

// One non-blocking ctnetlink socket in one namespace, subscribed to
// NFNLGRP_CONNTRACK_NEW. The socket keeps its namespace alive: drop it when
// the namespace is gone.
class CtEventSubscription {
public:
    // Opened inside the namespace through `access`. Throws Failure if the
    // namespace cannot be entered or subscribed to.
    explicit CtEventSubscription(const NetnsInfo& ns, NetnsAccess& access = in_process_netns());
    // The same, reporting the failure instead of throwing.
    static std::optional<CtEventSubscription> try_open(const NetnsInfo& ns, NetnsAccess& access,
                                                       CtSubscribeError& why);

    int fd() const { return fd_.get(); }
    uint64_t netns_inode() const { return netns_ino_; }

    // Reads until the socket is empty and calls on_new for every NEW event;
    // returns how many. Overruns (ENOBUFS: the kernel dropped events because
    // the receive buffer was full) are counted and reading goes on.
    std::size_t drain(const std::function<void(const CtCreation&)>& on_new);

    // Times the kernel reported lost events; one overrun can stand for
    // thousands (a forced 8 MiB buffer holds about 13,000 events, each
    // charged ~1.3 KiB of socket memory).
    uint64_t overruns() const { return overruns_; }
    // Netlink messages received from the kernel, NEW events or not.
    uint64_t messages() const { return messages_; }

private:
    CtEventSubscription(UniqueFd fd, uint64_t netns_ino) : fd_(std::move(fd)), netns_ino_(netns_ino) {}

    UniqueFd fd_;
    uint64_t netns_ino_ = 0;
    uint64_t overruns_ = 0;
    uint64_t messages_ = 0;
};

// The subscriptions of a changing set of namespaces, behind one epoll fd.
class CtEventSources {
public:
    // Subscriptions are opened through `access`, which must outlive this.
    explicit CtEventSources(NetnsAccess& access = in_process_netns());

    // Subscribes to every namespace in `current` not yet subscribed and drops
    // the subscriptions of namespaces no longer listed. Namespaces that
    // cannot be entered or subscribed are skipped (retried next time) and
    // counted once each; but at the first refresh a failure for the first
    // namespace listed (the initial one, see list_network_namespaces) throws
    // Failure, since then nothing at all would be watched.
    // Does nothing while nf_conntrack_netlink is neither loaded nor built in.
    void refresh(const std::vector<NetnsInfo>& current);
    bool waiting_for_module() const { return waiting_for_module_; }

    // Drains every readable subscription; returns the number of creations.
    std::size_t drain_all(const std::function<void(const CtCreation&)>& on_new);

    // Readable whenever any subscription is: the one fd an event loop watches.
    int epoll_fd() const { return epoll_.get(); }
    std::vector<int> fds() const;
    std::size_t subscriptions() const { return subs_.size(); }
    bool subscribed(uint64_t netns_inode) const { return subs_.count(netns_inode) != 0; }

    // Totals, including subscriptions already closed.
    uint64_t overruns() const;
    uint64_t messages() const;
    // Namespaces skipped because they could not be entered / subscribed.
    uint64_t unreachable() const { return unreachable_; }
    uint64_t refused() const { return refused_; }

private:
    NetnsAccess& access_;
    UniqueFd epoll_;
    std::map<uint64_t, CtEventSubscription> subs_;  // by namespace inode
    std::set<uint64_t> failing_;                     // skipped at the last refresh, already counted
    uint64_t closed_overruns_ = 0;
    uint64_t closed_messages_ = 0;
    uint64_t unreachable_ = 0;
    uint64_t refused_ = 0;
    bool refreshed_ = false;
    bool waiting_for_module_ = false;
};

}  // namespace nfsleuth
