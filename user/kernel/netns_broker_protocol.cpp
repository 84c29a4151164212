// SPDX-License-Identifier: GPL-2.0-only
#include "kernel/netns_broker_protocol.hpp"

#include <algorithm>
#include <cstring>

#include "kernel/ring_record.hpp"

namespace nfsleuth {

namespace {

// "NSB" and a protocol version: both ends are the same binary, but a
// stray peer is told apart.
constexpr uint32_t kRequestMagic = 0x4e534201;
constexpr uint32_t kReplyMagic = 0x4e534281;
constexpr uint32_t kHelloMagic = 0x4e5342c1;

constexpr uint8_t kRetprobeFlag = 1;

struct RequestWire {
    uint32_t magic;
    uint8_t op;
    uint8_t what;
    uint8_t flags;     // kRetprobeFlag (open_kprobe only)
    uint8_t reserved;  // zero
    uint64_t inode;
    char path[kMaxBrokerPath + 6];  // NUL-terminated, zero to the end
};
static_assert(sizeof(RequestWire) == kBrokerRequestSize);

struct ReplyWire {
    uint32_t magic;
    uint8_t status;
    uint8_t fd_count;
    uint16_t reserved;  // zero
    int32_t error;
    int32_t file_errors[kNetnsFileCount];
};
static_assert(sizeof(ReplyWire) == kBrokerReplySize);

struct HelloWire {
    uint32_t magic;
    uint32_t reserved;  // zero
    uint64_t capabilities;
};
static_assert(sizeof(HelloWire) == kBrokerHelloSize);

bool all_digits(std::string_view s) {
    return std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

bool valid_what(BrokerOp op, uint8_t what) {
    switch (op) {
        case BrokerOp::open_files: return what != 0 && (what & ~kAllNetnsFiles) == 0;
        case BrokerOp::open_socket: return what < kNetnsSocketCount;
        case BrokerOp::run_tool: return what < kRuleToolCount;
        case BrokerOp::open_kprobe: return what < kKprobeTargetCount;
    }
    return false;
}

bool valid_op(uint8_t op) { return op >= 1 && op <= 4; }

// A namespace for every op but open_kprobe, which names none.
bool valid_target(BrokerOp op, const NetnsTarget& target) {
    if (op == BrokerOp::open_kprobe) return target.path.empty() && target.inode == 0;
    return valid_broker_netns_path(target.path);
}

}  // namespace

bool valid_broker_netns_path(std::string_view path) {
    constexpr std::string_view proc = "/proc/", ns_net = "/ns/net", run = "/run/netns/";
    if (path.size() > kMaxBrokerPath) return false;
    if (path.substr(0, run.size()) == run) {
        // A single name: nothing that walks elsewhere.
        const std::string_view name = path.substr(run.size());
        return !name.empty() && name.size() <= 255 && name != "." && name != ".." &&
               name.find('/') == std::string_view::npos && name.find('\0') == std::string_view::npos;
    }
    if (path.substr(0, proc.size()) != proc || path.size() < proc.size() + ns_net.size()) return false;
    if (path.substr(path.size() - ns_net.size()) != ns_net) return false;
    const std::string_view pid = path.substr(proc.size(), path.size() - proc.size() - ns_net.size());
    if (pid == "self") return true;
    // A PID as the kernel writes it: no sign, no leading zero.
    return !pid.empty() && pid.size() <= 10 && pid[0] != '0' && all_digits(pid);
}

std::optional<std::array<uint8_t, kBrokerRequestSize>> encode_request(const BrokerRequest& r) {
    if (!valid_op(static_cast<uint8_t>(r.op)) || !valid_what(r.op, r.what) || !valid_target(r.op, r.target) ||
        (r.retprobe && r.op != BrokerOp::open_kprobe))
        return std::nullopt;
    RequestWire w{};
    w.magic = kRequestMagic;
    w.op = static_cast<uint8_t>(r.op);
    w.what = r.what;
    w.flags = r.retprobe ? kRetprobeFlag : 0;
    w.inode = r.target.inode;
    std::memcpy(w.path, r.target.path.data(), r.target.path.size());
    std::array<uint8_t, kBrokerRequestSize> out;
    std::memcpy(out.data(), &w, sizeof w);
    return out;
}

std::optional<BrokerRequest> decode_request(const void* data, std::size_t size) {
    auto w = ring_record_as<RequestWire>(data, size);
    if (!w || w->magic != kRequestMagic || w->reserved != 0 || !valid_op(w->op)) return std::nullopt;
    const auto op = static_cast<BrokerOp>(w->op);
    const uint8_t allowed_flags = op == BrokerOp::open_kprobe ? kRetprobeFlag : 0;
    if (!valid_what(op, w->what) || (w->flags & ~allowed_flags) != 0) return std::nullopt;
    const char* const limit = w->path + sizeof w->path;
    const char* end = std::find(static_cast<const char*>(w->path), limit, '\0');
    if (end == limit || std::any_of(end, limit, [](char c) { return c != 0; }))
        return std::nullopt;
    BrokerRequest r{op, w->what, {std::string(w->path, static_cast<std::size_t>(end - w->path)), w->inode},
                    (w->flags & kRetprobeFlag) != 0};
    if (!valid_target(op, r.target)) return std::nullopt;
    return r;
}

std::array<uint8_t, kBrokerReplySize> encode_reply(const BrokerReply& r) {
    ReplyWire w{};
    w.magic = kReplyMagic;
    w.status = static_cast<uint8_t>(r.status);
    w.fd_count = r.fd_count;
    w.error = r.error;
    std::copy(r.file_errors.begin(), r.file_errors.end(), w.file_errors);
    std::array<uint8_t, kBrokerReplySize> out;
    std::memcpy(out.data(), &w, sizeof w);
    return out;
}

std::optional<BrokerReply> decode_reply(const void* data, std::size_t size) {
    auto w = ring_record_as<ReplyWire>(data, size);
    if (!w || w->magic != kReplyMagic || w->reserved != 0 || w->status >= kNetnsStatusCount ||
        w->fd_count > kNetnsFileCount || w->error < 0)
        return std::nullopt;
    BrokerReply r;
    r.status = static_cast<NetnsStatus>(w->status);
    r.error = w->error;
    r.fd_count = w->fd_count;
    for (std::size_t i = 0; i < kNetnsFileCount; ++i) {
        if (w->file_errors[i] < 0) return std::nullopt;
        r.file_errors[i] = w->file_errors[i];
    }
    return r;
}

std::array<uint8_t, kBrokerHelloSize> encode_hello(const BrokerHello& h) {
    HelloWire w{kHelloMagic, 0, h.capabilities};
    std::array<uint8_t, kBrokerHelloSize> out;
    std::memcpy(out.data(), &w, sizeof w);
    return out;
}

std::optional<BrokerHello> decode_hello(const void* data, std::size_t size) {
    auto w = ring_record_as<HelloWire>(data, size);
    if (!w || w->magic != kHelloMagic || w->reserved != 0) return std::nullopt;
    return BrokerHello{w->capabilities};
}

std::optional<uint8_t> expected_fd_count(const BrokerRequest& request, const BrokerReply& reply) {
    if (reply.status != NetnsStatus::ok) return 0;
    if (request.op != BrokerOp::open_files) return 1;
    uint8_t n = 0;
    for (std::size_t i = 0; i < kNetnsFileCount; ++i) {
        const bool asked = request.what & (1u << i);
        if (!asked && reply.file_errors[i] != 0) return std::nullopt;
        if (asked && reply.file_errors[i] == 0) ++n;
    }
    return n;
}

}  // namespace nfsleuth
