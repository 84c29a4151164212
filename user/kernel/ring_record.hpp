// SPDX-License-Identifier: GPL-2.0-only
#pragma once
#include <cstddef>
#include <cstring>
#include <optional>

namespace nfsleuth {

// A record copied out as the C struct its writer wrote (a ring-buffer record
// of the BPF side, a netns broker message), or nullopt when its size is not
// that struct's (a mismatched BPF object, a malformed message).
template <class Raw>
std::optional<Raw> ring_record_as(const void* data, std::size_t size) {
    if (size != sizeof(Raw)) return std::nullopt;
    Raw raw;
    std::memcpy(&raw, data, sizeof raw);
    return raw;
}

}  // namespace nfsleuth
