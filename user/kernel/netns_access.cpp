// SPDX-License-Identifier: GPL-2.0-only
#include "kernel/netns_access.hpp"

#include <fcntl.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netlink.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <filesystem>
#include <thread>
#include <vector>

#include "kernel/netns.hpp"

namespace nfsleuth {

namespace {

namespace fs = std::filesystem;

constexpr const char* kFilePaths[kNetnsFileCount] = {
    "/proc/sys/net/netfilter/nf_conntrack_count",
    "/proc/sys/net/netfilter/nf_conntrack_max",
    // thread-self: /proc/self/net would name the thread group's namespace.
    "/proc/thread-self/net/stat/nf_conntrack",
};

// Big enough for a burst of creations to wait until the next drain.
constexpr int kReceiveBuffer = 8 << 20;

struct ToolSpec {
    const char* name;
    std::vector<const char*> argv;
    const char* required_path;  // must exist inside the namespace, or the tool is not run
};

// The legacy tables exist in a namespace only once used there; the save
// tools are not run where they are absent (they would load modules).
const ToolSpec& tool_spec(RuleTool tool) {
    static const ToolSpec specs[kRuleToolCount] = {
        {"nft", {"nft", "-a", "list", "ruleset"}, nullptr},
        {"iptables-legacy-save", {"iptables-legacy-save"}, "/proc/net/ip_tables_names"},
        {"ip6tables-legacy-save", {"ip6tables-legacy-save"}, "/proc/net/ip6_tables_names"},
    };
    return specs[static_cast<std::size_t>(tool)];
}

std::optional<std::string> find_program(const std::string& name) {
    for (const char* dir : {"/usr/sbin", "/sbin", "/usr/bin", "/bin", "/usr/local/sbin"}) {
        fs::path p = fs::path(dir) / name;
        if (::access(p.c_str(), X_OK) == 0) return p.string();
    }
    return std::nullopt;
}

// /run/netns entries are bind mounts, never links: O_NOFOLLOW refuses a
// planted one. /proc/PID/ns/net is a magic link that must be followed.
UniqueFd open_netns_file(const std::string& path) {
    int flags = O_RDONLY | O_NONBLOCK | O_CLOEXEC;
    if (path.rfind("/run/netns/", 0) == 0) flags |= O_NOFOLLOW;
    return UniqueFd(::open(path.c_str(), flags));
}

// A socket of `kind` in the calling thread's namespace; sets error on failure.
UniqueFd open_socket_here(NetnsSocket kind, int& error) {
    const int nonblock = kind == NetnsSocket::conntrack_new_events ? SOCK_NONBLOCK : 0;
    UniqueFd fd(::socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC | nonblock, NETLINK_NETFILTER));
    if (!fd) {
        error = errno;
        return {};
    }
    if (kind == NetnsSocket::nfnetlink) return fd;
    // FORCE ignores net.core.rmem_max (needs CAP_NET_ADMIN); plain SO_RCVBUF
    // is capped by it but better than the default.
    int size = kReceiveBuffer;
    if (::setsockopt(fd.get(), SOL_SOCKET, SO_RCVBUFFORCE, &size, sizeof size) != 0)
        ::setsockopt(fd.get(), SOL_SOCKET, SO_RCVBUF, &size, sizeof size);
    sockaddr_nl addr{};
    addr.nl_family = AF_NETLINK;
    if (::bind(fd.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0) {
        error = errno;
        return {};
    }
    int group = NFNLGRP_CONNTRACK_NEW;
    if (::setsockopt(fd.get(), SOL_NETLINK, NETLINK_ADD_MEMBERSHIP, &group, sizeof group) != 0) {
        error = errno;
        return {};
    }
    return fd;
}

// The child's exit codes for what happened before exec.
constexpr int kExitNotEntered = 126;
constexpr int kExitNoRequiredPath = 125;
constexpr int kExitNoExec = 127;

ToolOutput output_in_netns(int netns_fd, const std::string& program, const ToolSpec& spec) {
    ToolOutput result;
    // Everything the child needs is prepared before fork(): after it, a
    // multi-threaded process may only make async-signal-safe calls.
    std::vector<char*> args;
    for (const char* a : spec.argv) args.push_back(const_cast<char*>(a));
    args.push_back(nullptr);
    int pipe_fds[2];
    if (::pipe2(pipe_fds, O_CLOEXEC) != 0) return {{NetnsStatus::failed, errno}, {}};
    UniqueFd read_end(pipe_fds[0]), write_end(pipe_fds[1]);

    const pid_t child = ::fork();
    if (child < 0) return {{NetnsStatus::failed, errno}, {}};
    if (child == 0) {
        // The event loop blocks SIGINT/SIGTERM/SIGHUP for its signalfd and
        // the broker ignores them; the tool must inherit neither.
        sigset_t none;
        sigemptyset(&none);
        ::sigprocmask(SIG_SETMASK, &none, nullptr);
        for (int sig : {SIGINT, SIGTERM, SIGHUP, SIGPIPE}) ::signal(sig, SIG_DFL);
        if (::setns(netns_fd, CLONE_NEWNET) != 0) ::_exit(kExitNotEntered);
        if (spec.required_path && ::access(spec.required_path, F_OK) != 0) ::_exit(kExitNoRequiredPath);
        int null = ::open("/dev/null", O_RDWR);
        if (null < 0 || ::dup2(null, STDIN_FILENO) < 0 || ::dup2(null, STDERR_FILENO) < 0 ||
            ::dup2(write_end.get(), STDOUT_FILENO) < 0)
            ::_exit(kExitNotEntered);
        ::execv(program.c_str(), args.data());
        ::_exit(kExitNoExec);
    }
    write_end.reset();

    const auto deadline = std::chrono::steady_clock::now() + kToolTimeout;
    bool timed_out = false;
    for (;;) {
        const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
        if (left.count() <= 0) {
            timed_out = true;
            break;
        }
        pollfd p{read_end.get(), POLLIN, 0};
        int ready = ::poll(&p, 1, static_cast<int>(left.count()));
        if (ready <= 0) continue;
        char buf[65536];
        ssize_t n = ::read(read_end.get(), buf, sizeof buf);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;
        if (result.output.size() < kMaxToolOutput) result.output.append(buf, static_cast<std::size_t>(n));
    }
    if (timed_out) ::kill(child, SIGKILL);
    int status = 0;
    while (::waitpid(child, &status, 0) < 0 && errno == EINTR) {
    }
    if (timed_out) return {{NetnsStatus::failed, ETIMEDOUT}, {}};
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0) return result;
    if (WIFEXITED(status) && WEXITSTATUS(status) == kExitNotEntered) return {{NetnsStatus::unreachable, EPERM}, {}};
    if (WIFEXITED(status) && WEXITSTATUS(status) == kExitNoRequiredPath) return {{NetnsStatus::failed, ENODATA}, {}};
    return {{NetnsStatus::failed, EIO}, {}};
}

// The namespace file, open, checked against the inode expected.
struct OpenedNetns : NetnsOutcome {
    UniqueFd fd;
    uint64_t inode = 0;
};

OpenedNetns open_netns(const NetnsTarget& ns) {
    OpenedNetns out;
    out.fd = open_netns_file(ns.path);
    struct stat st{};
    if (!out.fd || ::fstat(out.fd.get(), &st) != 0) {
        out.status = NetnsStatus::unreachable;
        out.error = errno;
        return out;
    }
    out.inode = st.st_ino;
    if (ns.inode && out.inode != ns.inode) out.status = NetnsStatus::moved;
    return out;
}

}  // namespace

const char* tool_name(RuleTool tool) { return tool_spec(tool).name; }

NetnsOutcome in_netns(const NetnsTarget& ns, const std::function<void()>& fn) {
    OpenedNetns opened = open_netns(ns);
    if (!opened.ok()) return opened;
    // Our own namespace (the calling thread's: thread-self, not self): no
    // setns, no CAP_SYS_ADMIN needed.
    if (inode_of("/proc/thread-self/ns/net") == opened.inode) {
        fn();
        return {};
    }
    int error = 0;
    std::thread worker([&] {
        if (::setns(opened.fd.get(), CLONE_NEWNET) != 0) {
            error = errno;
            return;
        }
        fn();
    });
    worker.join();
    if (error) return {NetnsStatus::unreachable, error};
    return {};
}

NetnsFiles InProcessNetns::open_files(const NetnsTarget& ns, NetnsFileSet which) {
    NetnsFiles out;
    static_cast<NetnsOutcome&>(out) = in_netns(ns, [&] {
        for (std::size_t i = 0; i < kNetnsFileCount; ++i) {
            if (!(which & (1u << i))) continue;
            out.fds[i].reset(::open(kFilePaths[i], O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
            if (!out.fds[i]) out.errors[i] = errno;
        }
    });
    return out;
}

NetnsSocketFd InProcessNetns::open_socket(const NetnsTarget& ns, NetnsSocket kind) {
    NetnsSocketFd out;
    int error = 0;
    static_cast<NetnsOutcome&>(out) = in_netns(ns, [&] { out.fd = open_socket_here(kind, error); });
    if (out.ok() && !out.fd) out = {{NetnsStatus::failed, error}, {}};
    return out;
}

ToolOutput InProcessNetns::run_tool(const NetnsTarget& ns, RuleTool tool) {
    const ToolSpec& spec = tool_spec(tool);
    auto program = find_program(spec.name);
    if (!program) return {{NetnsStatus::failed, ENOENT}, {}};
    OpenedNetns opened = open_netns(ns);
    if (!opened.ok()) return {opened, {}};
    return output_in_netns(opened.fd.get(), *program, spec);
}

NetnsAccess& in_process_netns() {
    static InProcessNetns in_process;
    return in_process;
}

std::optional<std::string> read_fd_text(int fd, std::size_t max_bytes) {
    if (fd < 0) return std::nullopt;
    std::string text;
    char buf[4096];
    for (off_t offset = 0; text.size() < max_bytes;) {
        ssize_t n = ::pread(fd, buf, std::min(sizeof buf, max_bytes - text.size()), offset);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) return std::nullopt;
        if (n == 0) break;
        text.append(buf, static_cast<std::size_t>(n));
        offset += n;
    }
    return text;
}

ConntrackFiles read_conntrack_files(NetnsAccess& access, const NetnsTarget& ns, NetnsFileSet which) {
    // One page of numbers; the statistics are a line per possible CPU.
    constexpr std::size_t kMaxNumber = 64, kMaxStat = 1 << 20;
    ConntrackFiles out;
    NetnsFiles files = access.open_files(ns, which);
    if (!files.ok()) return out;
    auto fd = [&](NetnsFile f) { return files.fds[static_cast<std::size_t>(f)].get(); };
    auto number = [&](NetnsFile f) -> std::optional<uint64_t> {
        auto text = read_fd_text(fd(f), kMaxNumber);
        return text ? parse_number(*text) : std::nullopt;
    };
    out.count = number(NetnsFile::conntrack_count);
    out.max = number(NetnsFile::conntrack_max);
    if (auto text = read_fd_text(fd(NetnsFile::conntrack_stat), kMaxStat)) out.stat = parse_ct_stat(*text);
    return out;
}

}  // namespace nfsleuth
