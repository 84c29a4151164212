// SPDX-License-Identifier: GPL-2.0-only
#include "common/event_loop.hpp"

#include <pthread.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>

#include "common/error.hpp"

namespace nfsleuth {

namespace {

timespec to_timespec(std::chrono::milliseconds ms) {
    timespec ts{};
    ts.tv_sec = ms.count() / 1000;
    ts.tv_nsec = (ms.count() % 1000) * 1'000'000;
    return ts;
}

void set_timer(int fd, std::chrono::milliseconds first, std::chrono::milliseconds period) {
    itimerspec spec{to_timespec(period), to_timespec(first)};
    if (spec.it_value.tv_sec == 0 && spec.it_value.tv_nsec == 0) spec.it_value.tv_nsec = 1;  // 0 would disarm
    timerfd_settime(fd, 0, &spec, nullptr);
}

int make_timer(std::chrono::milliseconds first, std::chrono::milliseconds period) {
    int fd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
    if (fd < 0) throw Failure(ExitCode::failure, "timerfd_create failed: " + describe_errno(-errno));
    set_timer(fd, first, period);
    return fd;
}

}  // namespace

SignalInbox::SignalInbox() {
    sigset_t mask;
    sigemptyset(&mask);
    for (int sig : {SIGINT, SIGTERM, SIGHUP}) sigaddset(&mask, sig);
    // Every thread started later inherits the mask, so these signals reach
    // only the signalfd.
    pthread_sigmask(SIG_BLOCK, &mask, nullptr);
    fd_.reset(signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK));
    if (!fd_) throw Failure(ExitCode::failure, "signalfd failed: " + describe_errno(-errno));
}

int SignalInbox::take() {
    signalfd_siginfo si{};
    if (::read(fd_.get(), &si, sizeof si) != sizeof si) return 0;
    return static_cast<int>(si.ssi_signo);
}

EventLoop::EventLoop(SignalInbox& signals, std::optional<std::chrono::milliseconds> duration) : signals_(signals) {
    epoll_fd_ = epoll_create1(EPOLL_CLOEXEC);
    if (epoll_fd_ < 0) throw Failure(ExitCode::failure, "epoll_create1 failed: " + describe_errno(-errno));
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.fd = signals_.fd();
    epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, signals_.fd(), &ev);
    if (duration) {
        deadline_fd_ = make_timer(*duration, std::chrono::milliseconds(0));
        ev.data.fd = deadline_fd_;
        epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, deadline_fd_, &ev);
    }
}

EventLoop::~EventLoop() {
    for (auto& s : sources_) {
        if (s.owned) ::close(s.fd);
    }
    if (deadline_fd_ >= 0) ::close(deadline_fd_);
    if (epoll_fd_ >= 0) ::close(epoll_fd_);
}

void EventLoop::watch(int fd, std::function<void()> on_ready) {
    sources_.push_back({fd, std::move(on_ready), false});
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.fd = fd;
    if (epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, fd, &ev) != 0)
        throw Failure(ExitCode::failure, "epoll_ctl failed: " + describe_errno(-errno));
}

int EventLoop::every(std::chrono::milliseconds period, std::function<void()> on_tick) {
    int fd = make_timer(period, period);
    watch(fd, [fd, tick = std::move(on_tick)] {
        uint64_t expirations;
        while (::read(fd, &expirations, sizeof expirations) > 0) {
        }
        tick();
    });
    sources_.back().owned = true;
    sources_.back().period = period;
    return fd;
}

void EventLoop::set_paused(int timer, bool paused) {
    for (const auto& s : sources_) {
        if (s.fd != timer || s.period.count() == 0) continue;
        if (paused) {
            const itimerspec stopped{};
            timerfd_settime(timer, 0, &stopped, nullptr);
        } else {
            set_timer(timer, s.period, s.period);
        }
    }
}

void EventLoop::on_hangup(std::function<void()> on_hangup) { on_hangup_ = std::move(on_hangup); }

int EventLoop::run() {
    epoll_event events[16];
    for (;;) {
        int n = epoll_wait(epoll_fd_, events, 16, -1);
        if (n < 0) {
            if (errno == EINTR) continue;
            throw Failure(ExitCode::failure, "epoll_wait failed: " + describe_errno(-errno));
        }
        for (int i = 0; i < n; ++i) {
            int fd = events[i].data.fd;
            if (fd == signals_.fd()) {
                int sig = signals_.take();
                if (sig == SIGHUP) {
                    if (on_hangup_) on_hangup_();
                    continue;
                }
                if (sig != 0) return sig;
            } else if (fd == deadline_fd_) {
                return 0;
            } else {
                for (auto& s : sources_) {
                    if (s.fd == fd) s.on_ready();
                }
            }
        }
    }
}

}  // namespace nfsleuth
