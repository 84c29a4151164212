// SPDX-License-Identifier: GPL-2.0-only
// The netns broker: a small process that keeps the privileges entering a
// network namespace needs (CAP_SYS_ADMIN above all) so that `watch`, which
// parses outside input, can give them up. It opens files and netlink
// sockets inside a namespace and hands the descriptors back (they keep that
// namespace), and runs the ruleset tools there; it also opens the kprobe
// perf events the daemon attaches to nf_conntrack's functions each time the
// module loads (kprobe_events.hpp). Requests are fixed records
// (netns_broker_protocol.hpp). It exits when the daemon closes its end or
// dies.
#pragma once
#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>

#include "common/unique_fd.hpp"
#include "kernel/kprobe_events.hpp"
#include "kernel/netns_access.hpp"
#include "kernel/netns_broker_protocol.hpp"

namespace nfsleuth {

// The hidden command line that makes the binary a broker (main.cpp), with
// its channel on descriptor kBrokerChannelFd.
constexpr const char* kBrokerEntry = "__netns-broker";
constexpr int kBrokerChannelFd = 3;

// What the broker keeps: a mask of capabilities (see netns_broker.cpp).
uint64_t broker_capabilities();

// The broker's main(): gives up everything else, says hello, then answers
// requests on `channel` until EOF. Returns the exit status.
int run_netns_broker(int channel);

// Answers requests on `channel` with `netns` and `kprobes` until EOF;
// malformed ones get an error reply and change nothing. Returns false on a
// channel error.
bool serve_netns_requests(int channel, NetnsAccess& netns, KprobeEvents& kprobes);

// The broker process: started from this binary (/proc/self/exe, so it
// starts single-threaded with nothing inherited but its channel), killed
// and reaped on destruction.
class NetnsBrokerProcess {
public:
    // Throws Failure if it cannot be started or does not say hello.
    NetnsBrokerProcess();
    ~NetnsBrokerProcess();
    NetnsBrokerProcess(const NetnsBrokerProcess&) = delete;
    NetnsBrokerProcess& operator=(const NetnsBrokerProcess&) = delete;

    pid_t pid() const { return pid_; }
    uint64_t capabilities() const { return capabilities_; }
    // The daemon's end of the channel (for a BrokerClient), once.
    UniqueFd take_channel() { return std::move(channel_); }
    // How it ended ("killed by signal 9 (SIGKILL)"), nullopt while it runs,
    // waiting up to `wait` for it to end. Reaps it.
    std::optional<std::string> ended(std::chrono::milliseconds wait = std::chrono::milliseconds(0));

private:
    pid_t pid_ = -1;
    std::optional<std::string> ended_;
    uint64_t capabilities_ = 0;
    UniqueFd channel_;
};

// Namespace access and kprobe events through the broker. One request at a
// time; once the broker stops answering or breaks the protocol, every
// request fails with NetnsStatus::no_broker and broken() says why.
class BrokerClient final : public NetnsAccess, public KprobeEvents {
public:
    explicit BrokerClient(UniqueFd channel) : channel_(std::move(channel)) {}

    NetnsFiles open_files(const NetnsTarget& ns, NetnsFileSet which) override;
    NetnsSocketFd open_socket(const NetnsTarget& ns, NetnsSocket kind) override;
    ToolOutput run_tool(const NetnsTarget& ns, RuleTool tool) override;
    KprobeEventFd open_kprobe(KprobeTarget target, bool retprobe) override;

    const std::optional<std::string>& broken() const { return broken_; }

private:
    struct Answer;
    Answer ask(const BrokerRequest& request);
    template <class Out>
    Out single_fd(const BrokerRequest& request);

    UniqueFd channel_;
    std::optional<std::string> broken_;
};

}  // namespace nfsleuth
