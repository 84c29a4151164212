// SPDX-License-Identifier: GPL-2.0-only
#include "common/clock.hpp"

#include <cstdio>
#include <ctime>

namespace nfsleuth {

namespace {
int64_t read_ns(clockid_t id) {
    timespec ts{};
    clock_gettime(id, &ts);
    return static_cast<int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}
}  // namespace

BootClock::BootClock() {
    // Take boottime between two realtime reads and use their midpoint to
    // halve the error from being preempted in between.
    int64_t r1 = read_ns(CLOCK_REALTIME);
    int64_t b = read_ns(CLOCK_BOOTTIME);
    int64_t r2 = read_ns(CLOCK_REALTIME);
    offset_ns_ = r1 + (r2 - r1) / 2 - b;
}

uint64_t BootClock::boot_now_ns() { return static_cast<uint64_t>(read_ns(CLOCK_BOOTTIME)); }

std::string format_rfc3339(int64_t unix_ns) {
    int64_t secs = unix_ns / 1'000'000'000;
    int64_t rem = unix_ns % 1'000'000'000;
    if (rem < 0) {
        rem += 1'000'000'000;
        --secs;
    }
    time_t t = static_cast<time_t>(secs);
    tm utc{};
    gmtime_r(&t, &utc);
    char buf[48];
    std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%06ldZ", utc.tm_year + 1900, utc.tm_mon + 1,
                  utc.tm_mday, utc.tm_hour, utc.tm_min, utc.tm_sec, static_cast<long>(rem / 1000));
    return buf;
}

}  // namespace nfsleuth
