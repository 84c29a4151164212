// SPDX-License-Identifier: GPL-2.0-only
#include "kernel/netns_broker.hpp"

#include <fcntl.h>
#include <linux/capability.h>
#include <poll.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <iostream>
#include <thread>
#include <vector>

#include "common/error.hpp"
#include "kernel/capabilities.hpp"

namespace nfsleuth {

namespace {

// How long an answer may take: a tool gets its own time and some more.
constexpr std::chrono::seconds kAnswerTimeout{5};
constexpr std::chrono::seconds kToolAnswerTimeout = kToolTimeout + kAnswerTimeout;
// How long the broker may take to start and give up its privileges.
constexpr std::chrono::seconds kHelloTimeout{10};

// Sends one record with descriptors attached.
bool send_record(int channel, const void* data, std::size_t size, const std::vector<UniqueFd>& fds) {
    iovec iov{const_cast<void*>(data), size};
    msghdr msg{};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int) * kNetnsFileCount)]{};
    if (!fds.empty()) {
        msg.msg_control = control;
        msg.msg_controllen = CMSG_SPACE(sizeof(int) * fds.size());
        cmsghdr* c = CMSG_FIRSTHDR(&msg);
        c->cmsg_level = SOL_SOCKET;
        c->cmsg_type = SCM_RIGHTS;
        c->cmsg_len = CMSG_LEN(sizeof(int) * fds.size());
        int* out = reinterpret_cast<int*>(CMSG_DATA(c));
        for (std::size_t i = 0; i < fds.size(); ++i) out[i] = fds[i].get();
    }
    for (;;) {
        ssize_t n = ::sendmsg(channel, &msg, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR) continue;
        return n == static_cast<ssize_t>(size);
    }
}

// A memfd holding the text, for output too big for one record.
UniqueFd memfd_with(const std::string& text, int& error) {
    UniqueFd fd(static_cast<int>(::syscall(SYS_memfd_create, "nfsleuth-tool-output", MFD_CLOEXEC)));
    if (!fd) {
        error = errno;
        return {};
    }
    for (std::size_t done = 0; done < text.size();) {
        ssize_t n = ::write(fd.get(), text.data() + done, text.size() - done);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) {
            error = n < 0 ? errno : EIO;
            return {};
        }
        done += static_cast<std::size_t>(n);
    }
    return fd;
}

BrokerReply answer(const BrokerRequest& request, NetnsAccess& here, KprobeEvents& kprobes,
                   std::vector<UniqueFd>& fds) {
    BrokerReply reply;
    switch (request.op) {
        case BrokerOp::open_files: {
            NetnsFiles files = here.open_files(request.target, request.what);
            reply.status = files.status;
            reply.error = files.error;
            for (std::size_t i = 0; i < kNetnsFileCount; ++i) {
                reply.file_errors[i] = files.errors[i];
                if (files.fds[i]) fds.push_back(std::move(files.fds[i]));
            }
            break;
        }
        case BrokerOp::open_socket: {
            NetnsSocketFd socket = here.open_socket(request.target, static_cast<NetnsSocket>(request.what));
            reply.status = socket.status;
            reply.error = socket.error;
            if (socket.fd) fds.push_back(std::move(socket.fd));
            break;
        }
        case BrokerOp::run_tool: {
            ToolOutput tool = here.run_tool(request.target, static_cast<RuleTool>(request.what));
            reply.status = tool.status;
            reply.error = tool.error;
            if (!tool.ok()) break;
            int error = 0;
            UniqueFd output = memfd_with(tool.output, error);
            if (output) {
                fds.push_back(std::move(output));
            } else {
                reply.status = NetnsStatus::failed;
                reply.error = error;
            }
            break;
        }
        case BrokerOp::open_kprobe: {
            KprobeEventFd event = kprobes.open_kprobe(static_cast<KprobeTarget>(request.what), request.retprobe);
            reply.status = event.status;
            reply.error = event.error;
            if (event.fd) fds.push_back(std::move(event.fd));
            break;
        }
    }
    reply.fd_count = static_cast<uint8_t>(fds.size());
    return reply;
}

std::string describe_status(int status) {
    if (WIFEXITED(status)) return "exited with status " + std::to_string(WEXITSTATUS(status));
    if (WIFSIGNALED(status)) {
        const char* name = sigabbrev_np(WTERMSIG(status));
        return "killed by signal " + std::to_string(WTERMSIG(status)) + (name ? std::string(" (SIG") + name + ")" : "");
    }
    return "ended with status " + std::to_string(status);
}

// Waits until `fd` is readable; false when `timeout` passed first.
bool wait_readable(int fd, std::chrono::milliseconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
        const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
        if (left.count() <= 0) return false;
        pollfd p{fd, POLLIN, 0};
        const int ready = ::poll(&p, 1, static_cast<int>(left.count()));
        if (ready > 0) return true;
        if (ready < 0 && errno != EINTR) return false;
    }
}

}  // namespace

uint64_t broker_capabilities() {
    uint64_t mask = 0;
    for (int cap : {
             CAP_SYS_ADMIN,   // setns() into a network namespace; kprobe perf events
                              // where kernel.perf_event_paranoid is above 2 (Debian, Ubuntu)
             CAP_SYS_PTRACE,  // opening /proc/PID/ns/net of processes with other credentials
             CAP_NET_ADMIN,   // SO_RCVBUFFORCE and the conntrack event group; nft and the
                              // iptables save tools read rules over netlink / getsockopt
             CAP_NET_RAW,     // iptables-legacy-save's raw socket
         })
        mask |= 1ull << cap;
    return mask;
}

int run_netns_broker(int channel) {
    // Only ever started by watch, with its channel in place.
    int type = 0;
    socklen_t len = sizeof type;
    if (::getsockopt(channel, SOL_SOCKET, SO_TYPE, &type, &len) != 0 || type != SOCK_SEQPACKET) {
        std::cerr << "nfsleuth: " << kBrokerEntry << " is internal to `nfsleuth watch`\n";
        return static_cast<int>(ExitCode::usage);
    }
    ::prctl(PR_SET_NAME, "nfsleuth-broker", 0, 0, 0);
    // Also set before exec; set again in case exec cleared it (file
    // capabilities do). Should the daemon die first, its end closes too.
    ::prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
    // Ctrl-C reaches the whole process group: the daemon, which still needs
    // the broker while it winds down, decides when it ends (EOF).
    for (int sig : {SIGINT, SIGTERM, SIGHUP, SIGPIPE}) ::signal(sig, SIG_IGN);
    // The tools it runs must not inherit the channel.
    ::fcntl(channel, F_SETFD, FD_CLOEXEC);
    BrokerHello hello;
    try {
        std::vector<int> keep;
        for (int cap = 0; cap < 64; ++cap)
            if (broker_capabilities() & (1ull << cap)) keep.push_back(cap);
        hello.capabilities = keep_only_capabilities(keep);
    } catch (const Failure& f) {
        std::cerr << "nfsleuth: netns broker: " << f.what() << "\n";
        return 1;
    }
    const auto record = encode_hello(hello);
    if (!send_record(channel, record.data(), record.size(), {})) return 1;
    InProcessNetns here;
    InProcessKprobes kprobes;
    return serve_netns_requests(channel, here, kprobes) ? 0 : 1;
}

bool serve_netns_requests(int channel, NetnsAccess& netns, KprobeEvents& kprobes) {
    for (;;) {
        // One byte more than a request: a longer message is truncated and refused.
        alignas(8) unsigned char buf[kBrokerRequestSize + 1];
        iovec iov{buf, sizeof buf};
        msghdr msg{};
        msg.msg_iov = &iov;
        msg.msg_iovlen = 1;
        // No control buffer: descriptors sent to the broker are closed by
        // the kernel (and MSG_CTRUNC set).
        const ssize_t n = ::recvmsg(channel, &msg, MSG_CMSG_CLOEXEC);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) return false;
        if (n == 0) return true;
        std::optional<BrokerRequest> request;
        if (!(msg.msg_flags & (MSG_TRUNC | MSG_CTRUNC))) request = decode_request(buf, static_cast<std::size_t>(n));
        std::vector<UniqueFd> fds;
        BrokerReply reply;
        if (request) {
            reply = answer(*request, netns, kprobes, fds);
        } else {
            reply.status = NetnsStatus::failed;
            reply.error = EINVAL;
        }
        const auto record = encode_reply(reply);
        if (!send_record(channel, record.data(), record.size(), fds)) return false;
    }
}

// ---- the process ------------------------------------------------------------

NetnsBrokerProcess::NetnsBrokerProcess() {
    int pair[2];
    if (::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, pair) != 0)
        throw Failure(ExitCode::failure, "cannot create the netns broker's socket: " + describe_errno(errno));
    UniqueFd ours(pair[0]), theirs(pair[1]);
    // Everything the child needs is prepared before fork(): after it, only
    // async-signal-safe calls.
    UniqueFd null(::open("/dev/null", O_RDWR | O_CLOEXEC));
    if (!null) throw Failure(ExitCode::failure, "cannot open /dev/null: " + describe_errno(errno));
    char arg0[] = "nfsleuth", arg1[sizeof "__netns-broker"] = "__netns-broker";
    static_assert(sizeof arg1 == std::char_traits<char>::length(kBrokerEntry) + 1);
    char* argv[] = {arg0, arg1, nullptr};
    const pid_t parent = ::getpid();

    pid_ = ::fork();
    if (pid_ < 0) throw Failure(ExitCode::failure, "cannot start the netns broker: " + describe_errno(errno));
    if (pid_ == 0) {
        // The event loop blocks the signals it takes through its signalfd.
        sigset_t none;
        sigemptyset(&none);
        ::sigprocmask(SIG_SETMASK, &none, nullptr);
        ::prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
        if (::getppid() != parent) ::_exit(1);
        // dup2 leaves the copy without FD_CLOEXEC; every other descriptor
        // is close-on-exec or closed here.
        if (::dup2(theirs.get(), kBrokerChannelFd) < 0 || ::dup2(null.get(), STDIN_FILENO) < 0 ||
            ::dup2(null.get(), STDOUT_FILENO) < 0)
            ::_exit(1);
        ::syscall(SYS_close_range, kBrokerChannelFd + 1, ~0u, 0);
        ::execv("/proc/self/exe", argv);
        ::_exit(127);
    }
    theirs.reset();
    channel_ = std::move(ours);

    // The hello says it is ready, with what it kept.
    std::optional<BrokerHello> hello;
    if (wait_readable(channel_.get(), kHelloTimeout)) {
        unsigned char buf[kBrokerHelloSize + 1];
        const ssize_t n = ::recv(channel_.get(), buf, sizeof buf, 0);
        if (n > 0) hello = decode_hello(buf, static_cast<std::size_t>(n));
    }
    if (!hello) {
        const auto how = ended();
        ::kill(pid_, SIGKILL);
        throw Failure(ExitCode::failure,
                      "the netns broker did not start" + (how ? " (" + *how + ")" : std::string()),
                      "see the messages above; the broker is nfsleuth itself, run again from /proc/self/exe");
    }
    capabilities_ = hello->capabilities;
}

NetnsBrokerProcess::~NetnsBrokerProcess() {
    if (ended_) return;
    ::kill(pid_, SIGKILL);
    while (::waitpid(pid_, nullptr, 0) < 0 && errno == EINTR) {
    }
}

std::optional<std::string> NetnsBrokerProcess::ended(std::chrono::milliseconds wait) {
    const auto deadline = std::chrono::steady_clock::now() + wait;
    while (!ended_) {
        int status = 0;
        if (::waitpid(pid_, &status, WNOHANG) == pid_) {
            ended_ = describe_status(status);
        } else if (std::chrono::steady_clock::now() < deadline) {
            std::this_thread::sleep_for(std::chrono::milliseconds(10));
        } else {
            break;
        }
    }
    return ended_;
}

// ---- the client -------------------------------------------------------------

struct BrokerClient::Answer {
    BrokerReply reply;
    std::vector<UniqueFd> fds;
};

BrokerClient::Answer BrokerClient::ask(const BrokerRequest& request) {
    Answer a;
    a.reply.status = NetnsStatus::no_broker;
    a.reply.error = EPIPE;
    if (broken_) return a;
    const auto wire = encode_request(request);
    if (!wire) {
        // A path the broker would refuse: refused here, the broker stays.
        a.reply.status = NetnsStatus::unreachable;
        a.reply.error = EINVAL;
        return a;
    }
    if (!send_record(channel_.get(), wire->data(), wire->size(), {})) {
        broken_ = "cannot send it a request: " + describe_errno(errno);
        return a;
    }
    const auto timeout = request.op == BrokerOp::run_tool ? kToolAnswerTimeout : kAnswerTimeout;
    if (!wait_readable(channel_.get(), timeout)) {
        broken_ = "no answer within " + std::to_string(timeout.count()) + " s";
        return a;
    }
    alignas(8) unsigned char buf[kBrokerReplySize + 1];
    iovec iov{buf, sizeof buf};
    alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int) * kNetnsFileCount)];
    msghdr msg{};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control;
    msg.msg_controllen = sizeof control;
    ssize_t n;
    while ((n = ::recvmsg(channel_.get(), &msg, MSG_CMSG_CLOEXEC)) < 0 && errno == EINTR) {
    }
    // Owned before anything is checked, so that none leaks.
    std::vector<UniqueFd> fds;
    for (cmsghdr* c = n > 0 ? CMSG_FIRSTHDR(&msg) : nullptr; c; c = CMSG_NXTHDR(&msg, c)) {
        if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
        const std::size_t count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
        const int* in = reinterpret_cast<const int*>(CMSG_DATA(c));
        for (std::size_t i = 0; i < count; ++i) fds.emplace_back(in[i]);
    }
    if (n <= 0) {
        broken_ = n == 0 ? "it closed its end" : "cannot read its answer: " + describe_errno(errno);
        return a;
    }
    auto reply = (msg.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) ? std::nullopt
                                                             : decode_reply(buf, static_cast<std::size_t>(n));
    const auto expected = reply ? expected_fd_count(request, *reply) : std::nullopt;
    if (!reply || !expected || *expected != fds.size() || reply->fd_count != fds.size()) {
        broken_ = "it sent a malformed answer";
        return a;
    }
    a.reply = *reply;
    a.fds = std::move(fds);
    return a;
}

NetnsFiles BrokerClient::open_files(const NetnsTarget& ns, NetnsFileSet which) {
    Answer a = ask({BrokerOp::open_files, which, ns});
    NetnsFiles out;
    out.status = a.reply.status;
    out.error = a.reply.error;
    if (!out.ok()) return out;
    // In NetnsFile order, the files asked and opened.
    auto next = a.fds.begin();
    for (std::size_t i = 0; i < kNetnsFileCount; ++i) {
        if (!(which & (1u << i))) continue;
        out.errors[i] = a.reply.file_errors[i];
        if (!out.errors[i]) out.fds[i] = std::move(*next++);
    }
    return out;
}

// The outcome of a request answered with one descriptor when it succeeds.
template <class Out>
Out BrokerClient::single_fd(const BrokerRequest& request) {
    Answer a = ask(request);
    Out out;
    out.status = a.reply.status;
    out.error = a.reply.error;
    if (out.ok()) out.fd = std::move(a.fds.front());
    return out;
}

NetnsSocketFd BrokerClient::open_socket(const NetnsTarget& ns, NetnsSocket kind) {
    return single_fd<NetnsSocketFd>({BrokerOp::open_socket, static_cast<uint8_t>(kind), ns});
}

KprobeEventFd BrokerClient::open_kprobe(KprobeTarget target, bool retprobe) {
    return single_fd<KprobeEventFd>({BrokerOp::open_kprobe, static_cast<uint8_t>(target), {}, retprobe});
}

ToolOutput BrokerClient::run_tool(const NetnsTarget& ns, RuleTool tool) {
    Answer a = ask({BrokerOp::run_tool, static_cast<uint8_t>(tool), ns});
    ToolOutput out;
    out.status = a.reply.status;
    out.error = a.reply.error;
    if (!out.ok()) return out;
    auto text = read_fd_text(a.fds.front().get(), kMaxToolOutput);
    if (!text) return {{NetnsStatus::failed, EIO}, {}};
    out.output = std::move(*text);
    return out;
}

}  // namespace nfsleuth
