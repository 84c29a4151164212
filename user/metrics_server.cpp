// SPDX-License-Identifier: GPL-2.0-only
#include "metrics_server.hpp"

#include <httplib.h>
#include <netdb.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <charconv>
#include <exception>
#include <iostream>
#include <system_error>
#include <thread>

#include "error.hpp"
#include "text.hpp"

namespace nfsleuth {

namespace {

constexpr const char* kMetricsContentType = "text/plain; version=0.0.4; charset=utf-8";
constexpr const char* kForms = "use HOST:PORT, [IPV6]:PORT or :PORT, e.g. 127.0.0.1:9100, [::1]:9100 or :9100";

// Scrapes come every few seconds from one or two Prometheus servers.
constexpr std::size_t kWorkerThreads = 2;
constexpr time_t kReadWriteTimeoutSec = 5;
// How long a connection may stay silent before its (first or next) request.
constexpr time_t kIdleConnectionSec = 3;

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

// httplib 0.11.4's Server::stop() does nothing until the serving thread has
// entered its accept loop, and its destructor leaves the listening socket
// open. Closing the socket directly works at any time: a loop that has not
// started sees no socket and returns at once.
class Endpoint : public httplib::Server {
public:
    ~Endpoint() override { close_listener(); }
    void close_listener() {
        socket_t fd = svr_sock_.exchange(INVALID_SOCKET);
        if (fd == INVALID_SOCKET) return;
        ::shutdown(fd, SHUT_RDWR);
        ::close(fd);
    }
    // After an accept() failure httplib has closed the socket itself but
    // kept its number, which must not be closed a second time.
    void forget_listener() { svr_sock_ = INVALID_SOCKET; }
};

// Why binding failed: httplib only says that it did. errno is the failed
// bind()'s (httplib's clean-up after it leaves errno alone); a host name
// that does not resolve is told apart by resolving it again.
std::string bind_failure_reason(const std::string& host, int saved_errno) {
    addrinfo hints{};
    hints.ai_socktype = SOCK_STREAM;
    addrinfo* result = nullptr;
    int gai = ::getaddrinfo(host.c_str(), nullptr, &hints, &result);
    if (gai != 0) return gai == EAI_SYSTEM ? std::generic_category().message(errno) : ::gai_strerror(gai);
    ::freeaddrinfo(result);
    if (saved_errno == 0) return "the address cannot be bound";
    return std::generic_category().message(saved_errno);
}

std::string bind_failure_remedy(int saved_errno) {
    switch (saved_errno) {
    case EADDRINUSE: return "another process listens on that port; choose another one";
    case EACCES: return "ports below 1024 need CAP_NET_BIND_SERVICE; choose a port above 1023 or run as root";
    case EADDRNOTAVAIL: return "the address is not one of this host's; use one of its addresses, or :PORT for all";
    default: return {};
    }
}

}  // namespace

struct MetricsServer::Impl {
    Endpoint server;
    int port = 0;
    std::string address;
    std::thread thread;
};

MetricsServer::MetricsServer(const std::string& host_port, const MetricsRegistry& registry)
    : impl_(std::make_unique<Impl>()) {
    ListenAddress address = parse_listen_address(host_port);
    Endpoint& server = impl_->server;

    // httplib's default pool has max(8, CPUs - 1) threads and that default
    // is compiled into the library, so only the factory can change it.
    server.new_task_queue = [] { return new httplib::ThreadPool(kWorkerThreads); };
    server.set_read_timeout(kReadWriteTimeoutSec, 0);
    server.set_write_timeout(kReadWriteTimeoutSec, 0);
    server.set_keep_alive_timeout(kIdleConnectionSec);
    // One request per connection: a client that keeps its connection open
    // cannot hold a worker between scrapes.
    server.set_keep_alive_max_count(1);
    server.set_payload_max_length(4096);
    // httplib's default sets SO_REUSEPORT, which lets a second daemon bind
    // the same port and silently take half of the scrapes. SO_REUSEADDR only
    // allows a restart while old connections linger in TIME_WAIT.
    server.set_socket_options([](socket_t fd) {
        int yes = 1;
        ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
    });

    server.Get("/metrics", [&registry](const httplib::Request&, httplib::Response& res) {
        res.set_content(registry.render(), kMetricsContentType);
    });
    server.Get("/", [](const httplib::Request&, httplib::Response& res) {
        res.set_content("nfsleuth: Prometheus metrics are at /metrics\n", "text/plain; charset=utf-8");
    });
    // Named type: a lambda converts to both of set_error_handler's overloads.
    httplib::Server::HandlerWithResponse on_error = [](const httplib::Request&, httplib::Response& res) {
        if (!res.body.empty()) return httplib::Server::HandlerResponse::Unhandled;
        res.set_content(res.status == 404 ? "not found; see /metrics\n" : "request failed\n",
                        "text/plain; charset=utf-8");
        return httplib::Server::HandlerResponse::Handled;
    };
    server.set_error_handler(std::move(on_error));
    // Without a handler httplib copies e.what() into a response header, and
    // leaves the status at 200 with one.
    server.set_exception_handler([](const httplib::Request&, httplib::Response& res, std::exception_ptr) {
        res.status = 500;
        res.set_content("internal error\n", "text/plain; charset=utf-8");
    });

    errno = 0;
    int port = address.port == 0 ? server.bind_to_any_port(address.host)
                                 : (server.bind_to_port(address.host, address.port) ? address.port : -1);
    if (port < 0) {
        int saved = errno;
        throw Failure(ExitCode::failure,
                      "cannot listen on " + format_listen_address(address) + ": " +
                          bind_failure_reason(address.host, saved),
                      bind_failure_remedy(saved));
    }
    impl_->port = port;

    address.port = port;
    impl_->address = format_listen_address(address);
}

void MetricsServer::start() {
    if (impl_->thread.joinable()) return;
    Endpoint& server = impl_->server;
    impl_->thread = std::thread([&server, where = impl_->address] {
        std::string trouble;
        try {
            // Returns false when accept() failed for another reason than a
            // lack of descriptors; httplib 0.11.4 then stops serving.
            if (!server.listen_after_bind()) {
                server.forget_listener();
                trouble = "accepting a connection failed";
            }
        } catch (const std::exception& e) {
            trouble = e.what();
        } catch (...) {
            trouble = "unknown error";
        }
        if (!trouble.empty()) {
            try {
                std::cerr << ("nfsleuth: warning: the metrics endpoint on " + where + " stopped serving: " + trouble +
                              "\n");
            } catch (...) {
            }
        }
    });
}

MetricsServer::~MetricsServer() {
    // The accept loop ends once its socket is gone; the workers finish the
    // request in hand (bounded by the timeouts) and are joined.
    impl_->server.close_listener();
    if (impl_->thread.joinable()) impl_->thread.join();
}

std::string MetricsServer::address() const { return impl_->address; }

int MetricsServer::port() const {
    return impl_->port;
}

}  // namespace nfsleuth
