// SPDX-License-Identifier: GPL-2.0-only
// Packets of dropped flows as a pcapng file (draft-ietf-opsawg-pcapng), one
// comment per packet saying why conntrack dropped it, so that Wireshark or
// tshark show the drop next to the packet.
//
// Blocks are written in host byte order; the section header's byte-order
// magic tells readers which one that is.
#pragma once
#include <cstddef>
#include <cstdint>
#include <deque>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>

#include "common/unique_fd.hpp"

namespace nfsleuth {

// LINKTYPE_RAW: the packet starts at its IPv4 or IPv6 header.
inline constexpr uint16_t kLinktypeRaw = 101;
inline constexpr uint16_t kLinktypeEthernet = 1;

// The most bytes an option value can hold (its length is 16 bits); longer
// strings are cut there, at a UTF-8 character boundary.
inline constexpr std::size_t kPcapngMaxOptionLength = 65535;

// Section Header Block: version 1.0, section length unknown (-1), the
// writing application in shb_userappl.
std::string pcapng_section_header(std::string_view application);

// Interface Description Block with if_name, if_description and if_tsresol
// set to nanoseconds, which pcapng_packet's timestamps are in.
std::string pcapng_interface(uint16_t linktype, uint32_t snaplen, std::string_view name,
                             std::string_view description);

// Enhanced Packet Block. timestamp_ns counts from the Unix epoch. An empty
// comment adds no opt_comment; a non-empty one must be UTF-8. The original
// length is raised to captured.size() if smaller, as no packet is shorter
// than what was captured of it. Throws std::length_error for a packet too
// large for a block's 32-bit length.
std::string pcapng_packet(uint32_t interface_id, uint64_t timestamp_ns, uint32_t original_length,
                          std::string_view captured, std::string_view comment);

// A pcapng file with one interface (LINKTYPE_RAW, "nfsleuth") that packets
// are appended to. Each packet goes out whole in one write loop, so a killed
// process leaves at most its last block torn.
class PcapngFile {
public:
    static constexpr uint32_t kInterfaceSnaplen = 65535;

    // Creates or truncates `path` (mode 0640) and writes the section header
    // and the interface. Throws std::runtime_error naming the path and errno.
    static PcapngFile create(const std::string& path, std::string_view application);

    PcapngFile(PcapngFile&&) noexcept = default;
    PcapngFile& operator=(PcapngFile&&) noexcept = default;
    PcapngFile(const PcapngFile&) = delete;
    PcapngFile& operator=(const PcapngFile&) = delete;

    // Captured bytes beyond kInterfaceSnaplen are left out. Throws
    // std::runtime_error on an I/O error, after cutting the partly written
    // block off the file so that later packets still follow whole blocks.
    void write_packet(uint64_t timestamp_ns, uint32_t original_length, std::string_view captured,
                      std::string_view comment);
    // Every block is written to the kernel as soon as it is made; nothing
    // waits in user space, so there is nothing to do.
    void flush() {}

    uint64_t packets_written() const { return packets_written_; }
    // All of the file's bytes, headers included.
    uint64_t bytes_written() const { return bytes_written_; }
    const std::string& path() const { return path_; }

private:
    PcapngFile(UniqueFd fd, std::string path) : fd_(std::move(fd)), path_(std::move(path)) {}
    // Writes `block` whole or restores the file to its last whole block and throws.
    void write_block(const std::string& block);

    UniqueFd fd_;
    std::string path_;
    uint64_t packets_written_ = 0;
    uint64_t bytes_written_ = 0;
    bool torn_ = false;  // a failed block could not be cut off: the file is beyond repair
};

struct CaptureLimits {
    uint32_t packets_per_flow = 3;
    uint32_t packets_per_second = 100;
    std::size_t max_flows = 4096;  // at least 1 flow is always remembered
};

// Which dropped packets get written: a few per flow, so that one flood does
// not crowd out every other flow, and a bounded number per second, so that
// the file grows at a bounded rate. A limit of 0 admits nothing.
class CaptureLimiter {
public:
    explicit CaptureLimiter(CaptureLimits limits = {});

    // True when the packet may be written; counts it as written then.
    // now_ns must only go forward; a time behind the current one-second
    // window (records from different CPUs arrive slightly out of order)
    // counts as inside it.
    bool admit(const std::string& flow_key, uint64_t now_ns);

    uint64_t admitted() const { return admitted_; }
    uint64_t skipped_per_flow() const { return skipped_per_flow_; }
    uint64_t skipped_rate() const { return skipped_rate_; }
    // Flows dropped from memory to make room; each may get packets_per_flow
    // more packets if it comes back.
    uint64_t flows_forgotten() const { return flows_forgotten_; }
    std::size_t flows_remembered() const { return admitted_per_flow_.size(); }

private:
    void remember(const std::string& flow_key);

    CaptureLimits limits_;
    std::unordered_map<std::string, uint32_t> admitted_per_flow_;
    std::deque<std::string> flows_by_age_;  // oldest first
    bool window_open_ = false;
    uint64_t window_start_ns_ = 0;
    uint32_t admitted_in_window_ = 0;
    uint64_t admitted_ = 0;
    uint64_t skipped_per_flow_ = 0;
    uint64_t skipped_rate_ = 0;
    uint64_t flows_forgotten_ = 0;
};

}  // namespace nfsleuth
