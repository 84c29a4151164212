// SPDX-License-Identifier: GPL-2.0-only
#include "modules/module_event.hpp"

#include <algorithm>

#include "common/text.hpp"
#include "kernel/ring_record.hpp"

namespace nfsleuth {

static_assert(sizeof(nfs_module_event) % 8 == 0, "ring buffer records stay 8-byte aligned");
static_assert(offsetof(nfs_module_event, proc) % 8 == 0, "nfs_proc keeps its natural alignment");

const char* to_string(ModuleEventType t) {
    switch (t) {
        case ModuleEventType::request: return "module_request";
        case ModuleEventType::load: return "module_load";
        case ModuleEventType::load_error: return "module_load_error";
        case ModuleEventType::free: return "module_free";
    }
    return "unknown";
}

std::optional<ModuleEvent> decode_module_event(const void* data, std::size_t size) {
    auto record = ring_record_as<nfs_module_event>(data, size);
    if (!record) return std::nullopt;
    const nfs_module_event& raw = *record;

    ModuleEvent ev;
    switch (raw.type) {
        case NFS_MOD_REQUEST: ev.type = ModuleEventType::request; break;
        case NFS_MOD_LOAD: ev.type = ModuleEventType::load; break;
        case NFS_MOD_LOAD_ERROR: ev.type = ModuleEventType::load_error; break;
        case NFS_MOD_FREE: ev.type = ModuleEventType::free; break;
        default: return std::nullopt;
    }
    ev.ts_boot_ns = raw.ts_boot_ns;
    ev.module = std::string(bounded_cstr(raw.module, sizeof raw.module));
    ev.wait = raw.wait != 0;
    ev.error = raw.error;
    if (raw.kstack_bytes < 0) {
        ev.kstack_error = raw.kstack_bytes;
    } else {
        std::size_t frames = std::min<std::size_t>(raw.kstack_bytes / sizeof(uint64_t), NFS_KSTACK_DEPTH);
        ev.kstack.assign(raw.kstack, raw.kstack + frames);
    }
    ev.proc = decode_process(raw.proc);
    return ev;
}

}  // namespace nfsleuth
