// SPDX-License-Identifier: GPL-2.0-only
// Conntrack drops as the consumer sees them: decoded keys (who, where, why)
// and the records that carry their counts to the output.
#pragma once
#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>

#include "drops.h"

namespace nfsleuth {

enum class DropCause { table_full, early_drop, insert_failed, invalid, helper, rule, other_ct, unknown };
const char* to_string(DropCause c);
std::optional<DropCause> drop_cause_from_raw(uint8_t raw);

// "prerouting", "input", "forward", "output", "postrouting", or nullopt.
std::optional<std::string> hook_name(uint8_t raw_hook);

struct Flow {
    int family = 0;  // AF_INET or AF_INET6
    uint8_t proto = 0;
    std::string src;
    std::string dst;
    uint16_t sport = 0;
    uint16_t dport = 0;
    uint8_t icmp_type = 0;
    uint8_t icmp_code = 0;
    bool has_ports = false;
    bool is_icmp = false;
    bool truncated = false;
};

Flow decode_flow(const nfs_flow& raw);
// "tcp", "udp", "icmp", "icmpv6", "sctp", "udplite", "dccp", or the number.
std::string proto_name(uint8_t proto);
// "10.0.0.1:5000 -> 10.0.0.2:80/tcp", "[::1]:5 -> [::1]:9/udp", "10.0.0.1 -> 10.0.0.2/icmp 8/0".
std::string format_flow(const Flow& f);
// "10.0.0.2:80/tcp", "[::1]:9/udp", "10.0.0.2/icmp".
std::string format_destination(const Flow& f);

struct Origin {
    bool local = false;
    std::optional<uint32_t> pid;  // set when the packet came from a process
    uint32_t tid = 0;
    uint32_t uid = 0;
    uint64_t cgroup_id = 0;
    bool from_socket_owner = false;
    std::string comm;
    std::optional<std::string> in_if;
    std::optional<std::string> out_if;
    std::optional<std::string> hook;  // found on the first drop's stack, for keys without one
};

Origin decode_origin(const nfs_drop_origin& raw);

// The aggregation key as raw bytes, so the consumer can key its own
// bookkeeping by exactly what the kernel keys its map by.
using DropKeyBytes = std::array<unsigned char, sizeof(nfs_drop_key)>;
DropKeyBytes key_bytes(const nfs_drop_key& key);

struct DropKey {
    uint32_t netns = 0;
    std::optional<DropCause> cause;  // nullopt: a cause this binary does not know
    uint8_t raw_cause = 0;
    std::optional<std::string> hook;
    uint16_t zone = 0;
    Flow flow;
};

DropKey decode_key(const nfs_drop_key& raw);
// The cause's name, or "cause_N" for a cause this binary does not know.
std::string cause_name(const DropKey& k);

// A ring-buffer record: the first drop of a key.
struct FirstDrop {
    uint64_t ts_boot_ns = 0;
    nfs_drop_key raw_key{};
    Origin origin;
};
std::optional<FirstDrop> decode_first_drop(const void* data, std::size_t size);

}  // namespace nfsleuth
