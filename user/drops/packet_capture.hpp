// SPDX-License-Identifier: GPL-2.0-only
// --pcap: captured packets of dropped flows written to a pcapng file, a few
// per flow and a bounded number per second, each with the drop's context
// as its comment; and the accounting of what was written and what not.
#pragma once
#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "cli/cli.hpp"
#include "common/clock.hpp"
#include "drops/capture_event.hpp"
#include "drops/drop_output.hpp"
#include "drops/pcapng.hpp"

namespace nfsleuth {

// A packet's comment: the drop's context on one printable line, e.g.
// cause=table_full netns=4026532100(ctfull) hook=output in=- out=lo pid=123 comm="curl"
// (then container=... pod=... when known). Names from the traced world are
// escaped (escape_for_terminal), so the line holds no control character
// and no invalid UTF-8.
std::string capture_comment(const DropRecord& r, const DropContext& c);

// What became of the captured packets.
struct CaptureAccounting {
    std::string path;
    uint64_t written = 0;       // packets in the file
    uint64_t skipped_flow = 0;  // past --pcap-per-flow (in the kernel or here)
    uint64_t skipped_rate = 0;  // past --pcap-per-second
    uint64_t lost = 0;          // capture records the ring buffer had no room for
    uint64_t unreadable = 0;    // packets whose bytes the kernel could not read
    uint64_t malformed = 0;     // capture records that did not decode
    uint64_t write_errors = 0;  // packets the file could not take
    uint64_t bytes = 0;         // the file's size
    std::optional<std::string> unavailable;  // why no packet can be captured at all
};
nlohmann::ordered_json to_json(const CaptureAccounting& a);
// "Pcap FILE: 15 packets written, 35 skipped (--pcap-per-flow), ..."
std::string to_human_line(const CaptureAccounting& a);

// Owns the file and the limits. Records that fail to decode, and packets
// the kernel could not read, are counted here too.
class PacketCapture {
public:
    // Creates (truncates) the file at once: a run without drops still
    // leaves a valid, empty capture. Throws Failure (exit 1) when it cannot.
    explicit PacketCapture(const PcapOptions& options, BootClock clock = BootClock());

    // Whether a packet is to be written; counts it as skipped (or
    // unreadable) when not. Cheap: ask before building its context.
    bool admit(const CapturedPacket& p);
    // Writes an admitted packet with the drop's context as its comment.
    // A write error is counted and reported on stderr once; never throws.
    void write(const CapturedPacket& p, const DropContext& c);
    void count_malformed() { ++malformed_; }
    // No packet will come (the kernel cannot run the capture): the file
    // stays empty, and the banner and the accounting say why.
    void give_up(std::string reason) { unavailable_ = std::move(reason); }
    bool available() const { return !unavailable_; }

    // Everything but the kernel's counts (skipped there per flow, lost),
    // which the caller adds.
    CaptureAccounting accounting() const;
    const PcapOptions& options() const { return options_; }
    // For the start banner: the file and its limits.
    std::string describe() const;

private:
    PcapOptions options_;
    BootClock clock_;
    PcapngFile file_;
    CaptureLimiter limiter_;
    uint64_t unreadable_ = 0;
    uint64_t malformed_ = 0;
    uint64_t write_errors_ = 0;
    std::optional<std::string> unavailable_;
};

}  // namespace nfsleuth
