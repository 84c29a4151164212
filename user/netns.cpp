// SPDX-License-Identifier: GPL-2.0-only
#include "netns.hpp"

#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <set>
#include <thread>

#include "unique_fd.hpp"

namespace nfsleuth {

namespace fs = std::filesystem;

// Enough for the largest rulesets; more is cut, not buffered without bound.
constexpr std::size_t kMaxToolOutput = 64 << 20;

std::optional<uint64_t> read_number_file(const std::string& path) {
    std::ifstream in(path);
    uint64_t v;
    if (in >> v) return v;
    return std::nullopt;
}

namespace {

std::optional<uint64_t> inode_of(const std::string& path) {
    struct stat st{};
    if (::stat(path.c_str(), &st) != 0) return std::nullopt;
    return st.st_ino;
}

std::string read_comm(const std::string& pid) {
    std::ifstream in("/proc/" + pid + "/comm");
    std::string comm;
    std::getline(in, comm);
    return comm;
}

}  // namespace

std::vector<NetnsInfo> list_network_namespaces() {
    std::vector<NetnsInfo> out;
    std::set<uint64_t> seen;
    auto add = [&](const std::string& path, std::string name) {
        auto ino = inode_of(path);
        if (!ino || !seen.insert(*ino).second) return;
        out.push_back({*ino, std::move(name), path, std::nullopt, std::nullopt, std::nullopt});
    };
    add("/proc/1/ns/net", "init");
    add("/proc/self/ns/net", "self");
    // Explicit increment(ec): a range-for's ++ throws when an entry goes
    // away under it, which processes do all the time.
    std::error_code ec;
    std::vector<fs::path> named;
    for (fs::directory_iterator it("/run/netns", ec), end; !ec && it != end; it.increment(ec))
        named.push_back(it->path());
    std::sort(named.begin(), named.end());
    for (const auto& p : named) add(p.string(), p.filename().string());
    std::vector<long> pids;
    for (fs::directory_iterator it("/proc", ec), end; !ec && it != end; it.increment(ec)) {
        const auto name = it->path().filename().string();
        if (!name.empty() && name.size() < 10 && std::all_of(name.begin(), name.end(), ::isdigit))
            pids.push_back(std::stol(name));
    }
    std::sort(pids.begin(), pids.end());
    for (long pid : pids) {
        auto s = std::to_string(pid);
        add("/proc/" + s + "/ns/net", "pid " + s + " (" + read_comm(s) + ")");
    }
    return out;
}

bool run_in_netns(const std::string& netns_path, const std::function<void()>& fn) {
    bool entered = false;
    std::thread worker([&] {
        int fd = ::open(netns_path.c_str(), O_RDONLY | O_CLOEXEC);
        if (fd < 0) return;
        entered = ::setns(fd, CLONE_NEWNET) == 0;
        ::close(fd);
        if (entered) fn();
    });
    worker.join();
    return entered;
}

std::optional<std::string> output_in_netns(const std::string& netns_path, const std::string& program,
                                           const std::vector<std::string>& argv, const std::string& required_path,
                                           std::chrono::milliseconds timeout) {
    // Everything the child needs is prepared before fork(): after it, a
    // multi-threaded process may only make async-signal-safe calls.
    UniqueFd netns(::open(netns_path.c_str(), O_RDONLY | O_CLOEXEC));
    if (!netns) return std::nullopt;
    std::vector<char*> args;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    int pipe_fds[2];
    if (::pipe2(pipe_fds, O_CLOEXEC) != 0) return std::nullopt;
    UniqueFd read_end(pipe_fds[0]), write_end(pipe_fds[1]);

    const pid_t child = ::fork();
    if (child < 0) return std::nullopt;
    if (child == 0) {
        // The event loop blocks SIGINT/SIGTERM/SIGHUP for its signalfd; the
        // tool must not inherit that mask through exec.
        sigset_t none;
        sigemptyset(&none);
        ::sigprocmask(SIG_SETMASK, &none, nullptr);
        if (::setns(netns.get(), CLONE_NEWNET) != 0) ::_exit(126);
        if (!required_path.empty() && ::access(required_path.c_str(), F_OK) != 0) ::_exit(125);
        int null = ::open("/dev/null", O_RDWR);
        if (null < 0 || ::dup2(null, STDIN_FILENO) < 0 || ::dup2(null, STDERR_FILENO) < 0 ||
            ::dup2(write_end.get(), STDOUT_FILENO) < 0)
            ::_exit(126);
        ::execv(program.c_str(), args.data());
        ::_exit(127);
    }
    write_end.reset();

    std::string out;
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    bool timed_out = false;
    for (;;) {
        const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
        if (left.count() <= 0) {
            timed_out = true;
            break;
        }
        pollfd p{read_end.get(), POLLIN, 0};
        int ready = ::poll(&p, 1, static_cast<int>(left.count()));
        if (ready < 0 && errno == EINTR) continue;
        if (ready <= 0) continue;
        char buf[65536];
        ssize_t n = ::read(read_end.get(), buf, sizeof buf);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;
        if (out.size() < kMaxToolOutput) out.append(buf, static_cast<std::size_t>(n));
    }
    if (timed_out) ::kill(child, SIGKILL);
    int status = 0;
    while (::waitpid(child, &status, 0) < 0 && errno == EINTR) {
    }
    if (timed_out || !WIFEXITED(status) || WEXITSTATUS(status) != 0) return std::nullopt;
    return out;
}

void read_conntrack_fill(std::vector<NetnsInfo>& namespaces) {
    for (auto& ns : namespaces) {
        run_in_netns(ns.path, [&ns] {
            ns.ct_count = read_number_file("/proc/sys/net/netfilter/nf_conntrack_count");
            ns.ct_max = read_number_file("/proc/sys/net/netfilter/nf_conntrack_max");
            if (auto stat = read_ct_stat_here()) ns.ct_stat = total(*stat);
        });
    }
}

}  // namespace nfsleuth
