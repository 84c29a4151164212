// SPDX-License-Identifier: GPL-2.0-only
// nfsl-traffic: sends small, exactly known amounts of TCP, UDP and ICMP
// traffic for the integration tests and prints the 5-tuples it used as one
// JSON object per line, so a test can compare them with what the tracer saw.
// Every mode is bounded in count and in time, and traffic only ever goes to
// the address given on the command line.

#include <arpa/inet.h>
#include <linux/sctp.h>
#include <netinet/icmp6.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <stdexcept>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

namespace {

constexpr uint64_t kMaxCount = 10'000'000;
constexpr uint64_t kMaxIcmpCount = 65535;  // echo sequence numbers are 16 bits
constexpr uint64_t kMaxFlows = 10'000;
constexpr uint64_t kMaxMs = 86'400'000;  // one day
constexpr uint64_t kMaxUdpPayload = 65507;
constexpr uint64_t kSpareFds = 16;  // stdio, epoll, probes
constexpr int kListenBacklog = 4096;
constexpr size_t kSendBatch = 64;
constexpr int64_t kNsPerMs = 1'000'000;
constexpr int64_t kNsPerSec = 1'000'000'000;

constexpr char kUsage[] = R"(Usage: nfsl-traffic MODE [OPTIONS]

Sends an exactly known amount of test traffic and prints one JSON object per
line on stdout describing what was sent; diagnostics go to stderr.

Modes:
  tcp-listen  --addr A --port P [--duration-ms D]
      Listen on A:P (port 0 picks a free port; backlog 4096) and hold accepted
      connections open until SIGTERM/SIGINT or until D ms have passed.
      The first line is {"event":"listening",...}; a summary line ends it.
  tcp-connect --dst A --port P --count N [--timeout-ms T=1500] [--hold-ms H=0]
              [--send TEXT] [--send-gap-ms G=100] [--close fin|reset] [--src S]
      Start N nonblocking connects at once; each one connects or fails, and
      those still pending after T ms fail with ETIMEDOUT. Each connected one
      then writes TEXT (\r, \n, \t, \\ escapes), one line at a time with G ms
      between lines, so each line leaves in a segment of its own. Prints one
      line per attempt in order, keeps the connected ones open H ms, then
      closes them (reset: with an RST, dropping what is still unsent or
      unacknowledged, so nothing is retransmitted after) and prints a summary.
  udp-send    --dst A --port P --count N [--flows F=1] [--rate PPS=0]
              [--max-ms M=10000] [--payload BYTES=16 | --text TEXT] [--src S]
              [--exit-after-us U=0]
      Send N datagrams round-robin over F source ports, at PPS datagrams per
      second (0: as fast as possible), stopping early after M ms. Each
      datagram holds BYTES bytes, or TEXT (escapes as for --send). Prints one
      line per flow and a summary, and exits U microseconds after the last
      datagram (to exit while a tracer is still reading the process).
  icmp-echo   --dst A --count N [--timeout-ms T=1000] [--socket auto|ping|raw]
              [--src S]
      Send N echo requests and count the replies that arrive within T ms of
      the last request. auto: a ping socket if net.ipv4.ping_group_range
      allows it, else a raw socket; ping and raw insist on that kind.
  sctp-connect --dst A --port P --count N [--timeout-ms T=1000]
               [--socket auto|kernel|raw] [--src S]
      Start N SCTP associations, each with exactly one INIT chunk from its own
      source port. kernel: N nonblocking SCTP sockets (INIT retransmission
      held off for longer than T), those not up after T ms fail with
      ETIMEDOUT. raw: N INIT packets built here and sent on a raw IP socket,
      for kernels whose conntrack tracks SCTP but which have no SCTP sockets;
      each attempt reports whether the INIT left. auto: kernel if the kernel
      has SCTP sockets, else raw. One line per attempt, then a summary.

Addresses are IPv4 or IPv6 literals (127.0.0.1, ::1, fd00::1); --src must be
of the same family as --dst. --count is at most 10000000 (65535 for
icmp-echo, 10000 for sctp-connect). Exit status: 0 done (failed connections
included), 1 system error, 2 bad usage.
)";

// A bad command line; main() exits with status 2.
struct UsageError : std::runtime_error {
    using std::runtime_error::runtime_error;
};

// A failed system call; main() exits with status 1.
struct SystemError : std::runtime_error {
    SystemError(const std::string& what, int err)
        : std::runtime_error(what + ": " + std::strerror(err)) {}
};

// Owns a file descriptor and closes it exactly once.
class Fd {
public:
    Fd() = default;
    explicit Fd(int fd) : fd_(fd) {}
    Fd(Fd&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
    Fd& operator=(Fd&& other) noexcept {
        if (this != &other) {
            reset();
            fd_ = std::exchange(other.fd_, -1);
        }
        return *this;
    }
    Fd(const Fd&) = delete;
    Fd& operator=(const Fd&) = delete;
    ~Fd() { reset(); }

    int get() const { return fd_; }
    explicit operator bool() const { return fd_ >= 0; }
    void reset() {
        if (fd_ >= 0) ::close(fd_);
        fd_ = -1;
    }

private:
    int fd_ = -1;
};

std::string errno_name(int err) {
    const char* name = strerrorname_np(err);
    return name ? name : "errno" + std::to_string(err);
}

using ErrnoCounts = std::map<int, uint64_t>;
constexpr int kUnreportedErrno = 0;  // a send failed, but the kernel did not say why

std::string errno_counts_json(const ErrnoCounts& counts) {
    std::string out = "{";
    for (const auto& [err, n] : counts) {
        if (out.size() > 1) out += ',';
        out += '"' + (err == kUnreportedErrno ? std::string("unreported") : errno_name(err)) + "\":" +
               std::to_string(n);
    }
    return out + '}';
}

// Builds one single-line JSON object. Only addresses and fixed words are
// ever printed as strings, so nothing needs escaping.
class JsonLine {
public:
    JsonLine& str(const char* key, const std::string& value) { return field(key, '"' + value + '"'); }
    JsonLine& num(const char* key, uint64_t value) { return field(key, std::to_string(value)); }
    JsonLine& boolean(const char* key, bool value) { return field(key, value ? "true" : "false"); }
    JsonLine& null(const char* key) { return field(key, "null"); }
    JsonLine& raw(const char* key, const std::string& json) { return field(key, json); }

    // Flushed per line so a test reading a pipe sees each line as it happens.
    void print() const {
        std::printf("%s}\n", text_.c_str());
        std::fflush(stdout);
    }

private:
    JsonLine& field(const char* key, const std::string& value) {
        if (text_.size() > 1) text_ += ',';
        text_ += '"';
        text_ += key;
        text_ += "\":";
        text_ += value;
        return *this;
    }
    std::string text_ = "{";
};

int64_t now_ns() {
    timespec ts{};
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * kNsPerSec + ts.tv_nsec;
}

void sleep_until_ns(int64_t when) {
    const timespec ts{static_cast<time_t>(when / kNsPerSec), static_cast<long>(when % kNsPerSec)};
    while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, nullptr) == EINTR) {
    }
}

// Milliseconds left until a deadline, rounded up so a poll never wakes early.
int ms_until(int64_t deadline) {
    const int64_t left = deadline - now_ns();
    return left <= 0 ? 0 : static_cast<int>((left + kNsPerMs - 1) / kNsPerMs);
}

// An IPv4 or IPv6 socket address.
class Endpoint {
public:
    static bool parse(const std::string& text, uint16_t port, Endpoint& out) {
        out = Endpoint();
        auto* v4 = reinterpret_cast<sockaddr_in*>(&out.ss_);
        auto* v6 = reinterpret_cast<sockaddr_in6*>(&out.ss_);
        if (inet_pton(AF_INET, text.c_str(), &v4->sin_addr) == 1) {
            v4->sin_family = AF_INET;
        } else if (inet_pton(AF_INET6, text.c_str(), &v6->sin6_addr) == 1) {
            v6->sin6_family = AF_INET6;
        } else {
            return false;
        }
        out.set_port(port);
        return true;
    }

    static Endpoint any(int family) {
        Endpoint e;
        e.ss_.ss_family = static_cast<sa_family_t>(family);  // zeroed address is the wildcard
        return e;
    }

    static Endpoint local_of(const Fd& fd) {
        Endpoint e;
        socklen_t len = sizeof(e.ss_);
        if (getsockname(fd.get(), e.sa(), &len) != 0) throw SystemError("getsockname failed", errno);
        return e;
    }

    int family() const { return ss_.ss_family; }
    sockaddr* sa() { return reinterpret_cast<sockaddr*>(&ss_); }
    const sockaddr* sa() const { return reinterpret_cast<const sockaddr*>(&ss_); }
    socklen_t len() const { return family() == AF_INET ? sizeof(sockaddr_in) : sizeof(sockaddr_in6); }

    uint16_t port() const {
        return ntohs(family() == AF_INET ? reinterpret_cast<const sockaddr_in*>(&ss_)->sin_port
                                         : reinterpret_cast<const sockaddr_in6*>(&ss_)->sin6_port);
    }
    void set_port(uint16_t port) {
        if (family() == AF_INET)
            reinterpret_cast<sockaddr_in*>(&ss_)->sin_port = htons(port);
        else
            reinterpret_cast<sockaddr_in6*>(&ss_)->sin6_port = htons(port);
    }

    std::string addr() const {
        char buf[INET6_ADDRSTRLEN] = {};
        const void* raw = family() == AF_INET
                              ? static_cast<const void*>(&reinterpret_cast<const sockaddr_in*>(&ss_)->sin_addr)
                              : static_cast<const void*>(&reinterpret_cast<const sockaddr_in6*>(&ss_)->sin6_addr);
        inet_ntop(family(), raw, buf, sizeof(buf));
        return buf;
    }
    // "A:P" or "[A]:P", for diagnostics.
    std::string text() const {
        const std::string a = family() == AF_INET ? addr() : '[' + addr() + ']';
        return a + ':' + std::to_string(port());
    }

private:
    sockaddr_storage ss_{};
};

// The command line: a mode and its --name value options.
class Args {
public:
    Args(int argc, char** argv) {
        if (argc < 2) throw UsageError("missing MODE");
        mode_ = argv[1];
        const auto* spec = find_spec(mode_);
        if (!spec) throw UsageError("unknown mode '" + mode_ + "'");
        for (int i = 2; i < argc; i += 2) {
            const std::string name = argv[i];
            if (!allowed(*spec, name)) throw UsageError("option '" + name + "' is not valid for " + mode_);
            if (i + 1 >= argc) throw UsageError("option " + name + " needs a value");
            if (!opts_.emplace(name, argv[i + 1]).second) throw UsageError("option " + name + " given twice");
        }
    }

    const std::string& mode() const { return mode_; }
    bool has(const char* name) const { return opts_.count(name) != 0; }

    uint64_t number(const char* name, uint64_t min, uint64_t max) const {
        const std::string& text = value(name);
        char* end = nullptr;
        errno = 0;
        const unsigned long long v = std::strtoull(text.c_str(), &end, 10);
        if (text.empty() || text[0] == '-' || *end != '\0' || errno != 0 || v < min || v > max)
            throw UsageError(std::string(name) + " must be a number from " + std::to_string(min) + " to " +
                             std::to_string(max) + ", not '" + text + "'");
        return v;
    }
    uint64_t number(const char* name, uint64_t min, uint64_t max, uint64_t fallback) const {
        return has(name) ? number(name, min, max) : fallback;
    }

    // The option's value with \r, \n, \t and \\ turned into the bytes they
    // name: application payloads (an FTP command, a SIP request) need them.
    std::string text(const char* name) const {
        const std::string& raw = value(name);
        std::string out;
        for (size_t i = 0; i < raw.size(); i++) {
            if (raw[i] != '\\') {
                out += raw[i];
                continue;
            }
            if (++i == raw.size()) throw UsageError(std::string(name) + " ends in a lone backslash");
            switch (raw[i]) {
                case 'r': out += '\r'; break;
                case 'n': out += '\n'; break;
                case 't': out += '\t'; break;
                case '\\': out += '\\'; break;
                default: throw UsageError(std::string(name) + ": unknown escape \\" + raw[i]);
            }
        }
        return out;
    }

    // One of a fixed set of words; fallback when the option is absent.
    std::string choice(const char* name, const std::vector<std::string>& words, const std::string& fallback) const {
        if (!has(name)) return fallback;
        const std::string& v = value(name);
        if (std::find(words.begin(), words.end(), v) != words.end()) return v;
        std::string list;
        for (const auto& w : words) list += (list.empty() ? "" : "|") + w;
        throw UsageError(std::string(name) + " must be one of " + list + ", not '" + v + "'");
    }

    Endpoint address(const char* name, uint16_t port) const {
        Endpoint e;
        if (!Endpoint::parse(value(name), port, e))
            throw UsageError(std::string(name) + " '" + value(name) + "' is not an IPv4 or IPv6 address");
        return e;
    }

private:
    struct Spec {
        const char* mode;
        std::vector<const char*> options;
    };

    static const Spec* find_spec(const std::string& mode) {
        static const Spec specs[] = {
            {"tcp-listen", {"--addr", "--port", "--duration-ms"}},
            {"tcp-connect",
             {"--dst", "--port", "--count", "--timeout-ms", "--hold-ms", "--send", "--send-gap-ms", "--close", "--src"}},
            {"udp-send",
             {"--dst", "--port", "--count", "--flows", "--rate", "--max-ms", "--payload", "--text", "--src",
              "--exit-after-us"}},
            {"icmp-echo", {"--dst", "--count", "--timeout-ms", "--socket", "--src"}},
            {"sctp-connect", {"--dst", "--port", "--count", "--timeout-ms", "--socket", "--src"}},
        };
        for (const auto& s : specs)
            if (mode == s.mode) return &s;
        return nullptr;
    }

    static bool allowed(const Spec& spec, const std::string& name) {
        return std::any_of(spec.options.begin(), spec.options.end(), [&](const char* o) { return name == o; });
    }

    const std::string& value(const char* name) const {
        const auto it = opts_.find(name);
        if (it == opts_.end()) throw UsageError(mode_ + " needs " + name);
        return it->second;
    }

    std::string mode_;
    std::map<std::string, std::string> opts_;
};

Fd open_socket(int family, int type, int protocol) {
    Fd fd(socket(family, type | SOCK_CLOEXEC, protocol));
    if (!fd) throw SystemError("socket() failed", errno);
    return fd;
}

void bind_to(const Fd& fd, const Endpoint& local) {
    if (bind(fd.get(), local.sa(), local.len()) != 0) throw SystemError("bind to " + local.text() + " failed", errno);
}

// The source address the kernel would pick for dst. Connecting a UDP socket
// only does the route lookup; nothing is sent.
Endpoint route_source(const Endpoint& dst) {
    const Fd probe = open_socket(dst.family(), SOCK_DGRAM, 0);
    if (connect(probe.get(), dst.sa(), dst.len()) != 0)
        throw SystemError("no route to " + dst.addr(), errno);
    Endpoint src = Endpoint::local_of(probe);
    src.set_port(0);
    return src;
}

// --src if given, else the routed source. Every socket is bound to this
// address up front, so getsockname() reports the exact source tuple.
Endpoint choose_source(const Args& args, const Endpoint& dst) {
    if (!args.has("--src")) return route_source(dst);
    const Endpoint src = args.address("--src", 0);
    if (src.family() != dst.family()) throw UsageError("--src and --dst must both be IPv4 or both be IPv6");
    return src;
}

// Raises the soft RLIMIT_NOFILE (at most to the hard limit) so that `needed`
// fds fit; `why` names the option that needs them, for the error message.
void ensure_fd_limit(uint64_t needed, const std::string& why) {
    rlimit lim{};
    if (getrlimit(RLIMIT_NOFILE, &lim) != 0) throw SystemError("getrlimit(RLIMIT_NOFILE) failed", errno);
    if (lim.rlim_cur >= needed) return;
    if (lim.rlim_max < needed)
        throw std::runtime_error(why + " needs " + std::to_string(needed) +
                                 " file descriptors but the hard RLIMIT_NOFILE limit is " +
                                 std::to_string(lim.rlim_max));
    lim.rlim_cur = needed;
    if (setrlimit(RLIMIT_NOFILE, &lim) != 0) throw SystemError("setrlimit(RLIMIT_NOFILE) failed", errno);
}

// A listener holds as many connections as it is allowed to.
void raise_fd_limit_to_hard() {
    rlimit lim{};
    if (getrlimit(RLIMIT_NOFILE, &lim) != 0 || lim.rlim_cur == lim.rlim_max) return;
    lim.rlim_cur = lim.rlim_max;
    setrlimit(RLIMIT_NOFILE, &lim);  // best effort: accept pauses at the limit anyway
}

void epoll_add(const Fd& ep, int fd, uint32_t events, uint64_t data) {
    epoll_event ev{};
    ev.events = events;
    ev.data.u64 = data;
    if (epoll_ctl(ep.get(), EPOLL_CTL_ADD, fd, &ev) != 0) throw SystemError("epoll_ctl failed", errno);
}

Fd make_epoll() {
    Fd ep(epoll_create1(EPOLL_CLOEXEC));
    if (!ep) throw SystemError("epoll_create1 failed", errno);
    return ep;
}

// ---- tcp-listen -------------------------------------------------------------

// Blocks SIGTERM/SIGINT and returns a signalfd for them. Done before the
// "listening" line is printed, so a test that signals right after reading it
// always gets the clean shutdown path.
Fd termination_signalfd() {
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    if (sigprocmask(SIG_BLOCK, &set, nullptr) != 0) throw SystemError("sigprocmask failed", errno);
    Fd fd(signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC));
    if (!fd) throw SystemError("signalfd failed", errno);
    return fd;
}

Fd open_listener(const Endpoint& addr) {
    Fd fd = open_socket(addr.family(), SOCK_STREAM | SOCK_NONBLOCK, 0);
    const int one = 1;
    setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    // Listening on "::" must not also take IPv4, whatever net.ipv6.bindv6only says.
    if (addr.family() == AF_INET6) setsockopt(fd.get(), IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
    bind_to(fd, addr);
    if (listen(fd.get(), kListenBacklog) != 0) throw SystemError("listen on " + addr.text() + " failed", errno);
    return fd;
}

// Reads and discards what a peer sent; false once the peer closed or reset.
bool drain_connection(int fd) {
    char buf[4096];
    for (;;) {
        const ssize_t n = read(fd, buf, sizeof(buf));
        if (n > 0) continue;
        if (n < 0 && errno == EINTR) continue;
        return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
    }
}

class Listener {
public:
    explicit Listener(const Endpoint& addr)
        : sig_(termination_signalfd()), listen_(open_listener(addr)), ep_(make_epoll()) {
        epoll_add(ep_, sig_.get(), EPOLLIN, static_cast<uint64_t>(sig_.get()));
        epoll_add(ep_, listen_.get(), EPOLLIN, static_cast<uint64_t>(listen_.get()));
    }

    Endpoint local() const { return Endpoint::local_of(listen_); }

    // Serves until a signal or the deadline (-1: none); returns which one.
    const char* serve(int64_t deadline) {
        epoll_event events[64];
        for (;;) {
            const int timeout = deadline < 0 ? -1 : ms_until(deadline);
            if (timeout == 0) return "duration";
            const int n = epoll_wait(ep_.get(), events, 64, timeout);
            if (n < 0 && errno == EINTR) continue;
            if (n < 0) throw SystemError("epoll_wait failed", errno);
            for (int i = 0; i < n; i++) {
                const int fd = static_cast<int>(events[i].data.u64);
                if (fd == sig_.get()) return "signal";
                if (fd == listen_.get())
                    accept_pending();
                else if (!drain_connection(fd))
                    close_connection(fd);
            }
        }
    }

    uint64_t accepted() const { return accepted_; }
    uint64_t open() const { return conns_.size(); }

private:
    void accept_pending() {
        for (;;) {
            Fd conn(accept4(listen_.get(), nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC));
            if (conn) {
                epoll_add(ep_, conn.get(), EPOLLIN | EPOLLRDHUP, static_cast<uint64_t>(conn.get()));
                accepted_++;
                const int fd = conn.get();
                conns_.emplace(fd, std::move(conn));
                continue;
            }
            if (errno == EAGAIN || errno == EWOULDBLOCK) return;
            if (errno == EINTR || errno == ECONNABORTED) continue;
            if (errno == EMFILE || errno == ENFILE) {
                // Out of fds: stop watching the listener (it would stay
                // readable and spin) until a held connection goes away.
                std::fprintf(stderr, "nfsl-traffic: accept paused at %zu connections: %s\n", conns_.size(),
                             std::strerror(errno));
                epoll_ctl(ep_.get(), EPOLL_CTL_DEL, listen_.get(), nullptr);
                paused_ = true;
                return;
            }
            throw SystemError("accept failed", errno);
        }
    }

    // The peer closed; close our side too instead of piling up CLOSE_WAIT.
    void close_connection(int fd) {
        conns_.erase(fd);
        if (paused_) {
            epoll_add(ep_, listen_.get(), EPOLLIN, static_cast<uint64_t>(listen_.get()));
            paused_ = false;
        }
    }

    Fd sig_;
    Fd listen_;
    Fd ep_;
    std::unordered_map<int, Fd> conns_;
    uint64_t accepted_ = 0;
    bool paused_ = false;
};

int run_tcp_listen(const Args& args) {
    const Endpoint addr = args.address("--addr", static_cast<uint16_t>(args.number("--port", 0, 65535)));
    const int64_t deadline =
        args.has("--duration-ms") ? now_ns() + static_cast<int64_t>(args.number("--duration-ms", 1, kMaxMs)) * kNsPerMs
                                  : -1;
    raise_fd_limit_to_hard();
    Listener listener(addr);
    const Endpoint local = listener.local();
    JsonLine().str("event", "listening").num("pid", getpid()).str("addr", local.addr()).num("port", local.port())
        .print();
    const char* reason = listener.serve(deadline);
    JsonLine().str("event", "summary").num("pid", getpid()).num("accepted", listener.accepted())
        .num("open", listener.open()).str("reason", reason).print();
    return 0;
}

// ---- tcp-connect ------------------------------------------------------------

constexpr int kPending = -1;

struct Attempt {
    Fd fd;
    Endpoint src;
    int error = kPending;  // 0: connected, else the errno it failed with
};

// Binds a non-blocking socket to the source (so getsockname() gives the
// exact port) and starts connecting it, without waiting.
Attempt begin_attempt(Fd fd, const Endpoint& src, const Endpoint& dst) {
    Attempt a;
    a.fd = std::move(fd);
    bind_to(a.fd, src);
    a.src = Endpoint::local_of(a.fd);
    if (connect(a.fd.get(), dst.sa(), dst.len()) == 0)
        a.error = 0;
    else if (errno != EINPROGRESS)
        a.error = errno;
    return a;
}

Attempt start_connect(const Endpoint& src, const Endpoint& dst) {
    return begin_attempt(open_socket(dst.family(), SOCK_STREAM | SOCK_NONBLOCK, 0), src, dst);
}

// Waits until every pending attempt has an outcome or the deadline passes;
// the ones still pending then count as ETIMEDOUT. Failed sockets are closed
// at once so they stop retransmitting SYNs.
void wait_for_connects(std::vector<Attempt>& attempts, int64_t deadline) {
    const Fd ep = make_epoll();
    size_t pending = 0;
    for (size_t i = 0; i < attempts.size(); i++) {
        if (attempts[i].error != kPending) continue;
        epoll_add(ep, attempts[i].fd.get(), EPOLLOUT | EPOLLONESHOT, i);
        pending++;
    }
    epoll_event events[256];
    while (pending > 0) {
        const int timeout = ms_until(deadline);
        if (timeout == 0) break;
        const int n = epoll_wait(ep.get(), events, 256, timeout);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) throw SystemError("epoll_wait failed", errno);
        for (int i = 0; i < n; i++) {
            Attempt& a = attempts[events[i].data.u64];
            int err = 0;
            socklen_t len = sizeof(err);
            if (getsockopt(a.fd.get(), SOL_SOCKET, SO_ERROR, &err, &len) != 0) err = errno;
            a.error = err;
            pending--;
        }
    }
    for (Attempt& a : attempts) {
        if (a.error == kPending) a.error = ETIMEDOUT;
        if (a.error != 0) a.fd.reset();
    }
}

// Splits text after each newline: the lines are written one at a time.
std::vector<std::string> split_lines(const std::string& text) {
    std::vector<std::string> lines;
    size_t from = 0;
    while (from < text.size()) {
        const size_t nl = text.find('\n', from);
        const size_t end = nl == std::string::npos ? text.size() : nl + 1;
        lines.push_back(text.substr(from, end - from));
        from = end;
    }
    return lines;
}

// Writes the lines on every connected attempt, gap_ns apart, without Nagle's
// algorithm so that each line goes out as it is written, in a segment of
// its own. Returns the bytes each attempt's socket accepted.
std::vector<uint64_t> send_lines(std::vector<Attempt>& attempts, const std::vector<std::string>& lines,
                                 int64_t gap_ns) {
    std::vector<uint64_t> sent(attempts.size(), 0);
    const int one = 1;
    for (Attempt& a : attempts)
        if (a.error == 0) setsockopt(a.fd.get(), IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    for (size_t l = 0; l < lines.size(); l++) {
        if (l > 0) sleep_until_ns(now_ns() + gap_ns);
        for (size_t i = 0; i < attempts.size(); i++) {
            if (attempts[i].error != 0) continue;
            const ssize_t n = send(attempts[i].fd.get(), lines[l].data(), lines[l].size(), MSG_NOSIGNAL);
            if (n > 0) sent[i] += static_cast<uint64_t>(n);
        }
    }
    return sent;
}

int run_tcp_connect(const Args& args) {
    const Endpoint dst = args.address("--dst", static_cast<uint16_t>(args.number("--port", 1, 65535)));
    const uint64_t count = args.number("--count", 1, kMaxCount);
    const int64_t timeout_ns = static_cast<int64_t>(args.number("--timeout-ms", 1, kMaxMs, 1500)) * kNsPerMs;
    const int64_t hold_ns = static_cast<int64_t>(args.number("--hold-ms", 0, kMaxMs, 0)) * kNsPerMs;
    const int64_t gap_ns = static_cast<int64_t>(args.number("--send-gap-ms", 0, kMaxMs, 100)) * kNsPerMs;
    const bool sending = args.has("--send");
    const std::vector<std::string> lines = sending ? split_lines(args.text("--send")) : std::vector<std::string>{};
    const bool reset = args.choice("--close", {"fin", "reset"}, "fin") == "reset";
    const Endpoint src = choose_source(args, dst);
    ensure_fd_limit(count + kSpareFds, "--count " + std::to_string(count));

    std::vector<Attempt> attempts;
    attempts.reserve(count);
    const int64_t start = now_ns();
    for (uint64_t i = 0; i < count; i++) attempts.push_back(start_connect(src, dst));
    wait_for_connects(attempts, start + timeout_ns);
    const std::vector<uint64_t> sent = send_lines(attempts, lines, gap_ns);

    uint64_t ok = 0;
    for (size_t i = 0; i < attempts.size(); i++) {
        const Attempt& a = attempts[i];
        JsonLine line;
        line.str("proto", "tcp").str("src", a.src.addr()).num("sport", a.src.port());
        line.str("dst", dst.addr()).num("dport", dst.port()).boolean("ok", a.error == 0);
        if (a.error == 0)
            line.null("error");
        else
            line.str("error", errno_name(a.error));
        if (sending) line.num("sent", sent[i]);
        line.print();
        ok += a.error == 0;
    }
    if (hold_ns > 0) sleep_until_ns(now_ns() + hold_ns);
    if (reset) {
        // A zero linger time makes close() abort the connection.
        const linger abort_on_close{1, 0};
        for (const Attempt& a : attempts)
            if (a.error == 0) setsockopt(a.fd.get(), SOL_SOCKET, SO_LINGER, &abort_on_close, sizeof(abort_on_close));
    }
    attempts.clear();
    JsonLine().str("event", "summary").num("pid", getpid()).num("ok", ok).num("failed", count - ok).print();
    return 0;
}

// ---- udp-send ---------------------------------------------------------------

struct Flow {
    Fd fd;
    Endpoint src;
    uint64_t quota = 0;  // datagrams this flow is to send
    uint64_t sent = 0;
    uint64_t errors = 0;
    uint64_t left() const { return quota - sent - errors; }
};

// Splits count over the flows as evenly as possible, so each flow's share is
// known in advance.
std::vector<Flow> open_flows(const Endpoint& src, uint64_t nflows, uint64_t count) {
    std::vector<Flow> flows(nflows);
    for (uint64_t i = 0; i < nflows; i++) {
        Flow& f = flows[i];
        f.fd = open_socket(src.family(), SOCK_DGRAM | SOCK_NONBLOCK, 0);
        bind_to(f.fd, src);
        f.src = Endpoint::local_of(f.fd);
        f.quota = count / nflows + (i < count % nflows ? 1 : 0);
    }
    return flows;
}

// Sends n prepared datagrams on one flow. A datagram the kernel refuses is
// counted as an error and skipped (never retried), so each one is either sent
// or an error.
void send_batch(Flow& flow, mmsghdr* msgs, size_t n, ErrnoCounts& errnos) {
    size_t off = 0;
    bool one_at_a_time = false;
    while (off < n) {
        const size_t want = one_at_a_time ? 1 : n - off;
        const int r = sendmmsg(flow.fd.get(), msgs + off, static_cast<unsigned>(want), MSG_DONTWAIT);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) {
            errnos[errno]++;
            flow.errors++;
            off++;
            continue;
        }
        flow.sent += static_cast<uint64_t>(r);
        off += static_cast<size_t>(r);
        if (static_cast<size_t>(r) < want) {
            // sendmmsg() stopped at a datagram that failed but, having sent
            // some, does not say why. Count that one without a name and send
            // the rest of the batch singly so their errors are named.
            errnos[kUnreportedErrno]++;
            flow.errors++;
            off++;
            one_at_a_time = true;
        }
    }
}

// Sends every flow's quota, visiting the flows round-robin one batch at a
// time. With a rate, batch k waits for its due time so the average rate
// holds without a syscall per datagram. Returns false if the deadline hit.
bool send_flows(std::vector<Flow>& flows, Endpoint dst, std::string data, uint64_t rate, int64_t start,
                int64_t deadline, ErrnoCounts& errnos) {
    const size_t payload = data.size();
    data += '\0';  // a valid buffer even for --payload 0
    iovec iov{data.data(), payload};
    const size_t batch = rate == 0 ? kSendBatch : std::clamp<size_t>(rate / 1000, 1, kSendBatch);
    std::vector<mmsghdr> msgs(batch);
    for (mmsghdr& m : msgs) {
        m = mmsghdr{};
        m.msg_hdr.msg_name = dst.sa();
        m.msg_hdr.msg_namelen = dst.len();
        m.msg_hdr.msg_iov = &iov;
        m.msg_hdr.msg_iovlen = 1;
    }
    uint64_t total = 0;
    for (const Flow& f : flows) total += f.quota;
    uint64_t done = 0;
    size_t next = 0;
    while (done < total) {
        if (rate > 0) {
            const int64_t due = start + static_cast<int64_t>(done * kNsPerSec / rate);
            if (due >= deadline) return false;
            sleep_until_ns(due);
        }
        if (now_ns() >= deadline) return false;
        while (flows[next].left() == 0) next = (next + 1) % flows.size();
        Flow& flow = flows[next];
        const size_t n = static_cast<size_t>(std::min<uint64_t>(batch, flow.left()));
        send_batch(flow, msgs.data(), n, errnos);
        done += n;
        next = (next + 1) % flows.size();
    }
    return true;
}

int run_udp_send(const Args& args) {
    const Endpoint dst = args.address("--dst", static_cast<uint16_t>(args.number("--port", 1, 65535)));
    const uint64_t count = args.number("--count", 1, kMaxCount);
    const uint64_t nflows = args.number("--flows", 1, kMaxFlows, 1);
    const uint64_t rate = args.number("--rate", 0, kMaxCount, 0);
    const int64_t max_ns = static_cast<int64_t>(args.number("--max-ms", 1, kMaxMs, 10000)) * kNsPerMs;
    if (args.has("--payload") && args.has("--text")) throw UsageError("--payload and --text exclude each other");
    const std::string data =
        args.has("--text") ? args.text("--text") : std::string(args.number("--payload", 0, kMaxUdpPayload, 16), 'n');
    if (data.size() > kMaxUdpPayload) throw UsageError("--text is longer than a UDP datagram can be");
    const Endpoint src = choose_source(args, dst);
    const uint64_t exit_after_us = args.number("--exit-after-us", 0, kMaxMs, 0);
    ensure_fd_limit(nflows + kSpareFds, "--flows " + std::to_string(nflows));

    std::vector<Flow> flows = open_flows(src, nflows, count);
    ErrnoCounts errnos;
    const int64_t start = now_ns();
    const bool finished = send_flows(flows, dst, data, rate, start, start + max_ns, errnos);
    const int64_t elapsed_ns = std::max<int64_t>(now_ns() - start, 1);

    uint64_t sent = 0, errors = 0;
    for (const Flow& f : flows) {
        JsonLine().str("proto", "udp").str("src", f.src.addr()).num("sport", f.src.port())
            .str("dst", dst.addr()).num("dport", dst.port()).num("sent", f.sent).num("errors", f.errors).print();
        sent += f.sent;
        errors += f.errors;
    }
    JsonLine().str("event", "summary").num("pid", getpid()).num("sent", sent).num("errors", errors)
        .num("elapsed_ms", static_cast<uint64_t>(elapsed_ns / kNsPerMs))
        .num("pps", static_cast<uint64_t>(static_cast<double>(sent) * kNsPerSec / elapsed_ns))
        .boolean("completed", finished).raw("errnos", errno_counts_json(errnos)).print();
    std::fflush(stdout);
    timespec left{static_cast<time_t>(exit_after_us / 1'000'000), static_cast<long>(exit_after_us % 1'000'000) * 1000};
    while (nanosleep(&left, &left) != 0 && errno == EINTR) {
    }
    return 0;
}

// ---- icmp-echo --------------------------------------------------------------

// The ICMP and ICMPv6 echo headers share this layout.
struct EchoHeader {
    uint8_t type;
    uint8_t code;
    uint16_t checksum;
    uint16_t id;   // network byte order
    uint16_t seq;  // network byte order
};

struct EchoPacket {
    EchoHeader hdr;
    char payload[8];
};

struct IcmpSocket {
    Fd fd;
    bool raw = false;
    uint16_t id = 0;
};

uint16_t inet_checksum(const void* data, size_t len) {
    const auto* p = static_cast<const uint8_t*>(data);
    uint32_t sum = 0;
    for (size_t i = 0; i + 1 < len; i += 2) sum += static_cast<uint32_t>(p[i] << 8 | p[i + 1]);
    if (len % 2) sum += static_cast<uint32_t>(p[len - 1] << 8);
    while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
    return htons(static_cast<uint16_t>(~sum));
}

// A ping socket is what unprivileged ping uses: the kernel picks the echo id
// (read back with getsockname) and builds the header. It is only allowed for
// the groups in net.ipv4.ping_group_range (per network namespace, "1 0", no
// one, by default). A raw socket needs CAP_NET_RAW and sends the header as
// built here. "auto" prefers the ping socket and falls back to raw.
IcmpSocket open_icmp_socket(const Endpoint& src, const std::string& kind) {
    const int proto = src.family() == AF_INET ? int{IPPROTO_ICMP} : int{IPPROTO_ICMPV6};
    IcmpSocket s;
    if (kind != "raw") {
        s.fd = Fd(socket(src.family(), SOCK_DGRAM | SOCK_CLOEXEC, proto));
        if (s.fd) {
            bind_to(s.fd, src);  // port 0: the kernel assigns the echo id now
            s.id = Endpoint::local_of(s.fd).port();
            return s;
        }
        if (kind == "ping")
            throw SystemError("ICMP ping socket() failed (is our group in net.ipv4.ping_group_range?)", errno);
        if (errno != EACCES && errno != EPERM && errno != EPROTONOSUPPORT)
            throw SystemError("ICMP ping socket() failed", errno);
    }
    s.fd = open_socket(src.family(), SOCK_RAW, proto);
    s.raw = true;
    bind_to(s.fd, src);
    s.id = static_cast<uint16_t>(getpid() & 0xffff);
    if (src.family() == AF_INET6) {
        icmp6_filter filter;
        ICMP6_FILTER_SETBLOCKALL(&filter);
        ICMP6_FILTER_SETPASS(ICMP6_ECHO_REPLY, &filter);
        setsockopt(s.fd.get(), IPPROTO_ICMPV6, ICMP6_FILTER, &filter, sizeof(filter));
    }
    return s;
}

EchoPacket make_echo(const IcmpSocket& s, int family, uint16_t seq) {
    EchoPacket pkt{};
    pkt.hdr.type = family == AF_INET ? 8 : ICMP6_ECHO_REQUEST;
    pkt.hdr.id = htons(s.id);
    pkt.hdr.seq = htons(seq);
    std::memcpy(pkt.payload, "nfsltest", sizeof(pkt.payload));
    // The kernel fills in the ICMPv6 and ping-socket checksums itself.
    if (family == AF_INET && s.raw) pkt.hdr.checksum = inet_checksum(&pkt, sizeof(pkt));
    return pkt;
}

// Reads every queued datagram and marks the echo replies that are ours.
void drain_replies(const IcmpSocket& s, int family, std::vector<bool>& replied, uint64_t& replies) {
    uint8_t buf[2048];
    for (;;) {
        const ssize_t n = recv(s.fd.get(), buf, sizeof(buf), MSG_DONTWAIT);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) return;  // EAGAIN, or a queued ICMP error we do not count
        size_t off = 0;
        if (s.raw && family == AF_INET) off = (buf[0] & 0x0f) * 4u;  // raw IPv4 includes the IP header
        if (static_cast<size_t>(n) < off + sizeof(EchoHeader)) continue;
        EchoHeader hdr;
        std::memcpy(&hdr, buf + off, sizeof(hdr));
        const uint8_t reply_type = family == AF_INET ? 0 : ICMP6_ECHO_REPLY;
        const uint16_t seq = ntohs(hdr.seq);
        if (hdr.type != reply_type || ntohs(hdr.id) != s.id || seq >= replied.size() || replied[seq]) continue;
        replied[seq] = true;
        replies++;
    }
}

int run_icmp_echo(const Args& args) {
    const Endpoint dst = args.address("--dst", 0);
    const uint64_t count = args.number("--count", 1, kMaxIcmpCount);
    const int64_t timeout_ns = static_cast<int64_t>(args.number("--timeout-ms", 1, kMaxMs, 1000)) * kNsPerMs;
    const std::string kind = args.choice("--socket", {"auto", "ping", "raw"}, "auto");
    const Endpoint src = choose_source(args, dst);
    const IcmpSocket s = open_icmp_socket(src, kind);

    std::vector<bool> replied(count, false);
    uint64_t sent = 0, errors = 0, replies = 0;
    ErrnoCounts errnos;
    const int64_t start = now_ns();
    for (uint64_t seq = 0; seq < count; seq++) {
        const EchoPacket pkt = make_echo(s, dst.family(), static_cast<uint16_t>(seq));
        if (sendto(s.fd.get(), &pkt, sizeof(pkt), MSG_DONTWAIT, dst.sa(), dst.len()) == sizeof(pkt)) {
            sent++;
        } else {
            errnos[errno]++;
            errors++;
        }
        // Reading as we go keeps the receive buffer from overflowing.
        drain_replies(s, dst.family(), replied, replies);
    }
    const int64_t deadline = now_ns() + timeout_ns;
    while (replies < sent) {
        const int timeout = ms_until(deadline);
        if (timeout == 0) break;
        pollfd pfd{s.fd.get(), POLLIN, 0};
        if (poll(&pfd, 1, timeout) < 0 && errno != EINTR) throw SystemError("poll failed", errno);
        drain_replies(s, dst.family(), replied, replies);
    }
    const int64_t elapsed_ns = now_ns() - start;

    JsonLine().str("proto", dst.family() == AF_INET ? "icmp" : "icmpv6").str("src", src.addr())
        .str("dst", dst.addr()).num("id", s.id).str("socket", s.raw ? "raw" : "ping").num("sent", sent)
        .num("replies", replies).num("errors", errors).print();
    JsonLine().str("event", "summary").num("pid", getpid()).num("sent", sent).num("replies", replies)
        .num("errors", errors).num("elapsed_ms", static_cast<uint64_t>(elapsed_ns / kNsPerMs))
        .raw("errnos", errno_counts_json(errnos)).print();
    return 0;
}

// ---- sctp-connect -----------------------------------------------------------

constexpr uint64_t kMaxSctpCount = 10'000;
constexpr uint64_t kMaxSctpTimeoutMs = 30'000;
// Longer than any --timeout-ms: a kernel socket never retransmits its INIT
// while we wait, so each attempt puts exactly one INIT on the wire.
constexpr uint32_t kSctpInitRtoMs = 60'000;
constexpr size_t kSctpCommonHeader = 12;
constexpr size_t kSctpInitChunk = 20;
constexpr uint8_t kSctpChunkInit = 1;

// Whether this kernel has SCTP sockets (on kernels with modules, asking
// loads the sctp module, as any SCTP application would).
bool kernel_has_sctp(int family) {
    const Fd probe(socket(family, SOCK_STREAM | SOCK_CLOEXEC, IPPROTO_SCTP));
    if (probe) return true;
    if (errno == EPROTONOSUPPORT || errno == ESOCKTNOSUPPORT || errno == EAFNOSUPPORT) return false;
    throw SystemError("SCTP socket() failed", errno);
}

// One SCTP association attempt on a kernel socket, INIT retransmission held
// off.
Attempt start_sctp_connect(const Endpoint& src, const Endpoint& dst) {
    Fd fd = open_socket(dst.family(), SOCK_STREAM | SOCK_NONBLOCK, IPPROTO_SCTP);
    sctp_rtoinfo rto{};
    rto.srto_initial = kSctpInitRtoMs;
    rto.srto_max = kSctpInitRtoMs;  // srto_min 0: unchanged
    if (setsockopt(fd.get(), IPPROTO_SCTP, SCTP_RTOINFO, &rto, sizeof(rto)) != 0)
        throw SystemError("setsockopt(SCTP_RTOINFO) failed", errno);
    return begin_attempt(std::move(fd), src, dst);
}

// An SCTP socket polls writable while its association is still being set up,
// so epoll cannot tell when it is: the association's state is read instead,
// every few milliseconds, until each attempt is up or has failed, or until
// the deadline (those still pending then fail with ETIMEDOUT).
void wait_for_sctp(std::vector<Attempt>& attempts, int64_t deadline) {
    constexpr int64_t kPollNs = 10 * kNsPerMs;
    for (;;) {
        size_t pending = 0;
        for (Attempt& a : attempts) {
            if (a.error != kPending) continue;
            int err = 0;
            socklen_t len = sizeof(err);
            if (getsockopt(a.fd.get(), SOL_SOCKET, SO_ERROR, &err, &len) != 0) err = errno;
            sctp_status status{};
            len = sizeof(status);
            if (err != 0)
                a.error = err;  // e.g. ECONNREFUSED: the peer answered with an ABORT
            else if (getsockopt(a.fd.get(), IPPROTO_SCTP, SCTP_STATUS, &status, &len) == 0 &&
                     status.sstat_state == SCTP_ESTABLISHED)
                a.error = 0;
            else
                pending++;
        }
        if (pending == 0 || now_ns() + kPollNs > deadline) break;
        sleep_until_ns(now_ns() + kPollNs);
    }
    for (Attempt& a : attempts) {
        if (a.error == kPending) a.error = ETIMEDOUT;
        if (a.error != 0) a.fd.reset();
    }
}

// CRC32c (Castagnoli), the SCTP checksum (RFC 9260 appendix A), bit by bit:
// a handful of small packets needs no table.
uint32_t crc32c(const uint8_t* data, size_t len) {
    uint32_t crc = 0xffffffffu;
    for (size_t i = 0; i < len; i++) {
        crc ^= data[i];
        for (int bit = 0; bit < 8; bit++) crc = (crc >> 1) ^ (0x82f63b78u & (0u - (crc & 1u)));
    }
    return ~crc;
}

// An SCTP packet holding one INIT chunk without optional parameters
// (RFC 9260 3.1, 3.3.2): verification tag 0, as an INIT must have.
std::vector<uint8_t> make_sctp_init(uint16_t sport, uint16_t dport, uint32_t init_tag, uint32_t tsn) {
    std::vector<uint8_t> pkt(kSctpCommonHeader + kSctpInitChunk, 0);
    auto put16 = [&](size_t off, uint32_t v) {
        pkt[off] = static_cast<uint8_t>(v >> 8);
        pkt[off + 1] = static_cast<uint8_t>(v);
    };
    auto put32 = [&](size_t off, uint32_t v) {
        put16(off, v >> 16);
        put16(off + 2, v & 0xffff);
    };
    put16(0, sport);
    put16(2, dport);
    pkt[12] = kSctpChunkInit;
    put16(14, kSctpInitChunk);  // chunk length
    put32(16, init_tag);        // initiate tag, never 0
    put32(20, 65536);           // advertised receiver window
    put16(24, 10);              // outbound streams
    put16(26, 10);              // maximum inbound streams
    put32(28, tsn);             // initial TSN
    // Computed with the checksum field zero and stored least significant
    // byte first, as the kernel's sctp_compute_cksum() does.
    const uint32_t crc = crc32c(pkt.data(), pkt.size());
    for (int i = 0; i < 4; i++) pkt[8 + i] = static_cast<uint8_t>(crc >> (8 * i));
    return pkt;
}

// Without kernel SCTP sockets the INITs are built here and sent on one raw
// socket, from consecutive source ports starting at a pid-derived base. The
// raw socket is bound to the source address, so it is that of --src or the
// route, as for the other modes.
int run_sctp_raw(const Endpoint& src, const Endpoint& dst, uint64_t count) {
    const Fd fd = open_socket(dst.family(), SOCK_RAW, IPPROTO_SCTP);
    bind_to(fd, src);
    Endpoint to = dst;
    to.set_port(0);  // a raw socket's "port" is its protocol; 0 means the socket's own
    const uint32_t pid = static_cast<uint32_t>(getpid());
    const uint16_t base = static_cast<uint16_t>(40000 + pid % 10000);  // + count - 1 <= 59998
    uint64_t sent = 0;
    ErrnoCounts errnos;
    for (uint64_t i = 0; i < count; i++) {
        const uint16_t sport = static_cast<uint16_t>(base + i);
        const auto pkt = make_sctp_init(sport, dst.port(), (pid << 16) ^ static_cast<uint32_t>(i + 1),
                                        pid * 2654435761u + static_cast<uint32_t>(i));
        const bool ok = sendto(fd.get(), pkt.data(), pkt.size(), 0, to.sa(), to.len()) ==
                        static_cast<ssize_t>(pkt.size());
        const int err = ok ? 0 : errno;
        JsonLine line;
        line.str("proto", "sctp").str("socket", "raw").str("src", src.addr()).num("sport", sport);
        line.str("dst", dst.addr()).num("dport", dst.port()).boolean("sent", ok);
        if (ok)
            line.null("error");
        else
            line.str("error", errno_name(err));
        line.print();
        if (ok)
            sent++;
        else
            errnos[err]++;
    }
    JsonLine().str("event", "summary").num("pid", getpid()).str("socket", "raw").num("sent", sent)
        .num("errors", count - sent).raw("errnos", errno_counts_json(errnos)).print();
    return 0;
}

int run_sctp_connect(const Args& args) {
    const Endpoint dst = args.address("--dst", static_cast<uint16_t>(args.number("--port", 1, 65535)));
    const uint64_t count = args.number("--count", 1, kMaxSctpCount);
    const int64_t timeout_ns =
        static_cast<int64_t>(args.number("--timeout-ms", 1, kMaxSctpTimeoutMs, 1000)) * kNsPerMs;
    std::string kind = args.choice("--socket", {"auto", "kernel", "raw"}, "auto");
    const Endpoint src = choose_source(args, dst);
    if (kind == "auto") kind = kernel_has_sctp(dst.family()) ? "kernel" : "raw";
    if (kind == "raw") return run_sctp_raw(src, dst, count);

    ensure_fd_limit(count + kSpareFds, "--count " + std::to_string(count));
    std::vector<Attempt> attempts;
    attempts.reserve(count);
    const int64_t start = now_ns();
    for (uint64_t i = 0; i < count; i++) attempts.push_back(start_sctp_connect(src, dst));
    // Closing an association still waiting for its INIT ACK sends nothing
    // (the kernel just deletes it), so no packet follows the INIT.
    wait_for_sctp(attempts, start + timeout_ns);

    uint64_t ok = 0;
    for (const Attempt& a : attempts) {
        JsonLine line;
        line.str("proto", "sctp").str("socket", "kernel").str("src", a.src.addr()).num("sport", a.src.port());
        line.str("dst", dst.addr()).num("dport", dst.port()).boolean("ok", a.error == 0);
        if (a.error == 0)
            line.null("error");
        else
            line.str("error", errno_name(a.error));
        line.print();
        ok += a.error == 0;
    }
    JsonLine().str("event", "summary").num("pid", getpid()).str("socket", "kernel").num("ok", ok)
        .num("failed", count - ok).print();
    return 0;
}

int run(const Args& args) {
    if (args.mode() == "tcp-listen") return run_tcp_listen(args);
    if (args.mode() == "tcp-connect") return run_tcp_connect(args);
    if (args.mode() == "udp-send") return run_udp_send(args);
    if (args.mode() == "sctp-connect") return run_sctp_connect(args);
    return run_icmp_echo(args);
}

}  // namespace

int main(int argc, char** argv) {
    for (int i = 1; i < argc; i++) {
        if (std::strcmp(argv[i], "--help") == 0 || std::strcmp(argv[i], "-h") == 0) {
            std::fputs(kUsage, stdout);
            return 0;
        }
    }
    try {
        return run(Args(argc, argv));
    } catch (const UsageError& e) {
        std::fprintf(stderr, "nfsl-traffic: %s (see nfsl-traffic --help).\n", e.what());
        return 2;
    } catch (const std::exception& e) {
        std::fprintf(stderr, "nfsl-traffic: %s.\n", e.what());
        return 1;
    }
}
