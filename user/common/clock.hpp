// SPDX-License-Identifier: GPL-2.0-only
#pragma once
#include <cstdint>
#include <string>

namespace nfsleuth {

// Formats nanoseconds since the Unix epoch as RFC 3339 UTC with microseconds,
// e.g. "2026-11-23T08:58:01.123456Z".
std::string format_rfc3339(int64_t unix_ns);

// BPF stamps events with CLOCK_BOOTTIME (it keeps counting across suspend);
// this converts such stamps to wall-clock time using the offset between the
// two clocks taken once at start-up.
class BootClock {
public:
    BootClock();  // reads the offset from the running system
    explicit BootClock(int64_t realtime_minus_boottime_ns) : offset_ns_(realtime_minus_boottime_ns) {}
    int64_t to_unix_ns(uint64_t boot_ns) const { return static_cast<int64_t>(boot_ns) + offset_ns_; }
    std::string rfc3339(uint64_t boot_ns) const { return format_rfc3339(to_unix_ns(boot_ns)); }
    // CLOCK_BOOTTIME now, the clock the BPF programs stamp events with.
    static uint64_t boot_now_ns();

private:
    int64_t offset_ns_;
};

}  // namespace nfsleuth
