// SPDX-License-Identifier: GPL-2.0-only
// Timers of the event loop: a paused one wakes nothing up until resumed.
#include "common/event_loop.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <csignal>

namespace nfsleuth {
namespace {

using namespace std::chrono_literals;

TEST(EventLoop, APausedTimerDoesNotTickUntilResumed) {
    SignalInbox signals;
    EventLoop loop(signals, 10s);  // a bound only: SIGTERM ends it
    int paused_ticks = 0;
    int resumer_ticks = 0;
    const int paused = loop.every(10ms, [&] {
        if (++paused_ticks == 3) std::raise(SIGTERM);
    });
    loop.set_paused(paused, true);
    // Ten of its periods later, it has not ticked; resumed, it does.
    const int resumer = loop.every(100ms, [&] {
        if (++resumer_ticks > 1) return;
        EXPECT_EQ(paused_ticks, 0);
        loop.set_paused(paused, false);
    });
    EXPECT_NE(resumer, paused);
    EXPECT_EQ(loop.run(), SIGTERM);
    EXPECT_GE(resumer_ticks, 1);
    EXPECT_GE(paused_ticks, 3);
}

}  // namespace
}  // namespace nfsleuth
