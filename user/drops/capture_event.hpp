// SPDX-License-Identifier: GPL-2.0-only
// Capture records (--pcap): a dropped packet's first bytes with its drop
// key, decoded from the capture ring buffer without trusting a length.
#pragma once
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>

#include "drops/drop_aggregator.hpp"

namespace nfsleuth {

struct CapturedPacket {
    // The drop the packet is one of: its key decoded, the origin of the
    // key's first drop, count 0 (a capture adds no drops to any count).
    DropRecord drop;
    uint32_t packet_len = 0;  // from the network header to the packet's end
    std::string bytes;        // its first bytes from the network header
    bool unreadable = false;  // the kernel could not read them (bytes empty)
};

// nullopt for a record of the wrong size, or whose lengths contradict
// each other (more captured than the record holds, or than the packet has).
std::optional<CapturedPacket> decode_capture(const void* data, std::size_t size);

}  // namespace nfsleuth
