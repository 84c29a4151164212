// SPDX-License-Identifier: GPL-2.0-only
#include "kernel/percpu_layout.hpp"

#include <bpf/btf.h>

#include <cstring>
#include <fstream>
#include <map>
#include <set>
#include <string>
#include <string_view>

#include "kernel/kallsyms.hpp"

namespace nfsleuth {

namespace {

// A name from the BTF's string section; "" for an offset outside it (a
// --btf file is anyone's).
std::string_view name_at(const btf* b, uint32_t offset) {
    const char* name = btf__name_by_offset(b, offset);
    return name ? std::string_view(name) : std::string_view();
}

// The type behind typedefs and qualifiers; nullptr for a chain that does
// not end (a crafted BTF can loop) or leads nowhere.
const btf_type* resolved_type(const btf* b, uint32_t type_id) {
    const btf_type* t = btf__type_by_id(b, type_id);
    for (int hops = 0; t && (btf_is_typedef(t) || btf_is_mod(t)); ++hops) {
        if (hops == 32) return nullptr;
        t = btf__type_by_id(b, t->type);
    }
    return t;
}

// Byte offset of a named member of a struct or union type, looking inside
// anonymous members (pcpu_hot keeps preempt_count in an anonymous struct
// inside an anonymous union), or nullopt. `budget` bounds the members
// looked at in all: nesting in a crafted BTF could otherwise multiply them.
std::optional<uint64_t> member_offset(const btf* b, uint32_t type_id, std::string_view name, int& budget,
                                      int depth = 0) {
    const btf_type* t = resolved_type(b, type_id);
    if (!t || !btf_is_composite(t) || depth > 8) return std::nullopt;
    const btf_member* m = btf_members(t);
    for (uint16_t i = 0; i < btf_vlen(t); ++i, ++m) {
        if (--budget < 0) return std::nullopt;
        uint64_t here = btf_member_bit_offset(t, i) / 8;
        if (m->name_off == 0) {
            if (auto inner = member_offset(b, m->type, name, budget, depth + 1)) return here + *inner;
        } else if (name == name_at(b, m->name_off)) {
            return here;
        }
    }
    return std::nullopt;
}

// pcpu_hot has a few dozen members; the kernel's real nesting is 3 deep.
constexpr int kMemberBudget = 4096;

std::optional<uint64_t> member_offset(const btf* b, uint32_t type_id, std::string_view name) {
    int budget = kMemberBudget;
    return member_offset(b, type_id, name, budget);
}

}  // namespace

std::optional<PerCpuLayout> find_percpu_layout(const btf* b) {
    if (!b) return std::nullopt;
    int sec_id = btf__find_by_name_kind(b, ".data..percpu", BTF_KIND_DATASEC);
    if (sec_id <= 0) return std::nullopt;
    const btf_type* sec = btf__type_by_id(b, sec_id);
    PerCpuLayout layout;
    int budget = kMemberBudget;  // for the whole section, whatever it holds
    const btf_var_secinfo* vs = btf_var_secinfos(sec);
    for (uint16_t i = 0; i < btf_vlen(sec); ++i, ++vs) {
        const btf_type* var = btf__type_by_id(b, vs->type);
        if (!var || !btf_is_var(var)) continue;
        std::string_view name = name_at(b, var->name_off);
        if (name == "runqueues") layout.runqueues = vs->offset;
        else if (name == "this_cpu_off") layout.this_cpu_off = vs->offset;
        else if (name == "__preempt_count") layout.preempt_count = vs->offset;
        else if (name == "pcpu_hot" && !layout.preempt_count) {
            if (auto off = member_offset(b, var->type, "preempt_count", budget)) layout.preempt_count = vs->offset + *off;
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
