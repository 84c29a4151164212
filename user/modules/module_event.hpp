// SPDX-License-Identifier: GPL-2.0-only
#pragma once
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "modules.h"
#include "process/process.hpp"

namespace nfsleuth {

enum class ModuleEventType { request, load, load_error, free };

const char* to_string(ModuleEventType t);

struct ModuleEvent {
    ModuleEventType type = ModuleEventType::request;
    uint64_t ts_boot_ns = 0;
    std::string module;
    bool wait = false;
    int error = 0;                    // load_error: negative errno
    std::vector<uint64_t> kstack;     // request: return addresses, innermost first
    int kstack_error = 0;             // negative errno when the stack was not captured
    Process proc;
};

// Decodes one ring-buffer record; nullopt if it is not a well-formed event
// (wrong size or unknown type), which means a mismatched BPF object.
std::optional<ModuleEvent> decode_module_event(const void* data, std::size_t size);

}  // namespace nfsleuth
