// SPDX-License-Identifier: GPL-2.0-only
#include "common/error.hpp"

#include <cstring>

namespace nfsleuth {

std::string describe_errno(int err) {
    int e = err < 0 ? -err : err;
    const char* name = strerrorname_np(e);
    return std::string(std::strerror(e)) + " (" + (name ? name : std::to_string(e)) + ")";
}

}  // namespace nfsleuth
