// SPDX-License-Identifier: GPL-2.0-only
// /proc/kallsyms: symbol resolution, function ranges (drops before 5.17)
// and the per-CPU layout (kernels whose BTF has no variables).
#include <sstream>
#include <string>

#include "fuzz_input.hpp"
#include "kernel/kallsyms.hpp"
#include "kernel/percpu_layout.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, std::size_t size) {
    const std::string text(nfsleuth_fuzz::as_text(data, size));
    std::istringstream symbols(text);
    auto parsed = nfsleuth::KernelSymbols::parse(symbols);
    for (uint64_t addr : {uint64_t{0}, uint64_t{0xffffffff81000000}, ~uint64_t{0}}) (void)parsed.resolve(addr);
    std::istringstream ranges(text);
    (void)nfsleuth::KernelSymbols::function_range(ranges, "nf_hook_slow");
    std::istringstream layout(text);
    (void)nfsleuth::percpu_layout_from_kallsyms(layout, nullptr);
    return 0;
}
