// SPDX-License-Identifier: GPL-2.0-only
#include "conntrack/ct_netlink.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <libmnl/libmnl.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nfnetlink_conntrack.h>
#include <linux/netlink.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <string>

#include "common/error.hpp"
#include "modules/module_tree.hpp"

namespace nfsleuth {

namespace {

// ---- parsing ---------------------------------------------------------------

template <std::size_t N>
using AttrTable = std::array<const nlattr*, N>;

// Files each attribute under its type; types this build does not know are
// ignored, so newer kernels adding attributes still parse.
template <std::size_t N>
int collect(const nlattr* attr, void* data) {
    auto& table = *static_cast<AttrTable<N>*>(data);
    const uint16_t type = mnl_attr_get_type(attr);
    if (type < N) table[type] = attr;
    return MNL_CB_OK;
}

// libmnl bounds every nested attribute by its parent's length (mnl_attr_ok),
// so a lying nla_len ends the walk instead of reading past the message.
template <std::size_t N>
AttrTable<N> nested(const nlattr* nest) {
    AttrTable<N> table{};
    mnl_attr_parse_nested(nest, collect<N>, &table);
    return table;
}

// Optional big-endian u16: absent leaves `out` alone, a wrong size fails.
bool read_be16(const nlattr* attr, uint16_t& out) {
    if (!attr) return true;
    if (mnl_attr_get_payload_len(attr) != sizeof(uint16_t)) return false;
    uint16_t v;
    std::memcpy(&v, mnl_attr_get_payload(attr), sizeof v);
    out = ntohs(v);
    return true;
}

bool read_u8(const nlattr* attr, uint8_t& out) {
    if (!attr) return true;
    if (mnl_attr_get_payload_len(attr) != sizeof(uint8_t)) return false;
    std::memcpy(&out, mnl_attr_get_payload(attr), sizeof out);
    return true;
}

// Required address of exactly `size` bytes.
bool read_addr(const nlattr* attr, std::size_t size, std::array<uint8_t, 16>& out) {
    if (!attr || mnl_attr_get_payload_len(attr) != size) return false;
    std::memcpy(out.data(), mnl_attr_get_payload(attr), size);
    return true;
}

// ICMP has no ports; the tuple carries id, type and code instead.
bool read_icmp(const nlattr* id, const nlattr* type, const nlattr* code, CtCreation& c) {
    uint8_t t = 0, k = 0;
    if (!read_be16(id, c.sport) || !read_u8(type, t) || !read_u8(code, k)) return false;
    c.dport = static_cast<uint16_t>((t << 8) | k);
    return true;
}

}  // namespace

std::optional<CtCreation> parse_ct_new_message(const void* data, std::size_t len, uint32_t netns_ino) {
    constexpr std::size_t kAttrOffset = NLMSG_HDRLEN + MNL_ALIGN(sizeof(nfgenmsg));
    if (data == nullptr || len < NLMSG_HDRLEN) return std::nullopt;
    const auto* nlh = static_cast<const nlmsghdr*>(data);
    if (nlh->nlmsg_len < kAttrOffset || nlh->nlmsg_len > len) return std::nullopt;
    // Events reuse the request types: NEW with CREATE is a creation, NEW
    // without it an update, DELETE a destruction.
    if (nlh->nlmsg_type != ((NFNL_SUBSYS_CTNETLINK << 8) | IPCTNL_MSG_CT_NEW)) return std::nullopt;
    if (!(nlh->nlmsg_flags & NLM_F_CREATE)) return std::nullopt;

    CtCreation c;
    c.netns_ino = netns_ino;
    c.family = static_cast<const nfgenmsg*>(mnl_nlmsg_get_payload(nlh))->nfgen_family;
    if (c.family != AF_INET && c.family != AF_INET6) return std::nullopt;

    // Walk exactly nlmsg_len bytes (mnl_attr_parse would round it up).
    AttrTable<CTA_MAX + 1> top{};
    mnl_attr_parse_payload(static_cast<const char*>(data) + kAttrOffset, nlh->nlmsg_len - kAttrOffset,
                           collect<CTA_MAX + 1>, &top);
    if (!top[CTA_TUPLE_ORIG]) return std::nullopt;
    const auto tuple = nested<CTA_TUPLE_MAX + 1>(top[CTA_TUPLE_ORIG]);
    if (!tuple[CTA_TUPLE_IP] || !tuple[CTA_TUPLE_PROTO]) return std::nullopt;

    const auto ip = nested<CTA_IP_MAX + 1>(tuple[CTA_TUPLE_IP]);
    const bool v4 = c.family == AF_INET;
    const std::size_t addr_size = v4 ? 4 : 16;
    if (!read_addr(ip[v4 ? CTA_IP_V4_SRC : CTA_IP_V6_SRC], addr_size, c.saddr) ||
        !read_addr(ip[v4 ? CTA_IP_V4_DST : CTA_IP_V6_DST], addr_size, c.daddr))
        return std::nullopt;

    const auto proto = nested<CTA_PROTO_MAX + 1>(tuple[CTA_TUPLE_PROTO]);
    if (!proto[CTA_PROTO_NUM] || !read_u8(proto[CTA_PROTO_NUM], c.proto)) return std::nullopt;
    bool ok;
    if (c.proto == IPPROTO_ICMP)
        ok = read_icmp(proto[CTA_PROTO_ICMP_ID], proto[CTA_PROTO_ICMP_TYPE], proto[CTA_PROTO_ICMP_CODE], c);
    else if (c.proto == IPPROTO_ICMPV6)
        ok = read_icmp(proto[CTA_PROTO_ICMPV6_ID], proto[CTA_PROTO_ICMPV6_TYPE], proto[CTA_PROTO_ICMPV6_CODE], c);
    else
        ok = read_be16(proto[CTA_PROTO_SRC_PORT], c.sport) && read_be16(proto[CTA_PROTO_DST_PORT], c.dport);
    if (!ok) return std::nullopt;

    // The kernel puts a zone that applies to one direction only into that
    // direction's tuple, one that applies to both into CTA_ZONE.
    const nlattr* zone = tuple[CTA_TUPLE_ZONE] ? tuple[CTA_TUPLE_ZONE] : top[CTA_ZONE];
    if (!read_be16(zone, c.zone)) return std::nullopt;
    return c;
}

// ---- one subscription -------------------------------------------------------

namespace {

Failure subscribe_failure(const NetnsInfo& ns, const CtSubscribeError& why) {
    const std::string where = "network namespace " + ns.name + " (" + ns.path + ")";
    const std::string cause = why.error ? ": " + describe_errno(why.error) : std::string();
    if (why.stage == CtSubscribeError::Stage::enter) {
        if (why.error == ENOENT)
            return Failure(ExitCode::failure, "the " + where + " no longer exists", "try again");
        return Failure(ExitCode::privilege, "cannot enter the " + where + cause,
                       "run nfsleuth as root (entering a namespace needs CAP_SYS_ADMIN)");
    }
    if (why.stage == CtSubscribeError::Stage::broker)
        return Failure(ExitCode::failure, "the namespace broker could not subscribe in the " + where + cause);
    if (why.error == EPERM || why.error == EACCES)
        return Failure(ExitCode::privilege, "not allowed to subscribe to conntrack events in the " + where + cause,
                       "run nfsleuth as root or with CAP_NET_ADMIN");
    if (why.error == EPROTONOSUPPORT)
        return Failure(ExitCode::unsupported, "the kernel has no nfnetlink, so no conntrack events" + cause,
                       "load the modules: modprobe nf_conntrack_netlink");
    return Failure(ExitCode::failure, "cannot subscribe to conntrack events in the " + where + cause);
}

CtEventSubscription open_or_throw(const NetnsInfo& ns, NetnsAccess& access) {
    CtSubscribeError why;
    auto sub = CtEventSubscription::try_open(ns, access, why);
    if (!sub) throw subscribe_failure(ns, why);
    return std::move(*sub);
}

}  // namespace

CtEventSubscription::CtEventSubscription(const NetnsInfo& ns, NetnsAccess& access)
    : CtEventSubscription(open_or_throw(ns, access)) {}

std::optional<CtEventSubscription> CtEventSubscription::try_open(const NetnsInfo& ns, NetnsAccess& access,
                                                                 CtSubscribeError& why) {
    // With the inode: a /proc/PID path may name another namespace by now.
    auto opened = access.open_socket({ns.path, ns.inode}, NetnsSocket::conntrack_new_events);
    switch (opened.status) {
        case NetnsStatus::ok: return CtEventSubscription(std::move(opened.fd), ns.inode);
        case NetnsStatus::moved: why = {CtSubscribeError::Stage::enter, ENOENT}; break;
        case NetnsStatus::unreachable: why = {CtSubscribeError::Stage::enter, opened.error}; break;
        case NetnsStatus::failed: why = {CtSubscribeError::Stage::subscribe, opened.error}; break;
        case NetnsStatus::no_broker: why = {CtSubscribeError::Stage::broker, opened.error}; break;
    }
    return std::nullopt;
}

std::size_t CtEventSubscription::drain(const std::function<void(const CtCreation&)>& on_new) {
    // An event is a few hundred bytes and one datagram carries one.
    alignas(nlmsghdr) std::array<unsigned char, 16384> buf;
    std::size_t created = 0;
    for (;;) {
        sockaddr_nl from{};
        iovec iov{buf.data(), buf.size()};
        msghdr msg{};
        msg.msg_name = &from;
        msg.msg_namelen = sizeof from;
        msg.msg_iov = &iov;
        msg.msg_iovlen = 1;
        const ssize_t n = ::recvmsg(fd_.get(), &msg, 0);
        if (n < 0) {
            if (errno == EINTR) continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK) break;
            if (errno == ENOBUFS) {  // events were lost; what is queued is still good
                ++overruns_;
                continue;
            }
            throw Failure(ExitCode::failure, "reading conntrack events failed: " + describe_errno(errno));
        }
        // Only the kernel (port 0) sends these; a truncated datagram cannot be parsed.
        if (from.nl_pid != 0 || (msg.msg_flags & MSG_TRUNC)) continue;
        const unsigned char* p = buf.data();
        std::size_t left = static_cast<std::size_t>(n);
        while (left >= NLMSG_HDRLEN) {
            const auto* nlh = reinterpret_cast<const nlmsghdr*>(p);
            if (nlh->nlmsg_len < NLMSG_HDRLEN || nlh->nlmsg_len > left) break;
            ++messages_;
            if (auto c = parse_ct_new_message(p, nlh->nlmsg_len, static_cast<uint32_t>(netns_ino_))) {
                ++created;
                on_new(*c);
            }
            const std::size_t step = std::min<std::size_t>(NLMSG_ALIGN(nlh->nlmsg_len), left);
            p += step;
            left -= step;
        }
    }
    return created;
}

// ---- all namespaces ---------------------------------------------------------

CtEventSources::CtEventSources(NetnsAccess& access) : access_(access), epoll_(::epoll_create1(EPOLL_CLOEXEC)) {
    if (!epoll_) throw Failure(ExitCode::failure, "epoll_create1 failed: " + describe_errno(errno));
}

void CtEventSources::refresh(const std::vector<NetnsInfo>& current) {
    // Subscribing makes the kernel load nf_conntrack_netlink, and with it
    // nf_conntrack: wait until something else has loaded them.
    waiting_for_module_ = !module_available("nf_conntrack_netlink");
    if (waiting_for_module_) return;
    std::set<uint64_t> listed;
    for (const auto& ns : current) listed.insert(ns.inode);

    for (auto it = subs_.begin(); it != subs_.end();) {
        if (listed.count(it->first)) {
            ++it;
            continue;
        }
        closed_overruns_ += it->second.overruns();
        closed_messages_ += it->second.messages();
        ::epoll_ctl(epoll_.get(), EPOLL_CTL_DEL, it->second.fd(), nullptr);
        it = subs_.erase(it);  // closing the socket lets the namespace die
    }
    std::erase_if(failing_, [&](uint64_t ino) { return !listed.count(ino); });

    for (std::size_t i = 0; i < current.size(); ++i) {
        const auto& ns = current[i];
        if (subs_.count(ns.inode)) continue;
        CtSubscribeError why;
        auto sub = CtEventSubscription::try_open(ns, access_, why);
        if (!sub) {
            if (!refreshed_ && i == 0) throw subscribe_failure(ns, why);
            // Retried at every refresh, counted once while it keeps failing.
            if (failing_.insert(ns.inode).second)
                ++(why.stage == CtSubscribeError::Stage::subscribe ? refused_ : unreachable_);
            continue;
        }
        failing_.erase(ns.inode);
        epoll_event ev{};
        ev.events = EPOLLIN;
        ev.data.u64 = ns.inode;
        if (::epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, sub->fd(), &ev) != 0)
            throw Failure(ExitCode::failure, "epoll_ctl failed: " + describe_errno(errno));
        subs_.emplace(ns.inode, std::move(*sub));
    }
    refreshed_ = true;
}

std::size_t CtEventSources::drain_all(const std::function<void(const CtCreation&)>& on_new) {
    std::array<epoll_event, 64> ready;
    std::size_t created = 0;
    for (;;) {
        const int n = ::epoll_wait(epoll_.get(), ready.data(), static_cast<int>(ready.size()), 0);
        if (n < 0) {
            if (errno == EINTR) continue;
            throw Failure(ExitCode::failure, "epoll_wait failed: " + describe_errno(errno));
        }
        for (int i = 0; i < n; ++i) {
            // A copy: epoll_event is packed, its u64 misaligned for a reference.
            const uint64_t inode = ready[i].data.u64;
            auto it = subs_.find(inode);
            if (it != subs_.end()) created += it->second.drain(on_new);
        }
        if (n < static_cast<int>(ready.size())) break;  // a full batch may have left some behind
    }
    return created;
}

std::vector<int> CtEventSources::fds() const {
    std::vector<int> out;
    for (const auto& [ino, sub] : subs_) out.push_back(sub.fd());
    return out;
}

uint64_t CtEventSources::overruns() const {
    uint64_t sum = closed_overruns_;
    for (const auto& [ino, sub] : subs_) sum += sub.overruns();
    return sum;
}

uint64_t CtEventSources::messages() const {
    uint64_t sum = closed_messages_;
    for (const auto& [ino, sub] : subs_) sum += sub.messages();
    return sum;
}

}  // namespace nfsleuth
