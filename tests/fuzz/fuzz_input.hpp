// SPDX-License-Identifier: GPL-2.0-only
// What every fuzz target shares: the input as text, and as lines.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace nfsleuth_fuzz {

inline std::string_view as_text(const uint8_t* data, std::size_t size) {
    return {reinterpret_cast<const char*>(data), size};
}

}  // namespace nfsleuth_fuzz
