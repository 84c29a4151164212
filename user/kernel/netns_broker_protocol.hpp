// SPDX-License-Identifier: GPL-2.0-only
// What the daemon and its netns broker (netns_broker.hpp) say to each other
// over their SOCK_SEQPACKET socket: fixed-size records, one per message,
// every field checked when decoded. Files, sockets, tools and kprobe
// targets are named by enum, namespaces by a path of a few fixed shapes:
// the broker never opens or runs anything the daemon names freely.
#pragma once
#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>

#include "kernel/kprobe_events.hpp"
#include "kernel/netns_access.hpp"

namespace nfsleuth {

enum class BrokerOp : uint8_t { open_files = 1, open_socket = 2, run_tool = 3, open_kprobe = 4 };

struct BrokerRequest {
    BrokerOp op = BrokerOp::open_files;
    uint8_t what = 0;  // by op: a NetnsFileSet (not empty), a NetnsSocket, a RuleTool, a KprobeTarget
    NetnsTarget target;  // open_kprobe: none (empty path, inode 0), kprobes are not per namespace
    bool retprobe = false;  // open_kprobe only
};

// After each request, with the file descriptors (SCM_RIGHTS): the files
// asked and opened in NetnsFile order, or the socket, or a memfd holding
// the tool's output, or the kprobe perf event.
struct BrokerReply {
    NetnsStatus status = NetnsStatus::ok;
    int32_t error = 0;
    std::array<int32_t, kNetnsFileCount> file_errors{};  // open_files: errno per file asked and not opened
    uint8_t fd_count = 0;
};

// The broker's first message, once it holds only what it keeps.
struct BrokerHello {
    uint64_t capabilities = 0;  // bit N = capability N
};

constexpr std::size_t kBrokerRequestSize = 288;
constexpr std::size_t kBrokerReplySize = 24;
constexpr std::size_t kBrokerHelloSize = 16;
// The longest path a request holds: "/run/netns/" and a 255-byte name.
constexpr std::size_t kMaxBrokerPath = 11 + 255;

// Whether the broker accepts `path` as a namespace: /proc/self/ns/net,
// /proc/PID/ns/net or /run/netns/NAME (NAME a single file name).
bool valid_broker_netns_path(std::string_view path);

// nullopt when the request cannot be expressed (its path, `what` or
// retprobe not as its op requires).
std::optional<std::array<uint8_t, kBrokerRequestSize>> encode_request(const BrokerRequest& r);
// nullopt for anything but a well-formed, valid request of exactly this size.
std::optional<BrokerRequest> decode_request(const void* data, std::size_t size);

std::array<uint8_t, kBrokerReplySize> encode_reply(const BrokerReply& r);
std::optional<BrokerReply> decode_reply(const void* data, std::size_t size);

std::array<uint8_t, kBrokerHelloSize> encode_hello(const BrokerHello& h);
std::optional<BrokerHello> decode_hello(const void* data, std::size_t size);

// How many descriptors a valid reply to `request` carries: checked by the
// daemon before it trusts the reply.
std::optional<uint8_t> expected_fd_count(const BrokerRequest& request, const BrokerReply& reply);

}  // namespace nfsleuth
