// SPDX-License-Identifier: GPL-2.0-only
// Conntrack netlink messages as the kernel multicasts them (watch follows
// every namespace's NEW events on kernels without kprobes or fentry).
#include <cstring>
#include <vector>

#include "conntrack/ct_netlink.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, std::size_t size) {
    // Netlink buffers are 4-byte aligned; the parser may rely on it.
    std::vector<uint32_t> aligned((size + 3) / 4);
    if (size) std::memcpy(aligned.data(), data, size);
    (void)nfsleuth::parse_ct_new_message(aligned.data(), size, 4026531840u);
    return 0;
}
