// SPDX-License-Identifier: GPL-2.0-only
#include "percpu_layout.hpp"

#include <bpf/btf.h>

#include <cstring>
#include <string_view>

namespace nfsleuth {

namespace {

// Byte offset of a named member of a struct or union type, looking inside
// anonymous members (pcpu_hot keeps preempt_count in an anonymous struct
// inside an anonymous union), or nullopt.
std::optional<uint64_t> member_offset(const btf* b, uint32_t type_id, std::string_view name, int depth = 0) {
    const btf_type* t = btf__type_by_id(b, type_id);
    while (t && (btf_is_typedef(t) || btf_is_mod(t))) t = btf__type_by_id(b, t->type);
    if (!t || !btf_is_composite(t) || depth > 8) return std::nullopt;
    const btf_member* m = btf_members(t);
    for (uint16_t i = 0; i < btf_vlen(t); ++i, ++m) {
        uint64_t here = btf_member_bit_offset(t, i) / 8;
        if (m->name_off == 0) {
            if (auto inner = member_offset(b, m->type, name, depth + 1)) return here + *inner;
        } else if (name == btf__name_by_offset(b, m->name_off)) {
            return here;
        }
    }
    return std::nullopt;
}

}  // namespace

std::optional<PerCpuLayout> find_percpu_layout(const btf* b) {
    if (!b) return std::nullopt;
    int sec_id = btf__find_by_name_kind(b, ".data..percpu", BTF_KIND_DATASEC);
    if (sec_id <= 0) return std::nullopt;
    const btf_type* sec = btf__type_by_id(b, sec_id);
    PerCpuLayout layout;
    const btf_var_secinfo* vs = btf_var_secinfos(sec);
    for (uint16_t i = 0; i < btf_vlen(sec); ++i, ++vs) {
        const btf_type* var = btf__type_by_id(b, vs->type);
        std::string_view name = btf__name_by_offset(b, var->name_off);
        if (name == "runqueues") layout.runqueues = vs->offset;
        else if (name == "this_cpu_off") layout.this_cpu_off = vs->offset;
        else if (name == "__preempt_count") layout.preempt_count = vs->offset;
        else if (name == "pcpu_hot" && !layout.preempt_count) {
            if (auto off = member_offset(b, var->type, "preempt_count")) layout.preempt_count = vs->offset + *off;
        }
    }
    return layout;
}

}  // namespace nfsleuth
