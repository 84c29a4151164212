// SPDX-License-Identifier: GPL-2.0-only
#include "percpu_layout.hpp"

#include <bpf/btf.h>

#include <cstring>
#include <fstream>
#include <map>
#include <set>
#include <string>
#include <string_view>

#include "kallsyms.hpp"

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

std::optional<PerCpuLayout> percpu_layout_from_kallsyms(std::istream& kallsyms, const btf* kernel_btf) {
    std::map<std::string, uint64_t> found;
    static const std::set<std::string> wanted = {"__per_cpu_start", "runqueues", "this_cpu_off", "__preempt_count",
                                                 "pcpu_hot"};
    for (std::string line; std::getline(kallsyms, line);) {
        auto l = KernelSymbols::parse_line(line);
        if (l && wanted.count(l->name)) found.emplace(l->name, l->addr);
    }
    // The area's symbols count from __per_cpu_start (0 on x86-64).
    uint64_t base = found.count("__per_cpu_start") ? found["__per_cpu_start"] : 0;
    auto offset = [&](const char* name) -> uint64_t {
        auto it = found.find(name);
        return it == found.end() || it->second < base ? 0 : it->second - base;
    };
    PerCpuLayout layout;
    layout.runqueues = offset("runqueues");
    layout.this_cpu_off = offset("this_cpu_off");
    layout.preempt_count = offset("__preempt_count");
    if (!layout.preempt_count && found.count("pcpu_hot") && kernel_btf) {
        int id = btf__find_by_name_kind(kernel_btf, "pcpu_hot", BTF_KIND_STRUCT);
        if (id > 0)
            if (auto off = member_offset(kernel_btf, static_cast<uint32_t>(id), "preempt_count"))
                layout.preempt_count = offset("pcpu_hot") + *off;
    }
    // runqueues at offset 0 is impossible: it would be a hidden address.
    if (!layout.complete()) return std::nullopt;
    return layout;
}

std::optional<PerCpuLayout> running_percpu_layout(const btf* kernel_btf) {
    auto layout = find_percpu_layout(kernel_btf);
    if (layout && layout->complete()) return layout;
    std::ifstream kallsyms("/proc/kallsyms");
    return percpu_layout_from_kallsyms(kallsyms, kernel_btf);
}

}  // namespace nfsleuth
