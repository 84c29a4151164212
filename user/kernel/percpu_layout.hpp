// SPDX-License-Identifier: GPL-2.0-only
#pragma once
#include <cstdint>
#include <istream>
#include <optional>

struct btf;

namespace nfsleuth {

// Where some per-CPU variables sit inside the per-CPU area, from the
// kernel's BTF (DATASEC ".data..percpu"). The drop programs use them to
// reach other CPUs' conntrack statistics and this CPU's preemption count on
// kernels whose kallsyms lacks data symbols.
struct PerCpuLayout {
    uint64_t runqueues = 0;       // struct rq runqueues
    uint64_t this_cpu_off = 0;    // unsigned long this_cpu_off (x86)
    uint64_t preempt_count = 0;   // int __preempt_count, or pcpu_hot.preempt_count (6.2 to 6.14)
    bool complete() const { return runqueues && this_cpu_off; }
};

// nullopt when the BTF has no per-CPU data section.
std::optional<PerCpuLayout> find_percpu_layout(const btf* kernel_btf);

// The same from kallsyms text, for kernels whose BTF has no variables
// (Debian's 5.10, for one) but whose kallsyms lists data symbols
// (CONFIG_KALLSYMS_ALL): per-CPU symbols are listed at their offset in the
// per-CPU area. `kernel_btf`, when given, places preempt_count inside
// pcpu_hot. nullopt when the symbols are absent or hidden.
std::optional<PerCpuLayout> percpu_layout_from_kallsyms(std::istream& kallsyms, const btf* kernel_btf);

// The kernel's BTF, else the running kernel's /proc/kallsyms.
std::optional<PerCpuLayout> running_percpu_layout(const btf* kernel_btf);

// Writes the layout into a skeleton's rodata (pcpu_* of context.bpf.h);
// false when neither the kernel's BTF nor its kallsyms have it.
template <class Rodata>
bool apply_percpu_layout(Rodata* rodata, const btf* kernel_btf) {
    auto layout = running_percpu_layout(kernel_btf);
    if (!layout || !layout->complete()) return false;
    rodata->pcpu_runqueues = layout->runqueues;
    rodata->pcpu_this_cpu_off = layout->this_cpu_off;
    rodata->pcpu_preempt_count = layout->preempt_count;
    return true;
}

}  // namespace nfsleuth
