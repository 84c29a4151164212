// SPDX-License-Identifier: GPL-2.0-only
#pragma once
#include <cstdint>
#include <istream>
#include <string>
#include <string_view>
#include <vector>

namespace nfsleuth {

// Resolves kernel text addresses to "symbol+0xoffset" from /proc/kallsyms.
class KernelSymbols {
public:
    // Parses kallsyms text; keeps only text (t/T) symbols.
    static KernelSymbols parse(std::istream& in);
    // Reads /proc/kallsyms; empty (every lookup returns the raw address) when
    // it cannot be read or its addresses are hidden by kptr_restrict.
    static KernelSymbols load_running_kernel();

    std::string resolve(uint64_t addr) const;
    bool empty() const { return symbols_.empty(); }

private:
    struct Symbol {
        uint64_t addr;
        std::string name;
    };
    std::vector<Symbol> symbols_;
};

// Names the system call a kernel stack (innermost frame first) came through,
// from the first frame inside the syscall entry code ("__x64_sys_socket",
// "__sys_sendmsg", "ksys_read"): "socket", "sendmsg"; empty when the stack
// did not come from a system call.
std::string syscall_from_stack(const std::vector<std::string>& frames);

}  // namespace nfsleuth
