// SPDX-License-Identifier: GPL-2.0-only
#include "drops/capture_event.hpp"

#include "kernel/ring_record.hpp"

namespace nfsleuth {

static_assert(sizeof(nfs_capture_event) % 8 == 0, "ring buffer records stay 8-byte aligned");

std::optional<CapturedPacket> decode_capture(const void* data, std::size_t size) {
    auto record = ring_record_as<nfs_capture_event>(data, size);
    if (!record) return std::nullopt;
    const nfs_capture_event& raw = *record;
    CapturedPacket p;
    p.unreadable = raw.flags & NFS_CAPTURE_UNREADABLE;
    if (p.unreadable) {
        if (raw.captured_len != 0) return std::nullopt;
    } else if (raw.captured_len > sizeof raw.data || raw.captured_len > raw.packet_len || raw.packet_len == 0) {
        return std::nullopt;
    }
    p.packet_len = raw.packet_len;
    p.bytes.assign(reinterpret_cast<const char*>(raw.data), raw.captured_len);
    p.drop = DropRecord{raw.ts_boot_ns, raw.key, decode_key(raw.key), decode_origin(raw.origin), 0, false};
    return p;
}

}  // namespace nfsleuth
