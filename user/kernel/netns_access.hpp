// SPDX-License-Identifier: GPL-2.0-only
// Doing something inside another network namespace: opening its conntrack
// files, creating a netfilter netlink socket there, or running a ruleset
// tool there. A file or socket keeps the namespace it was opened in, so its
// user reads it from its own namespace. Two ways: InProcessNetns enters the
// namespace itself (setns: CAP_SYS_ADMIN), the netns broker's client
// (netns_broker.hpp) asks a small privileged process to.
#pragma once
#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>

#include "common/unique_fd.hpp"
#include "conntrack/ct_stat.hpp"

namespace nfsleuth {

// The files that can be opened in a namespace, read-only.
enum class NetnsFile : uint8_t {
    conntrack_count,  // /proc/sys/net/netfilter/nf_conntrack_count
    conntrack_max,    // /proc/sys/net/netfilter/nf_conntrack_max
    conntrack_stat,   // /proc/thread-self/net/stat/nf_conntrack
};
constexpr std::size_t kNetnsFileCount = 3;
// A set of NetnsFile, bit N for the file N.
using NetnsFileSet = uint8_t;
constexpr NetnsFileSet file_bit(NetnsFile f) { return static_cast<NetnsFileSet>(1u << static_cast<unsigned>(f)); }
constexpr NetnsFileSet kAllNetnsFiles = (1u << kNetnsFileCount) - 1;

// The sockets that can be created in a namespace, all NETLINK_NETFILTER.
enum class NetnsSocket : uint8_t {
    nfnetlink,             // unbound, for sending to nfnetlink
    conntrack_new_events,  // non-blocking, bound, subscribed to NFNLGRP_CONNTRACK_NEW, large receive buffer
};
constexpr std::size_t kNetnsSocketCount = 2;

// The ruleset tools that can be run in a namespace.
enum class RuleTool : uint8_t {
    nft,                    // nft -a list ruleset
    iptables_legacy_save,   // only where /proc/net/ip_tables_names exists
    ip6tables_legacy_save,  // only where /proc/net/ip6_tables_names exists
};
constexpr std::size_t kRuleToolCount = 3;
const char* tool_name(RuleTool tool);

enum class NetnsStatus : uint8_t {
    ok,
    unreachable,  // the namespace file cannot be opened or entered (error: errno)
    moved,        // the path names another namespace than the one expected
    failed,       // entered, but the operation failed (error: errno)
    no_broker,    // the broker is gone or broke the protocol (error: errno)
};
constexpr std::size_t kNetnsStatusCount = 5;

// A namespace by a file that refers to it. A /proc/PID path may name
// another namespace by the time it is used (the PID reused): with `inode`
// set, anything else is refused (NetnsStatus::moved).
struct NetnsTarget {
    std::string path;
    uint64_t inode = 0;  // 0: whichever namespace the path names
};

struct NetnsOutcome {
    NetnsStatus status = NetnsStatus::ok;
    int error = 0;
    bool ok() const { return status == NetnsStatus::ok; }
};

struct NetnsFiles : NetnsOutcome {
    std::array<UniqueFd, kNetnsFileCount> fds;  // by NetnsFile; invalid where not asked or not opened
    std::array<int, kNetnsFileCount> errors{};  // errno of each file asked that could not be opened
};

struct NetnsSocketFd : NetnsOutcome {
    UniqueFd fd;
};

// Enough for the largest rulesets; more is cut, not buffered without bound.
constexpr std::size_t kMaxToolOutput = 64 << 20;
constexpr std::chrono::seconds kToolTimeout{10};

// failed with ENOENT: the tool is not installed; ENODATA: not run, the file
// it needs is absent; ETIMEDOUT: killed after its time; EIO: it failed.
struct ToolOutput : NetnsOutcome {
    std::string output;
};

class NetnsAccess {
public:
    virtual ~NetnsAccess() = default;
    virtual NetnsFiles open_files(const NetnsTarget& ns, NetnsFileSet which) = 0;
    virtual NetnsSocketFd open_socket(const NetnsTarget& ns, NetnsSocket kind) = 0;
    virtual ToolOutput run_tool(const NetnsTarget& ns, RuleTool tool) = 0;
};

// Enters namespaces itself: in place when the namespace is the calling
// thread's own (no privilege needed), else from a short-lived thread that
// setns()es (the caller never leaves its own); tools run in a child that
// setns()es before exec.
class InProcessNetns final : public NetnsAccess {
public:
    NetnsFiles open_files(const NetnsTarget& ns, NetnsFileSet which) override;
    NetnsSocketFd open_socket(const NetnsTarget& ns, NetnsSocket kind) override;
    ToolOutput run_tool(const NetnsTarget& ns, RuleTool tool) override;
};

// The in-process way, for commands that keep their privileges; stateless.
NetnsAccess& in_process_netns();

// Runs fn inside the namespace (in place when it is the caller's own).
NetnsOutcome in_netns(const NetnsTarget& ns, const std::function<void()>& fn);

// What the conntrack files of a namespace say; nullopt where unreadable.
struct ConntrackFiles {
    std::optional<uint64_t> count;
    std::optional<uint64_t> max;
    std::optional<std::vector<CtCpuStat>> stat;  // per CPU
};
ConntrackFiles read_conntrack_files(NetnsAccess& access, const NetnsTarget& ns, NetnsFileSet which = kAllNetnsFiles);

// The text of a file read from its start, at most max_bytes; nullopt if it
// cannot be read.
std::optional<std::string> read_fd_text(int fd, std::size_t max_bytes);

}  // namespace nfsleuth
