// SPDX-License-Identifier: GPL-2.0-only
// A kernel BTF (given with --btf on kernels without /sys/kernel/btf/vmlinux):
// libbpf parses it, nfsleuth walks it for the per-CPU layout.
#include <bpf/btf.h>

#include "kernel/percpu_layout.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, std::size_t size) {
    btf* b = btf__new(data, static_cast<__u32>(size));
    if (!b) return 0;
    (void)nfsleuth::find_percpu_layout(b);
    btf__free(b);
    return 0;
}
