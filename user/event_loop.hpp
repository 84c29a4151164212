// SPDX-License-Identifier: GPL-2.0-only
#pragma once
#include <chrono>
#include <functional>
#include <optional>
#include <vector>

namespace nfsleuth {

// Waits on file descriptors until SIGINT/SIGTERM or an optional deadline.
// Signals are received through a signalfd, so no handler and no global flag
// exist; the signal mask is restored when the loop is destroyed.
class EventLoop {
public:
    explicit EventLoop(std::optional<std::chrono::milliseconds> duration);
    ~EventLoop();
    EventLoop(const EventLoop&) = delete;
    EventLoop& operator=(const EventLoop&) = delete;

    // Calls on_ready whenever fd becomes readable.
    void watch(int fd, std::function<void()> on_ready);
    // Calls on_tick every period.
    void every(std::chrono::milliseconds period, std::function<void()> on_tick);
    // Calls on_hangup at each SIGHUP instead of letting SIGHUP end the loop
    // or the process (daemons reopen their files on it).
    void on_hangup(std::function<void()> on_hangup);
    // Runs until SIGINT/SIGTERM or the deadline; returns the signal number or 0.
    int run();

private:
    struct Source {
        int fd;
        std::function<void()> on_ready;
        bool owned;
    };
    int epoll_fd_ = -1;
    int signal_fd_ = -1;
    int deadline_fd_ = -1;
    std::vector<Source> sources_;
    std::function<void()> on_hangup_;
    sigset_t mask_{};
    sigset_t old_mask_{};
};

}  // namespace nfsleuth
