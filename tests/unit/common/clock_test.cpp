// SPDX-License-Identifier: GPL-2.0-only
#include "common/clock.hpp"

#include <gtest/gtest.h>

#include <cstdint>
#include <cstdlib>
#include <ctime>

using nfsleuth::BootClock;
using nfsleuth::format_rfc3339;

namespace {

constexpr int64_t kSecond = 1'000'000'000;

int64_t now_ns(clockid_t id) {
    timespec ts{};
    clock_gettime(id, &ts);
    return static_cast<int64_t>(ts.tv_sec) * kSecond + ts.tv_nsec;
}

TEST(FormatRfc3339, Epoch) {
    EXPECT_EQ(format_rfc3339(0), "1970-01-01T00:00:00.000000Z");
}

TEST(FormatRfc3339, KnownTimestampWithMicroseconds) {
    // 1700000000 is 2023-11-14 22:13:20 UTC.
    EXPECT_EQ(format_rfc3339(1'700'000'000 * kSecond + 123'456'000), "2023-11-14T22:13:20.123456Z");
}

TEST(FormatRfc3339, SubMicrosecondDigitsAreTruncatedNotRounded) {
    EXPECT_EQ(format_rfc3339(1'700'000'000 * kSecond + 123'456'999), "2023-11-14T22:13:20.123456Z");
    EXPECT_EQ(format_rfc3339(999'999'999), "1970-01-01T00:00:00.999999Z");
    EXPECT_EQ(format_rfc3339(999), "1970-01-01T00:00:00.000000Z");
}

TEST(FormatRfc3339, LeapDayAndEndOfDay) {
    EXPECT_EQ(format_rfc3339(1'709'251'199 * kSecond + 1'000), "2024-02-29T23:59:59.000001Z");
}

TEST(FormatRfc3339, NegativeNanosBeforeEpoch) {
    EXPECT_EQ(format_rfc3339(-1), "1969-12-31T23:59:59.999999Z");
    EXPECT_EQ(format_rfc3339(-kSecond), "1969-12-31T23:59:59.000000Z");
    EXPECT_EQ(format_rfc3339(-1'500'000'000), "1969-12-31T23:59:58.500000Z");
    EXPECT_EQ(format_rfc3339(-365 * 86'400 * kSecond), "1969-01-01T00:00:00.000000Z");
}

TEST(BootClock, ExplicitOffsetIsAdded) {
    const BootClock clock(1'700'000'000 * kSecond);
    EXPECT_EQ(clock.to_unix_ns(0), 1'700'000'000 * kSecond);
    EXPECT_EQ(clock.to_unix_ns(5 * kSecond + 250'000), 1'700'000'005 * kSecond + 250'000);
    EXPECT_EQ(clock.rfc3339(5 * kSecond + 250'000), "2023-11-14T22:13:25.000250Z");
}

TEST(BootClock, NegativeOffset) {
    const BootClock clock(-2 * kSecond);
    EXPECT_EQ(clock.to_unix_ns(kSecond), -kSecond);
    EXPECT_EQ(clock.rfc3339(kSecond + 500'000'000), "1969-12-31T23:59:59.500000Z");
}

TEST(BootClock, ZeroOffsetIsIdentity) {
    const BootClock clock(0);
    EXPECT_EQ(clock.to_unix_ns(42), 42);
    EXPECT_EQ(clock.rfc3339(0), "1970-01-01T00:00:00.000000Z");
}

TEST(BootClock, MeasuredOffsetMapsBoottimeNowToRealtimeNow) {
    const BootClock clock;
    const int64_t boot = now_ns(CLOCK_BOOTTIME);
    const int64_t real = now_ns(CLOCK_REALTIME);
    const int64_t mapped = clock.to_unix_ns(static_cast<uint64_t>(boot));
    // Only preemption between the reads separates them; allow a generous 0.5 s.
    EXPECT_LT(std::llabs(mapped - real), kSecond / 2) << "mapped " << mapped << " realtime " << real;
}

}  // namespace
