// SPDX-License-Identifier: GPL-2.0-only
#pragma once
#include <nlohmann/json.hpp>
#include <string>

namespace nfsleuth {

// One JSON document on one line, pure ASCII: non-ASCII is \u-escaped and
// bytes that are not valid UTF-8 become U+FFFD, so hostile strings can
// neither break the line framing nor the parser downstream.
inline std::string json_line(const nlohmann::ordered_json& j) {
    return j.dump(-1, ' ', true, nlohmann::ordered_json::error_handler_t::replace);
}

}  // namespace nfsleuth
