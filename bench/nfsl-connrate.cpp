// SPDX-License-Identifier: GPL-2.0-only
// nfsl-connrate: the new-connection benchmark's load. Listens on an address,
// then connects to that listener and closes, over and over, for a fixed
// time: every connection is a new conntrack entry. The client closes with a
// reset so that no TIME_WAIT state uses up the ephemeral ports. Prints one
// JSON object: connections made, failures, elapsed time and the rate.
// Traffic only ever goes to the listener this process created.

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>

namespace {

constexpr char kUsage[] =
    "Usage: nfsl-connrate --addr IPV4 --seconds S\n"
    "Listens on IPV4 (a free port), connects to it and closes (with a reset),\n"
    "as fast as one thread can, for S seconds (0.1 to 600), and prints\n"
    "{\"connections\":N,\"failed\":F,\"elapsed_ms\":T,\"per_second\":R}.\n";

double now_s() {
    timespec ts{};
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) / 1e9;
}

[[noreturn]] void die(const std::string& what) {
    std::fprintf(stderr, "nfsl-connrate: %s: %s\n", what.c_str(), std::strerror(errno));
    std::exit(1);
}

[[noreturn]] void usage(const char* problem) {
    std::fprintf(stderr, "nfsl-connrate: %s\n%s", problem, kUsage);
    std::exit(2);
}

}  // namespace

int main(int argc, char** argv) {
    const char* addr_text = nullptr;
    double seconds = 0;
    for (int i = 1; i < argc; ++i) {
        std::string a = argv[i];
        if (a == "--help" || a == "-h") {
            std::fputs(kUsage, stdout);
            return 0;
        }
        if (i + 1 >= argc) usage(("missing value for " + a).c_str());
        if (a == "--addr") {
            addr_text = argv[++i];
        } else if (a == "--seconds") {
            char* end = nullptr;
            seconds = std::strtod(argv[++i], &end);
            if (*end || !(seconds >= 0.1 && seconds <= 600)) usage("--seconds: a number from 0.1 to 600");
        } else {
            usage(("unknown option " + a).c_str());
        }
    }
    if (!addr_text || seconds == 0) usage("--addr and --seconds are required");

    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    if (inet_pton(AF_INET, addr_text, &addr.sin_addr) != 1) usage("--addr: not an IPv4 address");

    int listener = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (listener < 0) die("socket");
    int one = 1;
    setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (bind(listener, reinterpret_cast<sockaddr*>(&addr), sizeof addr) < 0) die("bind");
    if (listen(listener, 4096) < 0) die("listen");
    socklen_t len = sizeof addr;
    if (getsockname(listener, reinterpret_cast<sockaddr*>(&addr), &len) < 0) die("getsockname");

    std::atomic<bool> stop{false};
    std::thread acceptor([&] {
        while (!stop.load(std::memory_order_relaxed)) {
            int c = accept4(listener, nullptr, nullptr, SOCK_CLOEXEC);
            if (c >= 0) close(c);
        }
    });

    const linger reset{1, 0};
    uint64_t connections = 0, failed = 0;
    const double start = now_s();
    double elapsed = 0;
    while ((elapsed = now_s() - start) < seconds) {
        int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (s < 0) die("socket");
        if (connect(s, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0) {
            ++connections;
        } else {
            ++failed;
        }
        setsockopt(s, SOL_SOCKET, SO_LINGER, &reset, sizeof reset);
        close(s);
    }

    // shutdown() makes a blocked accept() on Linux return at once.
    stop = true;
    shutdown(listener, SHUT_RDWR);
    acceptor.join();
    close(listener);

    std::printf("{\"connections\":%llu,\"failed\":%llu,\"elapsed_ms\":%.0f,\"per_second\":%.0f}\n",
                static_cast<unsigned long long>(connections), static_cast<unsigned long long>(failed),
                elapsed * 1000, static_cast<double>(connections) / elapsed);
    return 0;
}
