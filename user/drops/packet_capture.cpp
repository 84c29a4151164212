// SPDX-License-Identifier: GPL-2.0-only
#include "drops/packet_capture.hpp"

#include <exception>
#include <iostream>

#include "common/error.hpp"
#include "common/text.hpp"
#include "process/process_output.hpp"
#include "version.hpp"

namespace nfsleuth {

namespace {

using ojson = nlohmann::ordered_json;

PcapngFile create_file(const std::string& path) {
    try {
        return PcapngFile::create(path, std::string("nfsleuth ") + version);
    } catch (const std::runtime_error& e) {
        throw Failure(ExitCode::failure, e.what(),
                      "give --pcap a file in a directory that exists and that root can write to");
    }
}

CaptureLimits limits_of(const PcapOptions& o) {
    CaptureLimits limits;
    limits.packets_per_flow = o.per_flow;
    limits.packets_per_second = o.per_second;
    return limits;
}

// The aggregation key's bytes: the kernel counted the flow's captures by
// exactly this key.
std::string flow_key(const CapturedPacket& p) {
    return std::string(reinterpret_cast<const char*>(&p.drop.raw_key), sizeof p.drop.raw_key);
}

std::string name_or_dash(const std::optional<std::string>& name) {
    return name ? escape_for_terminal(*name) : std::string("-");
}

}  // namespace

std::string capture_comment(const DropRecord& r, const DropContext& c) {
    const Origin& o = r.origin;
    std::string s = "cause=" + cause_name(r.key);
    s += " netns=" + std::to_string(r.key.netns);
    if (c.netns_name) s += "(" + escape_for_terminal(*c.netns_name) + ")";
    if (r.key.zone) s += " zone=" + std::to_string(r.key.zone);
    s += " hook=" + name_or_dash(r.key.hook ? r.key.hook : o.hook);
    s += " in=" + name_or_dash(o.in_if) + " out=" + name_or_dash(o.out_if);
    if (o.pid) s += " pid=" + std::to_string(*o.pid) + " comm=\"" + escape_for_terminal(o.comm) + "\"";
    if (c.cgroup) s += workload_words(c.cgroup->workload);
    return s;
}

ojson to_json(const CaptureAccounting& a) {
    return {{"file", a.path},
            {"written", a.written},
            {"skipped_flow", a.skipped_flow},
            {"skipped_rate", a.skipped_rate},
            {"lost", a.lost},
            {"unreadable", a.unreadable},
            {"malformed", a.malformed},
            {"write_errors", a.write_errors},
            {"bytes", a.bytes},
            {"unavailable", a.unavailable ? ojson(*a.unavailable) : ojson(nullptr)}};
}

std::string to_human_line(const CaptureAccounting& a) {
    if (a.unavailable) return "Pcap " + escape_for_terminal(a.path) + ": no packet bytes: " + *a.unavailable;
    std::string line = "Pcap " + escape_for_terminal(a.path) + ": " + std::to_string(a.written) +
                       " packets written, " + std::to_string(a.skipped_flow) + " skipped (--pcap-per-flow), " +
                       std::to_string(a.skipped_rate) + " skipped (--pcap-per-second), " + std::to_string(a.lost) +
                       " lost (ring buffer full)";
    if (a.unreadable) line += ", " + std::to_string(a.unreadable) + " unreadable";
    if (a.malformed) line += ", " + std::to_string(a.malformed) + " malformed";
    if (a.write_errors) line += ", " + std::to_string(a.write_errors) + " not written (I/O errors)";
    return line;
}

PacketCapture::PacketCapture(const PcapOptions& options, BootClock clock)
    : options_(options), clock_(clock), file_(create_file(options.file.value_or(""))), limiter_(limits_of(options)) {}

bool PacketCapture::admit(const CapturedPacket& p) {
    if (p.unreadable) {
        ++unreadable_;
        return false;
    }
    return limiter_.admit(flow_key(p), p.drop.ts_boot_ns);
}

void PacketCapture::write(const CapturedPacket& p, const DropContext& c) {
    const std::string_view bytes = std::string_view(p.bytes).substr(0, options_.snaplen);
    try {
        file_.write_packet(static_cast<uint64_t>(clock_.to_unix_ns(p.drop.ts_boot_ns)), p.packet_len, bytes,
                           capture_comment(p.drop, c));
    } catch (const std::exception& e) {
        if (write_errors_++ == 0)
            std::cerr << "nfsleuth: warning: " << e.what() << "; further write errors are only counted (summary)"
                      << std::endl;
    }
}

CaptureAccounting PacketCapture::accounting() const {
    CaptureAccounting a;
    a.path = file_.path();
    a.written = file_.packets_written();
    a.skipped_flow = limiter_.skipped_per_flow();
    a.skipped_rate = limiter_.skipped_rate();
    a.unreadable = unreadable_;
    a.malformed = malformed_;
    a.write_errors = write_errors_;
    a.bytes = file_.bytes_written();
    a.unavailable = unavailable_;
    return a;
}

std::string PacketCapture::describe() const {
    if (unavailable_)
        return escape_for_terminal(file_.path()) + ": no packet bytes, the file stays empty: " + *unavailable_;
    return escape_for_terminal(file_.path()) + " (the first " + std::to_string(options_.snaplen) +
           " bytes of the first " + std::to_string(options_.per_flow) + " dropped packets of each flow, at most " +
           std::to_string(options_.per_second) + " a second)";
}

}  // namespace nfsleuth
