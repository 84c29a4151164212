// SPDX-License-Identifier: GPL-2.0-only
// The HTTP endpoint Prometheus scrapes: GET /metrics renders a registry.
//
// The daemon runs as root and any local process can connect, so no client
// may starve scrapes, delay shutdown or grow memory. The server is a single
// thread polling non-blocking sockets (a slow client holds no thread): at
// most 32 connections, the oldest one not being answered making room for a
// new one; 3 s of silence or 5 s for a whole request head end a connection,
// as do 5 s to take a response; heads are bounded (8 KiB, 64 headers, see
// metrics_http.hpp), bodies are never read, Range is ignored. Shutdown
// does not wait for any client.
#pragma once
#include <memory>
#include <string>

#include "daemon/metrics.hpp"

namespace nfsleuth {

struct ListenAddress {
    std::string host;  // an IPv6 address without its brackets
    int port = 0;      // 0: any free port
};

// Parses "HOST:PORT", "[IPV6]:PORT" or ":PORT" (all IPv4 addresses,
// 0.0.0.0). Throws Failure(ExitCode::usage) on anything else.
ListenAddress parse_listen_address(const std::string& text);

// "HOST:PORT", with brackets around an IPv6 address.
std::string format_listen_address(const ListenAddress& address);

class MetricsServer {
public:
    // Binds at once, so that a daemon can take a privileged port before it
    // drops capabilities (Failure(ExitCode::failure) if it cannot).
    // `registry` must outlive the server.
    MetricsServer(const std::string& host_port, const MetricsRegistry& registry);
    ~MetricsServer();
    MetricsServer(const MetricsServer&) = delete;
    MetricsServer& operator=(const MetricsServer&) = delete;

    // Serves on a thread of its own until destroyed (which closes every
    // connection at once). Separate from binding because a thread keeps the
    // capabilities it was created with: start it after dropping them.
    void start();

    // The bound port (the one picked when port 0 was asked for).
    int port() const;
    // "HOST:PORT" as bound.
    std::string address() const;

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

}  // namespace nfsleuth
