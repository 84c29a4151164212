// SPDX-License-Identifier: GPL-2.0-only
#include "drops/drop_event.hpp"

#include <arpa/inet.h>
#include <sys/socket.h>

#include <cstring>

#include "common/text.hpp"
#include "kernel/ring_record.hpp"

namespace nfsleuth {

static_assert(sizeof(nfs_drop_key) % 4 == 0, "keys hash without padding surprises");
static_assert(sizeof(nfs_drop_event) % 8 == 0, "ring buffer records stay 8-byte aligned");

const char* to_string(DropCause c) {
    switch (c) {
        case DropCause::table_full: return "table_full";
        case DropCause::early_drop: return "early_drop";
        case DropCause::insert_failed: return "insert_failed";
        case DropCause::invalid: return "invalid";
        case DropCause::helper: return "helper";
        case DropCause::rule: return "rule";
        case DropCause::other_ct: return "other_ct";
        case DropCause::unknown: return "unknown";
    }
    return "?";
}

std::optional<DropCause> drop_cause_from_raw(uint8_t raw) {
    switch (raw) {
        case NFS_CAUSE_TABLE_FULL: return DropCause::table_full;
        case NFS_CAUSE_EARLY_DROP: return DropCause::early_drop;
        case NFS_CAUSE_INSERT_FAILED: return DropCause::insert_failed;
        case NFS_CAUSE_INVALID: return DropCause::invalid;
        case NFS_CAUSE_HELPER: return DropCause::helper;
        case NFS_CAUSE_RULE: return DropCause::rule;
        case NFS_CAUSE_OTHER_CT: return DropCause::other_ct;
        case NFS_CAUSE_UNKNOWN: return DropCause::unknown;
    }
    return std::nullopt;
}

std::optional<std::string> hook_name(uint8_t raw_hook) {
    // enum nf_inet_hooks order: a stable uapi enum.
    static const char* const names[] = {"prerouting", "input", "forward", "output", "postrouting"};
    if (raw_hook < 5) return std::string(names[raw_hook]);
    return std::nullopt;
}

std::string proto_name(uint8_t proto) {
    switch (proto) {
        case 1: return "icmp";
        case 6: return "tcp";
        case 17: return "udp";
        case 33: return "dccp";
        case 58: return "icmpv6";
        case 132: return "sctp";
        case 136: return "udplite";
    }
    return std::to_string(proto);
}

Flow decode_flow(const nfs_flow& raw) {
    Flow f;
    f.family = raw.family == NFS_AF_INET6_ABI ? AF_INET6 : raw.family == NFS_AF_INET_ABI ? AF_INET : 0;
    f.proto = raw.proto;
    f.truncated = raw.flags & NFS_FLOW_TRUNCATED;
    char buf[INET6_ADDRSTRLEN] = {};
    if (f.family) {
        inet_ntop(f.family, raw.saddr, buf, sizeof buf);
        f.src = buf;
        inet_ntop(f.family, raw.daddr, buf, sizeof buf);
        f.dst = buf;
    }
    switch (raw.proto) {
        case 6: case 17: case 33: case 132: case 136:
            f.has_ports = !f.truncated;
            f.sport = raw.sport;
            f.dport = raw.dport;
            break;
        case 1: case 58:
            f.is_icmp = !f.truncated;
            f.icmp_type = raw.icmp_type;
            f.icmp_code = raw.icmp_code;
            break;
    }
    return f;
}

std::string format_destination(const Flow& f) {
    std::string host = f.family == AF_INET6 && f.has_ports ? "[" + f.dst + "]" : f.dst;
    return (f.has_ports ? host + ":" + std::to_string(f.dport) : host) + "/" + proto_name(f.proto);
}

std::string format_flow(const Flow& f) {
    auto endpoint = [&](const std::string& addr, uint16_t port) {
        std::string host = f.family == AF_INET6 && f.has_ports ? "[" + addr + "]" : addr;
        return f.has_ports ? host + ":" + std::to_string(port) : host;
    };
    std::string s = endpoint(f.src, f.sport) + " -> " + endpoint(f.dst, f.dport) + "/" + proto_name(f.proto);
    if (f.is_icmp) s += " " + std::to_string(f.icmp_type) + "/" + std::to_string(f.icmp_code);
    return s;
}

Origin decode_origin(const nfs_drop_origin& raw) {
    Origin o;
    o.local = raw.flags & NFS_ORIGIN_LOCAL;
    if (raw.flags & NFS_ORIGIN_PROCESS) {
        o.pid = raw.pid;
        o.tid = raw.tid;
        o.uid = raw.uid;
        o.cgroup_id = raw.cgroup_id;
        o.comm = std::string(bounded_cstr(raw.comm, sizeof raw.comm));
        o.from_socket_owner = raw.flags & NFS_ORIGIN_FROM_SOCKET;
    }
    if (raw.in_ifindex) o.in_if = std::string(bounded_cstr(raw.in_if, sizeof raw.in_if));
    if (raw.out_ifindex) o.out_if = std::string(bounded_cstr(raw.out_if, sizeof raw.out_if));
    if (raw.stack_hook) o.hook = hook_name(raw.stack_hook - 1);
    return o;
}

DropKeyBytes key_bytes(const nfs_drop_key& key) {
    DropKeyBytes b;
    std::memcpy(b.data(), &key, sizeof key);
    return b;
}

DropKey decode_key(const nfs_drop_key& raw) {
    DropKey k;
    k.netns = raw.netns_ino;
    k.raw_cause = raw.cause;
    k.cause = drop_cause_from_raw(raw.cause);
    k.hook = hook_name(raw.hook);
    k.zone = raw.zone;
    k.flow = decode_flow(raw.flow);
    return k;
}

std::string cause_name(const DropKey& k) {
    return k.cause ? to_string(*k.cause) : "cause_" + std::to_string(k.raw_cause);
}

std::optional<FirstDrop> decode_first_drop(const void* data, std::size_t size) {
    auto record = ring_record_as<nfs_drop_event>(data, size);
    if (!record) return std::nullopt;
    const nfs_drop_event& raw = *record;
    FirstDrop d;
    d.ts_boot_ns = raw.ts_boot_ns;
    d.raw_key = raw.key;
    d.origin = decode_origin(raw.origin);
    return d;
}

}  // namespace nfsleuth
