// SPDX-License-Identifier: GPL-2.0-only
// Ring buffer records: sized and typed by the BPF programs, but a decoder
// must never read past a short or mismatched record.
#include <cstring>
#include <vector>

#include "activations/activation_event.hpp"
#include "drops/capture_event.hpp"
#include "drops/drop_event.hpp"
#include "modules/module_event.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, std::size_t size) {
    // Ring buffer records are 8-byte aligned.
    std::vector<uint64_t> aligned((size + 7) / 8);
    if (size) std::memcpy(aligned.data(), data, size);
    (void)nfsleuth::decode_first_drop(aligned.data(), size);
    (void)nfsleuth::decode_capture(aligned.data(), size);
    (void)nfsleuth::decode_module_event(aligned.data(), size);
    (void)nfsleuth::decode_activation_event(aligned.data(), size);
    return 0;
}
