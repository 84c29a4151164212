// SPDX-License-Identifier: GPL-2.0-only
#pragma once
#include <signal.h>

#include <chrono>
#include <functional>
#include <optional>
#include <vector>

#include "common/unique_fd.hpp"

namespace nfsleuth {

// SIGINT, SIGTERM and SIGHUP, blocked and received through a signalfd from
// construction on. A tracing command takes it before anything slow (BTF,
// loading, attaching), so that a signal arriving then is kept for its event
// loop instead of killing the process with BPF objects half set up. The
// signals stay blocked when it is gone: one arriving while the command
// detaches and prints its summary must not kill it either.
class SignalInbox {
public:
    SignalInbox();
    SignalInbox(const SignalInbox&) = delete;
    SignalInbox& operator=(const SignalInbox&) = delete;

    int fd() const { return fd_.get(); }
    // The next pending signal's number, 0 when none is pending.
    int take();

private:
    UniqueFd fd_;
};

// Waits on file descriptors until SIGINT/SIGTERM or an optional deadline.
// Signals come from a SignalInbox, so no handler and no global flag exist.
// SIGHUP never ends the loop: it calls the hangup handler, if any.
class EventLoop {
public:
    // The deadline (`duration` from now) counts from here.
    EventLoop(SignalInbox& signals, std::optional<std::chrono::milliseconds> duration);
    ~EventLoop();
    EventLoop(const EventLoop&) = delete;
    EventLoop& operator=(const EventLoop&) = delete;

    // Calls on_ready whenever fd becomes readable.
    void watch(int fd, std::function<void()> on_ready);
    // Calls on_tick every period. Returns the timer, for set_paused().
    int every(std::chrono::milliseconds period, std::function<void()> on_tick);
    // Stops a timer of every() (it wakes nothing up) or starts it again.
    void set_paused(int timer, bool paused);
    // Calls on_hangup at each SIGHUP (daemons reopen their files on it);
    // without one SIGHUP is ignored.
    void on_hangup(std::function<void()> on_hangup);
    // Runs until SIGINT/SIGTERM (also one that arrived before it started)
    // or the deadline; returns the signal number or 0.
    int run();

private:
    struct Source {
        int fd;
        std::function<void()> on_ready;
        bool owned;
        std::chrono::milliseconds period{0};  // of a timer of every()
    };
    SignalInbox& signals_;
    int epoll_fd_ = -1;
    int deadline_fd_ = -1;
    std::vector<Source> sources_;
    std::function<void()> on_hangup_;
};

}  // namespace nfsleuth
