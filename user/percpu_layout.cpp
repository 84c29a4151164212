// SPDX-License-Identifier: GPL-2.0-only
#include "percpu_layout.hpp"

#include <bpf/btf.h>

#include <cstring>
#include <string_view>

namespace nfsleuth {

namespace {

// Byte offset of a named member of a struct type, or nullopt.
std::optional<uint64_t> member_offset(const btf* b, uint32_t type_id, std::string_view name) {
    const btf_type* t = btf__type_by_id(b, type_id);
    while (t && (btf_is_typedef(t) || btf_is_mod(t))) t = btf__type_by_id(b, t->type);
    if (!t || !btf_is_struct(t)) return std::nullopt;
    const btf_member* m = btf_members(t);
    for (uint16_t i = 0; i < btf_vlen(t); ++i, ++m) {
        if (name == btf__name_by_offset(b, m->name_off)) return btf_member_bit_offset(t, i) / 8;
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
