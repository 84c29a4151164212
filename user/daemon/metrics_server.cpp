// SPDX-License-Identifier: GPL-2.0-only
#include "daemon/metrics_server.hpp"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <cstdint>
#include <exception>
#include <iostream>
#include <optional>
#include <string_view>
#include <system_error>
#include <thread>
#include <vector>

#include "common/error.hpp"
#include "common/text.hpp"
#include "common/unique_fd.hpp"
#include "daemon/metrics_http.hpp"

// Not cpp-httplib, which this endpoint used before: the Debian build (0.11)
// queues connections without bound for a fixed set of worker threads that a
// few slow clients hold, reads request lines and header lists of any length
// and count, has no deadline for a whole request, and its shutdown waits for
// the workers' clients. A GET-only server on one non-blocking thread is
// smaller than the guards all that would need.

namespace nfsleuth {

namespace {

using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

constexpr const char* kMetricsContentType = "text/plain; version=0.0.4; charset=utf-8";
constexpr const char* kTextContentType = "text/plain; charset=utf-8";
constexpr const char* kForms = "use HOST:PORT, [IPV6]:PORT or :PORT, e.g. 127.0.0.1:9100, [::1]:9100 or :9100";

// Scrapes come every few seconds from one or two Prometheus servers; the
// rest of the slots absorb clients that connect and say nothing.
constexpr std::size_t kMaxConnections = 32;
constexpr int kListenBacklog = 64;
// A connection that sends nothing for this long, or has not sent a whole
// request head this long after it was accepted, is closed.
constexpr Clock::duration kSilenceLimit = 3s;
constexpr Clock::duration kRequestDeadline = 5s;
// A client must take its response within this time.
constexpr Clock::duration kResponseDeadline = 5s;
// The kernel memory a connection's unsent answer may take: a fixed send
// buffer, not TCP's autotuning (up to net.ipv4.tcp_wmem's 4 MB for each of
// the 32 connections). A scrape reads it in a few round trips.
constexpr int kSendBuffer = 256 << 10;
// A client that takes no byte of its answer for this long, while others
// wait for a connection, has stalled: it gives its slot up.
constexpr Clock::duration kStallLimit = 1s;
// After the response, how long input is still read (and discarded) so that
// closing does not reset the connection before the client has read it.
constexpr Clock::duration kLingerTime = 1s;
// Out of descriptors or memory, accepting waits this long before retrying.
constexpr Clock::duration kAcceptPause = 100ms;
// Bounds one wakeup's work, so a flood of connections delays no request.
constexpr int kAcceptsPerWakeup = 64;

bool is_host_char(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '-' ||
           c == '_' || c == ':' || c == '%';
}

}  // namespace

ListenAddress parse_listen_address(const std::string& text) {
    auto bad = [&](const std::string& why) {
        return Failure(ExitCode::usage, "invalid listen address \"" + escape_for_terminal(text) + "\": " + why, kForms);
    };
    ListenAddress out;
    std::string port_text;
    if (!text.empty() && text.front() == '[') {
        auto close = text.find(']');
        if (close == std::string::npos) throw bad("the IPv6 address lacks its closing bracket");
        out.host = text.substr(1, close - 1);
        if (out.host.empty()) throw bad("the brackets hold no address");
        if (out.host.find(':') == std::string::npos) throw bad("brackets are for IPv6 addresses only");
        if (close + 1 >= text.size() || text[close + 1] != ':') throw bad("a :PORT must follow the brackets");
        port_text = text.substr(close + 2);
    } else {
        auto colon = text.rfind(':');
        if (colon == std::string::npos) throw bad("the port is missing");
        out.host = text.substr(0, colon);
        if (out.host.find(':') != std::string::npos) throw bad("an IPv6 address goes in brackets, as in [::1]:9100");
        port_text = text.substr(colon + 1);
        if (out.host.empty()) out.host = "0.0.0.0";
    }
    for (char c : out.host)
        if (!is_host_char(c)) throw bad("the host holds a character no address or host name has");
    // Digits and dots only is meant as an IPv4 address, never a name.
    in_addr v4;
    if (out.host.find_first_not_of("0123456789.") == std::string::npos && ::inet_pton(AF_INET, out.host.c_str(), &v4) != 1)
        throw bad("not an IPv4 address");
    in6_addr v6;
    const std::string unscoped = out.host.substr(0, out.host.find('%'));
    if (out.host.find(':') != std::string::npos && ::inet_pton(AF_INET6, unscoped.c_str(), &v6) != 1)
        throw bad("not an IPv6 address");
    if (port_text.empty()) throw bad("the port is missing");
    unsigned long port = 0;
    auto [end, ec] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
    if (ec != std::errc{} || end != port_text.data() + port_text.size() || port > 65535)
        throw bad("the port must be a number from 0 to 65535");
    out.port = static_cast<int>(port);
    return out;
}

std::string format_listen_address(const ListenAddress& address) {
    bool v6 = address.host.find(':') != std::string::npos;
    return (v6 ? "[" + address.host + "]" : address.host) + ":" + std::to_string(address.port);
}

namespace {

// What a request gets: the few paths the endpoint has.
class Routes {
public:
    explicit Routes(const MetricsRegistry& registry) : registry_(registry) {}

    std::string answer(const http::Request& request) const {
        bool with_body = request.method == http::Method::get;
        try {
            if (request.path == "/metrics")
                return http::format_response(200, kMetricsContentType, registry_.render(), with_body);
        } catch (const std::exception&) {
            return http::format_response(500, kTextContentType, "internal error\n", with_body);
        }
        if (request.path == "/")
            return http::format_response(200, kTextContentType, "nfsleuth: Prometheus metrics are at /metrics\n",
                                         with_body);
        return http::format_response(404, kTextContentType, "not found; see /metrics\n", with_body);
    }

    static std::string refusal(int status) {
        return http::format_response(status, kTextContentType, std::string(http::status_line_text(status)) + "\n",
                                     true);
    }

private:
    const MetricsRegistry& registry_;
};

bool would_block() { return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR; }

// One client: its request head is read into a fixed buffer, one response is
// written, then the connection lingers until the client closes it.
class Connection {
public:
    enum class Outcome { open, finished };

    Connection(UniqueFd fd, Clock::time_point now) : fd_(std::move(fd)), accepted_(now), last_input_(now) {}

    int fd() const { return fd_.get(); }
    Clock::time_point accepted() const { return accepted_; }
    // Closing it costs no client an answer it is still taking.
    bool evictable(Clock::time_point now) const { return phase_ != Phase::writing || now >= evictable_from(); }
    Clock::time_point evictable_from() const { return last_output_ + kStallLimit; }
    std::uint32_t wanted_events() const { return phase_ == Phase::writing ? EPOLLOUT : EPOLLIN; }

    Clock::time_point deadline() const {
        switch (phase_) {
        case Phase::reading: return std::min(accepted_ + kRequestDeadline, last_input_ + kSilenceLimit);
        case Phase::writing: return phase_started_ + kResponseDeadline;
        case Phase::lingering: break;
        }
        return phase_started_ + kLingerTime;
    }

    Outcome on_ready(const Routes& routes, Clock::time_point now) {
        switch (phase_) {
        case Phase::reading: return read_request(routes, now);
        case Phase::writing: return write_response(now);
        case Phase::lingering: break;
        }
        return discard_input();
    }

private:
    enum class Phase { reading, writing, lingering };

    Outcome read_request(const Routes& routes, Clock::time_point now) {
        ssize_t n = ::recv(fd(), head_.data() + received_, head_.size() - received_, 0);
        if (n < 0) return would_block() ? Outcome::open : Outcome::finished;
        if (n == 0) return Outcome::finished;  // gone before finishing its request
        std::string_view fresh(head_.data() + received_, static_cast<std::size_t>(n));
        received_ += static_cast<std::size_t>(n);
        last_input_ = now;
        // Judged only when a line ends or the buffer is full: a client
        // sending a byte at a time does not cost a parse per byte.
        if (fresh.find('\n') == std::string_view::npos && received_ < head_.size()) return Outcome::open;
        http::HeadVerdict verdict = http::judge_request_head({head_.data(), received_});
        switch (verdict.kind) {
        case http::HeadVerdict::Kind::incomplete: return Outcome::open;
        case http::HeadVerdict::Kind::request: response_ = routes.answer(verdict.request); break;
        case http::HeadVerdict::Kind::rejected: response_ = Routes::refusal(verdict.status); break;
        }
        enter(Phase::writing, now);
        return write_response(now);
    }

    Outcome write_response(Clock::time_point now) {
        while (sent_ < response_.size()) {
            ssize_t n = ::send(fd(), response_.data() + sent_, response_.size() - sent_, MSG_NOSIGNAL);
            if (n < 0) return would_block() ? Outcome::open : Outcome::finished;
            sent_ += static_cast<std::size_t>(n);
            last_output_ = now;
        }
        response_ = std::string();
        // Closing a socket with unread input (a refused body, say) resets
        // the connection, which can destroy the response before the client
        // reads it: end our side, and close once the client has.
        ::shutdown(fd(), SHUT_WR);
        enter(Phase::lingering, now);
        return Outcome::open;
    }

    Outcome discard_input() {
        std::array<char, 4096> scratch;
        ssize_t n = ::recv(fd(), scratch.data(), scratch.size(), 0);
        if (n < 0) return would_block() ? Outcome::open : Outcome::finished;
        return n == 0 ? Outcome::finished : Outcome::open;
    }

    void enter(Phase phase, Clock::time_point now) {
        phase_ = phase;
        phase_started_ = now;
        last_output_ = now;
    }

    UniqueFd fd_;
    Clock::time_point accepted_;
    Clock::time_point last_input_;
    Clock::time_point phase_started_;
    Clock::time_point last_output_;
    Phase phase_ = Phase::reading;
    std::array<char, http::kMaxHeadBytes> head_;
    std::size_t received_ = 0;
    std::string response_;
    std::size_t sent_ = 0;
};

// Accepts, serves and times out connections on the server's thread until
// the stop descriptor becomes readable.
class ServeLoop {
public:
    ServeLoop(int listener, int stop, const MetricsRegistry& registry)
        : listener_(listener), routes_(registry), epoll_(::epoll_create1(EPOLL_CLOEXEC)) {
        if (!epoll_) throw Failure(ExitCode::failure, "epoll_create1 failed: " + std::generic_category().message(errno));
        control(EPOLL_CTL_ADD, stop, kStopId, EPOLLIN);
        control(EPOLL_CTL_ADD, listener_, kListenerId, EPOLLIN);
    }
    ServeLoop(const ServeLoop&) = delete;
    ServeLoop& operator=(const ServeLoop&) = delete;

    void run() {
        std::array<epoll_event, 64> events;
        for (;;) {
            int n = ::epoll_wait(epoll_.get(), events.data(), static_cast<int>(events.size()),
                                 wait_timeout_ms(Clock::now()));
            if (n < 0 && errno != EINTR) throw std::system_error(errno, std::generic_category(), "epoll_wait");
            auto now = Clock::now();
            for (int i = 0; i < n; ++i) {
                std::uint64_t id = events[static_cast<std::size_t>(i)].data.u64;
                if (id == kStopId) return;
                if (id == kListenerId)
                    accept_pending(now);
                else
                    serve(id, now);
            }
            close_expired(now);
        }
    }

private:
    struct Slot {
        std::uint64_t id;
        std::uint32_t events;
        std::unique_ptr<Connection> connection;
    };
    static constexpr std::uint64_t kStopId = 0;
    static constexpr std::uint64_t kListenerId = 1;

    bool control(int op, int fd, std::uint64_t id, std::uint32_t events) {
        epoll_event ev{};
        ev.events = events;
        ev.data.u64 = id;
        return ::epoll_ctl(epoll_.get(), op, fd, &ev) == 0;
    }

    void accept_pending(Clock::time_point now) {
        for (int i = 0; i < kAcceptsPerWakeup; ++i) {
            // Every slot busy answering a client that still reads: newcomers
            // wait in the listen queue until one finishes or stalls.
            if (slots_.size() >= kMaxConnections && evictee(now) == slots_.end()) {
                pause_accepting(next_evictable());
                waiting_for_room_ = true;
                return;
            }
            UniqueFd fd(::accept4(listener_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC));
            if (fd) {
                admit(std::move(fd), now);
                continue;
            }
            if (errno == EAGAIN || errno == EWOULDBLOCK) return;
            // Short of descriptors or memory the connection stays queued and
            // the listener readable: pause rather than spin on it.
            if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
                pause_accepting(now + kAcceptPause);
                return;
            }
            // Anything else concerns that one connection (aborted, network errors).
        }
    }

    void pause_accepting(Clock::time_point until) {
        control(EPOLL_CTL_MOD, listener_, kListenerId, 0);
        accept_resumes_ = until;
        waiting_for_room_ = false;
    }

    // At the limit, the oldest connection not being answered, or answered
    // but stalled, makes room: a client holding many connections, idle or
    // not reading, cannot lock scrapes out.
    std::vector<Slot>::iterator evictee(Clock::time_point now) {
        auto oldest = slots_.end();
        for (auto it = slots_.begin(); it != slots_.end(); ++it)
            if (it->connection->evictable(now) &&
                (oldest == slots_.end() || it->connection->accepted() < oldest->connection->accepted()))
                oldest = it;
        return oldest;
    }

    Clock::time_point next_evictable() const {
        auto next = Clock::time_point::max();
        for (const Slot& s : slots_) next = std::min(next, s.connection->evictable_from());
        return next;
    }

    void admit(UniqueFd fd, Clock::time_point now) {
        if (slots_.size() >= kMaxConnections) forget(evictee(now));
        ::setsockopt(fd.get(), SOL_SOCKET, SO_SNDBUF, &kSendBuffer, sizeof kSendBuffer);
        std::uint64_t id = next_id_++;
        if (!control(EPOLL_CTL_ADD, fd.get(), id, EPOLLIN)) return;
        slots_.push_back({id, EPOLLIN, std::make_unique<Connection>(std::move(fd), now)});
    }

    void serve(std::uint64_t id, Clock::time_point now) {
        auto it = std::find_if(slots_.begin(), slots_.end(), [id](const Slot& s) { return s.id == id; });
        if (it == slots_.end()) return;  // closed earlier in this batch of events
        if (it->connection->on_ready(routes_, now) == Connection::Outcome::finished) {
            forget(it);
            return;
        }
        std::uint32_t wanted = it->connection->wanted_events();
        if (wanted != it->events && control(EPOLL_CTL_MOD, it->connection->fd(), it->id, wanted)) it->events = wanted;
    }

    void close_expired(Clock::time_point now) {
        for (auto it = slots_.begin(); it != slots_.end();) {
            if (it->connection->deadline() <= now)
                it = forget(it);
            else
                ++it;
        }
        const bool room = waiting_for_room_ && slots_.size() < kMaxConnections;
        if (accept_resumes_ && (*accept_resumes_ <= now || room)) {
            control(EPOLL_CTL_MOD, listener_, kListenerId, EPOLLIN);
            accept_resumes_.reset();
            waiting_for_room_ = false;
        }
    }

    std::vector<Slot>::iterator forget(std::vector<Slot>::iterator it) {
        // Explicitly: a copy of the descriptor in a child between fork and
        // exec would keep the registration alive past close().
        control(EPOLL_CTL_DEL, it->connection->fd(), it->id, 0);
        return slots_.erase(it);
    }

    int wait_timeout_ms(Clock::time_point now) const {
        std::optional<Clock::time_point> next = accept_resumes_;
        for (const Slot& s : slots_)
            if (!next || s.connection->deadline() < *next) next = s.connection->deadline();
        if (!next) return -1;
        if (*next <= now) return 0;
        return static_cast<int>(std::chrono::ceil<std::chrono::milliseconds>(*next - now).count());
    }

    int listener_;
    Routes routes_;
    UniqueFd epoll_;
    std::vector<Slot> slots_;
    std::uint64_t next_id_ = kListenerId + 1;
    std::optional<Clock::time_point> accept_resumes_;
    bool waiting_for_room_ = false;  // paused because every slot is busy, not for lack of descriptors
};

std::string bind_failure_remedy(int saved_errno) {
    switch (saved_errno) {
    case EADDRINUSE: return "another process listens on that port; choose another one";
    case EACCES: return "ports below 1024 need CAP_NET_BIND_SERVICE; choose a port above 1023 or run as root";
    case EADDRNOTAVAIL: return "the address is not one of this host's; use one of its addresses, or :PORT for all";
    default: return {};
    }
}

Failure cannot_listen(const ListenAddress& address, const std::string& why, std::string remedy = {}) {
    return Failure(ExitCode::failure, "cannot listen on " + format_listen_address(address) + ": " + why,
                   std::move(remedy));
}

// A listening socket on the first of the host's addresses that binds.
UniqueFd listen_on(const ListenAddress& address) {
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    addrinfo* found = nullptr;
    int gai = ::getaddrinfo(address.host.c_str(), std::to_string(address.port).c_str(), &hints, &found);
    if (gai == EAI_NONAME)
        throw Failure(ExitCode::usage, "cannot listen on " + format_listen_address(address) + ": no such host",
                      "give an address of this host, or a name that resolves to one");
    if (gai != 0)
        throw cannot_listen(address, gai == EAI_SYSTEM ? std::generic_category().message(errno) : ::gai_strerror(gai));
    std::unique_ptr<addrinfo, decltype(&::freeaddrinfo)> owned(found, ::freeaddrinfo);

    int last_errno = EADDRNOTAVAIL;
    for (const addrinfo* ai = found; ai; ai = ai->ai_next) {
        UniqueFd fd(::socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, ai->ai_protocol));
        if (!fd) {
            last_errno = errno;
            continue;
        }
        // Not SO_REUSEPORT, which would let a second daemon bind the same
        // port and silently take half of the scrapes. SO_REUSEADDR only
        // allows a restart while old connections linger in TIME_WAIT.
        int yes = 1;
        ::setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
        if (::bind(fd.get(), ai->ai_addr, ai->ai_addrlen) == 0 && ::listen(fd.get(), kListenBacklog) == 0) return fd;
        last_errno = errno;
    }
    throw cannot_listen(address, std::generic_category().message(last_errno), bind_failure_remedy(last_errno));
}

int bound_port(int fd) {
    sockaddr_storage bound{};
    socklen_t length = sizeof bound;
    if (::getsockname(fd, reinterpret_cast<sockaddr*>(&bound), &length) != 0)
        throw Failure(ExitCode::failure, "getsockname failed: " + std::generic_category().message(errno));
    if (bound.ss_family == AF_INET6) return ntohs(reinterpret_cast<const sockaddr_in6*>(&bound)->sin6_port);
    return ntohs(reinterpret_cast<const sockaddr_in*>(&bound)->sin_port);
}

}  // namespace

struct MetricsServer::Impl {
    explicit Impl(const MetricsRegistry& r) : registry(r) {}
    const MetricsRegistry& registry;
    UniqueFd listener;
    UniqueFd stop;  // an eventfd, readable once the server is to stop
    int port = 0;
    std::string address;
    std::thread thread;
};

MetricsServer::MetricsServer(const std::string& host_port, const MetricsRegistry& registry)
    : impl_(std::make_unique<Impl>(registry)) {
    ListenAddress address = parse_listen_address(host_port);
    impl_->listener = listen_on(address);
    impl_->port = bound_port(impl_->listener.get());
    impl_->stop = UniqueFd(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
    if (!impl_->stop) throw Failure(ExitCode::failure, "eventfd failed: " + std::generic_category().message(errno));
    address.port = impl_->port;
    impl_->address = format_listen_address(address);
}

void MetricsServer::start() {
    if (impl_->thread.joinable()) return;
    auto loop = std::make_unique<ServeLoop>(impl_->listener.get(), impl_->stop.get(), impl_->registry);
    impl_->thread = std::thread([loop = std::move(loop), where = impl_->address] {
        try {
            loop->run();
        } catch (const std::exception& e) {
            try {
                std::cerr << ("nfsleuth: warning: the metrics endpoint on " + where + " stopped serving: " + e.what() +
                              "\n");
            } catch (...) {
            }
        }
    });
}

MetricsServer::~MetricsServer() {
    if (impl_->thread.joinable()) {
        std::uint64_t one = 1;
        // Cannot fail: the counter is far from overflowing.
        [[maybe_unused]] ssize_t n = ::write(impl_->stop.get(), &one, sizeof one);
        impl_->thread.join();
    }
}

std::string MetricsServer::address() const { return impl_->address; }

int MetricsServer::port() const { return impl_->port; }

}  // namespace nfsleuth
