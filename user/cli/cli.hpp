// SPDX-License-Identifier: GPL-2.0-only
#pragma once
#include <chrono>
#include <cstdint>
#include <iosfwd>
#include <optional>
#include <string>

#include "process/workload.hpp"

namespace nfsleuth {

struct CommonOptions {
    bool json = false;
    bool verbose = false;
    std::optional<double> duration_s;
    std::optional<uint32_t> pid;
    std::optional<std::string> comm;
    std::string backend = "auto";
    std::optional<std::string> btf;
    PodDirectories pod_dirs;  // where pods and containers are named (Kubernetes nodes)

    // --duration as a timer length; nullopt: until a signal.
    std::optional<std::chrono::milliseconds> duration() const {
        if (!duration_s) return std::nullopt;
        return std::chrono::milliseconds(static_cast<int64_t>(*duration_s * 1000));
    }
};

// --pcap: packets of dropped flows written to a pcapng file.
struct PcapOptions {
    static constexpr uint32_t kMinSnaplen = 40;   // an IPv6 header, or IPv4 and the ports
    static constexpr uint32_t kMaxSnaplen = 256;  // what a capture record holds (NFS_CAPTURE_MAX)
    std::optional<std::string> file;  // none: nothing is captured
    uint32_t snaplen = 128;           // bytes of each packet, from its IP header
    uint32_t per_flow = 3;            // packets written per flow
    uint32_t per_second = 100;        // packets written per second
};

struct DropOptions {
    double interval_s = 1.0;      // how often aggregated counts are read and printed
    bool top = false;             // print the summary every interval too
    uint32_t max_flows = 16384;   // size of the in-kernel aggregation map
    double arm_at_percent = 50;   // per-connection hooks from this fill on (0: always)
    PcapOptions pcap;
};

struct WatchOptions {
    double threshold_percent = 90;             // ct_pressure when a table is this full
    std::optional<std::string> metrics;        // HOST:PORT of the Prometheus endpoint
    std::optional<std::string> journal;        // JSON-lines file
    uint64_t journal_max_bytes = 64ull << 20;  // rotate beyond this
    unsigned journal_keep = 5;                 // rotated files kept
    double journal_fsync_s = 1.0;              // fsync at most this often
    double window_s = 300;                     // creators are ranked over the last 1-2 windows
    double forecast_window_s = 60;             // growth: the slope of the entry count over this
    double full_within_s = 600;                // ct_pressure "filling" when full within this (0: never)
    bool bpf_stats = false;                    // enable kernel.bpf_stats while running
    bool quiet = false;                        // no events on stdout
};

struct WhyOptions {
    std::string module;                  // the module to explain, e.g. "nf_conntrack"
    std::optional<std::string> journal;  // a `watch` journal to read its loads from
};

struct DoctorOptions {
    std::optional<std::string> journal;  // a `watch` journal to read its findings from
};

struct Invocation {
    std::string command;  // "doctor", "modules", "drops", "watch", "why"
    CommonOptions options;
    DoctorOptions doctor;
    DropOptions drops;
    WatchOptions watch;
    WhyOptions why;
};

// "64M" -> 67108864; plain bytes or a K/M/G suffix (powers of 1024).
std::optional<uint64_t> parse_size(const std::string& text);

struct ParseOutcome {
    std::optional<Invocation> invocation;  // absent: nothing to run, exit with exit_code
    int exit_code = 0;
};

// Parses the command line. Help and version go to `out` (exit 0); usage
// errors go to `err` as one sentence plus a hint (exit 2).
ParseOutcome parse_command_line(int argc, const char* const* argv, std::ostream& out, std::ostream& err);

}  // namespace nfsleuth
