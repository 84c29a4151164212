// SPDX-License-Identifier: GPL-2.0-only
// The metrics endpoint's request parsing, and the server against clients
// that do not play by the rules.
#include "daemon/metrics_http.hpp"

#include <gtest/gtest.h>
#include <poll.h>

#include <atomic>
#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "daemon/metrics.hpp"
#include "daemon/metrics_server.hpp"
#include "raw_http_client.hpp"

using namespace nfsleuth;
using namespace std::chrono_literals;
using http::HeadVerdict;
using nfsleuth_test::connect_loopback;
using nfsleuth_test::send_request;
using nfsleuth_test::header_of;
using nfsleuth_test::http_get;
using nfsleuth_test::read_until_closed;
using nfsleuth_test::send_all;
using Clock = std::chrono::steady_clock;

namespace {

int rejection_of(const std::string& bytes) {
    HeadVerdict v = http::judge_request_head(bytes);
    EXPECT_EQ(v.kind, HeadVerdict::Kind::rejected) << bytes.substr(0, 80);
    return v.status;
}

HeadVerdict::Kind kind_of(const std::string& bytes) { return http::judge_request_head(bytes).kind; }

std::string with_headers(std::size_t count) {
    std::string head = "GET /metrics HTTP/1.1\r\n";
    for (std::size_t i = 0; i < count; ++i) head += "X-" + std::to_string(i) + ": v\r\n";
    return head + "\r\n";
}

}  // namespace

TEST(MetricsHttpHead, AcceptsGetAndHead) {
    HeadVerdict v = http::judge_request_head("GET /metrics HTTP/1.1\r\nHost: h:9100\r\nAccept: */*\r\n\r\n");
    ASSERT_EQ(v.kind, HeadVerdict::Kind::request);
    EXPECT_EQ(v.request.method, http::Method::get);
    EXPECT_EQ(v.request.path, "/metrics");

    v = http::judge_request_head("HEAD /metrics?name[]=x HTTP/1.0\r\n\r\n");
    ASSERT_EQ(v.kind, HeadVerdict::Kind::request);
    EXPECT_EQ(v.request.method, http::Method::head);
    EXPECT_EQ(v.request.path, "/metrics");

    // Bytes after the head (a pipelined request) are not looked at.
    EXPECT_EQ(kind_of("GET / HTTP/1.1\r\n\r\nPOST / HTTP/1.1\r\n\r\n"), HeadVerdict::Kind::request);
    // Range is not a header this server acts on.
    EXPECT_EQ(kind_of("GET /metrics HTTP/1.1\r\nRange: bytes=0-1,2-3,4-5\r\n\r\n"), HeadVerdict::Kind::request);
}

TEST(MetricsHttpHead, IncompleteUntilTheEmptyLine) {
    for (const char* part : {"", "G", "GET /metrics HTTP/1.1", "GET /metrics HTTP/1.1\r", "GET /metrics HTTP/1.1\r\n",
                             "GET /metrics HTTP/1.1\r\nHost: x", "GET /metrics HTTP/1.1\r\nHost: x\r\n",
                             "GET /metrics HTTP/1.1\r\nHost: x\r\n\r"})
        EXPECT_EQ(kind_of(part), HeadVerdict::Kind::incomplete) << part;
}

TEST(MetricsHttpHead, OtherMethodsAreRefusedAsSoonAsTheRequestLineEnds) {
    for (const char* method : {"POST", "PUT", "DELETE", "OPTIONS", "PATCH", "CONNECT", "TRACE", "get"})
        EXPECT_EQ(rejection_of(std::string(method) + " /metrics HTTP/1.1\r\n"), 405) << method;
    EXPECT_EQ(rejection_of("POST /metrics HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nffffffff\r\n"), 405);
}

TEST(MetricsHttpHead, MalformedRequestLinesAreBadRequests) {
    for (const char* line : {"\r\n", "GET\r\n", "GET /metrics\r\n", "GET  /metrics HTTP/1.1\r\n",
                             "GET /metrics  HTTP/1.1\r\n", "GET /a b HTTP/1.1\r\n", "GET metrics HTTP/1.1\r\n",
                             "GET * HTTP/1.1\r\n", "GET http://h/metrics HTTP/1.1\r\n", "G(T / HTTP/1.1\r\n",
                             "GET /\x01 HTTP/1.1\r\n", "GET /\xff HTTP/1.1\r\n", "GET / HTTP/1.1 \r\n",
                             "GET / http/1.1\r\n", "GET / HTTP/1.10\r\n", "GET / HTTP/11\r\n",
                             "GET / HTTP/1.1\nHost: x\r\n"})
        EXPECT_EQ(rejection_of(line), 400) << line;
    EXPECT_EQ(rejection_of(std::string("GET /\0 HTTP/1.1\r\n", 17)), 400);
}

TEST(MetricsHttpHead, OtherHttpVersionsAreRefused) {
    EXPECT_EQ(rejection_of("GET / HTTP/2.0\r\n"), 505);
    EXPECT_EQ(rejection_of("GET / HTTP/0.9\r\n"), 505);
}

TEST(MetricsHttpHead, ARequestLineWithoutEndIsRefusedWhenTheBufferIsFull) {
    std::string line = "GET /" + std::string(http::kMaxHeadBytes, 'a');
    EXPECT_EQ(kind_of(line.substr(0, http::kMaxHeadBytes - 1)), HeadVerdict::Kind::incomplete);
    EXPECT_EQ(rejection_of(line.substr(0, http::kMaxHeadBytes)), 414);
    EXPECT_EQ(rejection_of(line), 414);
    EXPECT_EQ(rejection_of(std::string(http::kMaxHeadBytes, 'x')), 414);
}

TEST(MetricsHttpHead, HeadersAreBoundedInCountAndSize) {
    EXPECT_EQ(kind_of(with_headers(http::kMaxHeaderCount)), HeadVerdict::Kind::request);
    EXPECT_EQ(rejection_of(with_headers(http::kMaxHeaderCount + 1)), 431);
    // Refused once one header too many has ended, before the head ends.
    std::string many = with_headers(http::kMaxHeaderCount + 1);
    EXPECT_EQ(rejection_of(many.substr(0, many.size() - 2)), 431);

    std::string big = "GET /metrics HTTP/1.1\r\nX-Big: " + std::string(http::kMaxHeadBytes, 'v');
    EXPECT_EQ(kind_of(big.substr(0, http::kMaxHeadBytes - 1)), HeadVerdict::Kind::incomplete);
    EXPECT_EQ(rejection_of(big.substr(0, http::kMaxHeadBytes)), 431);
    // A head that just fits is served.
    std::string fits = "GET /metrics HTTP/1.1\r\nX: ";
    fits += std::string(http::kMaxHeadBytes - fits.size() - 4, 'v') + "\r\n\r\n";
    ASSERT_EQ(fits.size(), http::kMaxHeadBytes);
    EXPECT_EQ(kind_of(fits), HeadVerdict::Kind::request);
}

TEST(MetricsHttpHead, MalformedHeadersAreBadRequests) {
    for (const char* header : {"NoColon", ": empty name", "Host : x", " Host: x", "\tfolded", "Ho st: x",
                               "X: a\rb", "X: a\x01", "X: \x7f", "X: a\nb"})
        EXPECT_EQ(rejection_of(std::string("GET / HTTP/1.1\r\n") + header + "\r\n\r\n"), 400) << header;
    static constexpr char with_nul[] = "GET / HTTP/1.1\r\nX: a\0b\r\n\r\n";
    EXPECT_EQ(rejection_of(std::string(with_nul, sizeof with_nul - 1)), 400);
    // Tabs, spaces and obs-text are field content.
    EXPECT_EQ(kind_of("GET / HTTP/1.1\r\nUser-Agent: \tn\xc3\xa4me  1.0 \r\nX:\r\n\r\n"), HeadVerdict::Kind::request);
}

TEST(MetricsHttpHead, BodiesAreRefused) {
    EXPECT_EQ(rejection_of("GET / HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello"), 413);
    EXPECT_EQ(rejection_of("GET / HTTP/1.1\r\ncontent-length: 99999999999999999999999\r\n\r\n"), 413);
    EXPECT_EQ(rejection_of("GET / HTTP/1.1\r\nTRANSFER-ENCODING: chunked\r\n\r\n"), 413);
    EXPECT_EQ(rejection_of("GET / HTTP/1.1\r\nContent-Length: -1\r\n\r\n"), 400);
    EXPECT_EQ(rejection_of("GET / HTTP/1.1\r\nContent-Length: 1, 1\r\n\r\n"), 400);
    EXPECT_EQ(kind_of("GET / HTTP/1.1\r\nContent-Length: 0\r\n\r\n"), HeadVerdict::Kind::request);
    EXPECT_EQ(kind_of("GET / HTTP/1.1\r\nContent-Length:  00 \r\n\r\n"), HeadVerdict::Kind::request);
}

TEST(MetricsHttpResponse, IsCompleteAndClosesTheConnection) {
    EXPECT_EQ(http::format_response(200, "text/plain", "hi\n", true),
              "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 3\r\nConnection: close\r\n\r\nhi\n");
    // HEAD: the length of the body it would get, without the body.
    EXPECT_EQ(http::format_response(200, "text/plain", "hi\n", false),
              "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 3\r\nConnection: close\r\n\r\n");
    EXPECT_NE(http::format_response(405, "text/plain", "", true).find("\r\nAllow: GET, HEAD\r\n"), std::string::npos);
    for (int status : {400, 404, 405, 413, 414, 431, 505})
        EXPECT_EQ(http::status_line_text(status).substr(0, 3), std::to_string(status));
}

// --- the server against hostile clients ---------------------------------------

namespace {

class HostileClients : public ::testing::Test {
protected:
    void SetUp() override {
        registry.define("nfsleuth_tracing", MetricsRegistry::Kind::gauge, "1 while tracing runs.", {});
        registry.set("nfsleuth_tracing", {}, 1);
        server = std::make_unique<MetricsServer>("127.0.0.1:0", registry);
        server->start();
        port = server->port();
    }

    // Whether the server closed this connection within `limit`.
    static bool closed_within(int fd, std::chrono::milliseconds limit) {
        pollfd p{fd, POLLIN, 0};
        auto deadline = Clock::now() + limit;
        while (Clock::now() < deadline) {
            auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
            if (::poll(&p, 1, static_cast<int>(left.count()) + 1) <= 0) continue;
            char c;
            if (::recv(fd, &c, 1, MSG_DONTWAIT) <= 0) return true;
        }
        return false;
    }

    MetricsRegistry registry;
    std::unique_ptr<MetricsServer> server;
    int port = 0;
};

}  // namespace

TEST_F(HostileClients, ScrapesSucceedWhileManyIdleConnectionsAreOpen) {
    std::vector<UniqueFd> idle;
    for (int i = 0; i < 300; ++i) idle.push_back(connect_loopback(port));
    auto start = Clock::now();
    for (int i = 0; i < 5; ++i) EXPECT_EQ(http_get(port, "/metrics").status, 200) << "scrape " << i;
    EXPECT_LT(Clock::now() - start, 2s);
}

TEST_F(HostileClients, SilentAndTricklingClientsAreClosed) {
    UniqueFd silent = connect_loopback(port);
    UniqueFd trickling = connect_loopback(port);
    ASSERT_TRUE(silent && trickling);
    auto start = Clock::now();
    std::string head = "GET /metrics HTTP/1.1\r\nX-Slow: " + std::string(100, 'a');
    bool trickling_closed = false;
    for (char c : head) {
        if (!send_all(trickling.get(), std::string(1, c))) {
            trickling_closed = true;
            break;
        }
        if (closed_within(trickling.get(), 500ms)) {
            trickling_closed = true;
            break;
        }
        EXPECT_EQ(http_get(port, "/metrics").status, 200);
    }
    auto trickle_time = Clock::now() - start;
    EXPECT_TRUE(trickling_closed);
    EXPECT_GT(trickle_time, 4s);  // the whole-request deadline, not the silence limit
    EXPECT_LT(trickle_time, 7s);
    EXPECT_TRUE(closed_within(silent.get(), 100ms)) << "silent for over 3 s and still open";
}

TEST_F(HostileClients, BodiesAreRefusedWithoutBeingRead) {
    UniqueFd fd = connect_loopback(port);
    ASSERT_TRUE(fd);
    ASSERT_TRUE(send_all(fd.get(), "POST /metrics HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"));
    std::atomic<bool> stop{false};
    std::thread flood([&] {
        std::string chunk = "1000\r\n" + std::string(0x1000, 'x') + "\r\n";
        while (!stop && send_all(fd.get(), chunk)) {
        }
    });
    auto start = Clock::now();
    auto res = nfsleuth_test::parse_raw_response(read_until_closed(fd.get()));
    stop = true;
    ::shutdown(fd.get(), SHUT_RDWR);
    flood.join();
    EXPECT_EQ(res.status, 405);
    EXPECT_LT(Clock::now() - start, 3s);
    EXPECT_EQ(send_request(port, "GET /metrics HTTP/1.1\r\nContent-Length: 100000000\r\n\r\n").status, 413);
    EXPECT_EQ(http_get(port, "/metrics").status, 200);
}

TEST_F(HostileClients, RangeIsIgnoredAndHeadHasNoBody) {
    std::string ranges;
    for (int i = 0; i < 100; ++i) ranges += (i ? "," : "") + std::to_string(i) + "-" + std::to_string(i);
    auto full = http_get(port, "/metrics");
    auto ranged = send_request(port, "GET /metrics HTTP/1.1\r\nRange: bytes=" + ranges + "\r\n\r\n");
    EXPECT_EQ(ranged.status, 200);
    EXPECT_EQ(ranged.body, full.body);
    EXPECT_EQ(header_of(ranged, "Content-Type"), "text/plain; version=0.0.4; charset=utf-8");

    auto head = send_request(port, "HEAD /metrics HTTP/1.1\r\n\r\n");
    EXPECT_EQ(head.status, 200);
    EXPECT_EQ(head.body, "");
    EXPECT_EQ(header_of(head, "Content-Length"), std::to_string(full.body.size()));
}

TEST_F(HostileClients, ShutdownDoesNotWaitForClients) {
    std::vector<UniqueFd> clients;
    for (int i = 0; i < 40; ++i) clients.push_back(connect_loopback(port));
    ASSERT_TRUE(send_all(clients.back().get(), "GET /metrics HTTP/1.1\r\nX: "));
    // A client that asks but does not read: its answer cannot be sent whole.
    registry.define("nfsleuth_big", MetricsRegistry::Kind::gauge, "Big.", {"name"});
    for (int i = 0; i < 100; ++i) registry.set("nfsleuth_big", {std::string(2000, 'a') + std::to_string(i)}, i);
    UniqueFd not_reading = connect_loopback(port);
    int small = 4096;
    ::setsockopt(not_reading.get(), SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
    ASSERT_TRUE(send_all(not_reading.get(), "GET /metrics HTTP/1.1\r\n\r\n"));
    std::this_thread::sleep_for(200ms);
    auto start = Clock::now();
    server.reset();
    EXPECT_LT(Clock::now() - start, 500ms);
    EXPECT_TRUE(closed_within(clients.back().get(), 100ms));
}

TEST_F(HostileClients, ClientsThatAskAndNeverReadCannotStarveScrapes) {
    // An answer of about 1 MB: more than the server's send buffer and a
    // client's small receive buffer hold, so each connection whose client
    // does not read stays in the writing phase.
    for (int m = 0; m < 5; ++m) {
        const std::string metric = "nfsleuth_big_" + std::to_string(m);
        registry.define(metric, MetricsRegistry::Kind::gauge, "Big.", {"name"});
        for (int i = 0; i < 100; ++i) registry.set(metric, {std::string(2000, 'a') + std::to_string(i)}, i);
    }
    std::vector<UniqueFd> not_reading;
    for (int i = 0; i < 33; ++i) {
        UniqueFd fd = connect_loopback(port, false, 2048);
        ASSERT_TRUE(fd);
        ASSERT_TRUE(send_all(fd.get(), "GET /metrics HTTP/1.1\r\n\r\n"));
        not_reading.push_back(std::move(fd));
    }
    std::this_thread::sleep_for(200ms);
    // Every slot is taken by a stalled answer: the scrape waits for the
    // oldest to stall past the limit (1 s), then takes its place, before
    // any answer's deadline (5 s) would have freed one.
    for (int i = 0; i < 3; ++i) {
        auto start = Clock::now();
        auto scrape = http_get(port, "/metrics");
        EXPECT_EQ(scrape.status, 200) << "scrape " << i;
        EXPECT_GT(scrape.body.size(), 1000000u);
        EXPECT_LT(Clock::now() - start, 4s) << "scrape " << i;
    }
}
