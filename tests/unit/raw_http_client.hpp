// SPDX-License-Identifier: GPL-2.0-only
// A loopback HTTP client for the metrics server's tests: sends bytes exactly
// as given (so tests can send what no well-behaved client would) and reads
// the answer until the server closes.
#pragma once
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>

#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "common/unique_fd.hpp"

namespace nfsleuth_test {

struct RawResponse {
    int status = 0;      // 0: no status line came
    std::string head;    // status line and headers
    std::string body;
};

// A connected socket to 127.0.0.1 (or ::1) with 5 s send and receive
// timeouts; invalid when the connection fails.
// receive_buffer: SO_RCVBUF set before connecting, so that the window the
// client offers stays that small (0: the default).
inline nfsleuth::UniqueFd connect_loopback(int port, bool ipv6 = false, int receive_buffer = 0) {
    nfsleuth::UniqueFd fd(::socket(ipv6 ? AF_INET6 : AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    if (!fd) return fd;
    if (receive_buffer) ::setsockopt(fd.get(), SOL_SOCKET, SO_RCVBUF, &receive_buffer, sizeof receive_buffer);
    timeval timeout{5, 0};
    ::setsockopt(fd.get(), SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
    ::setsockopt(fd.get(), SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof timeout);
    int rc;
    if (ipv6) {
        sockaddr_in6 a{};
        a.sin6_family = AF_INET6;
        a.sin6_port = htons(static_cast<uint16_t>(port));
        a.sin6_addr = in6addr_loopback;
        rc = ::connect(fd.get(), reinterpret_cast<sockaddr*>(&a), sizeof a);
    } else {
        sockaddr_in a{};
        a.sin_family = AF_INET;
        a.sin_port = htons(static_cast<uint16_t>(port));
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        rc = ::connect(fd.get(), reinterpret_cast<sockaddr*>(&a), sizeof a);
    }
    if (rc != 0) fd.reset();
    return fd;
}

inline bool send_all(int fd, std::string_view bytes) {
    while (!bytes.empty()) {
        ssize_t n = ::send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL);
        if (n <= 0) return false;
        bytes.remove_prefix(static_cast<std::size_t>(n));
    }
    return true;
}

// Everything the peer sends until it closes, a reset or the timeout.
inline std::string read_until_closed(int fd) {
    std::string all;
    char buf[16384];
    for (;;) {
        ssize_t n = ::recv(fd, buf, sizeof buf, 0);
        if (n <= 0) return all;
        all.append(buf, static_cast<std::size_t>(n));
    }
}

inline RawResponse parse_raw_response(const std::string& all) {
    RawResponse r;
    auto end = all.find("\r\n\r\n");
    if (all.rfind("HTTP/1.1 ", 0) != 0 || end == std::string::npos) return r;
    r.status = std::atoi(all.c_str() + 9);
    r.head = all.substr(0, end + 2);
    r.body = all.substr(end + 4);
    return r;
}

// The value of a header of the response head ("" when absent).
inline std::string header_of(const RawResponse& r, std::string_view name) {
    std::string needle = "\r\n" + std::string(name) + ": ";
    auto at = r.head.find(needle);
    if (at == std::string::npos) return {};
    at += needle.size();
    return r.head.substr(at, r.head.find("\r\n", at) - at);
}

inline RawResponse send_request(int port, std::string_view request, bool ipv6 = false) {
    nfsleuth::UniqueFd fd = connect_loopback(port, ipv6);
    if (!fd || !send_all(fd.get(), request)) return {};
    return parse_raw_response(read_until_closed(fd.get()));
}

inline RawResponse http_get(int port, const std::string& target, bool ipv6 = false) {
    return send_request(port, "GET " + target + " HTTP/1.1\r\nHost: test\r\n\r\n", ipv6);
}

}  // namespace nfsleuth_test
