// SPDX-License-Identifier: GPL-2.0-only
#pragma once
#include <cstdint>
#include <istream>
#include <string>
#include <string_view>
#include <map>
#include <optional>
#include <set>
#include <vector>

#include "common/unique_fd.hpp"

namespace nfsleuth {

// Resolves kernel text addresses to "symbol+0xoffset" from /proc/kallsyms.
class KernelSymbols {
public:
    struct Symbol {
        uint64_t addr;
        std::string name;
    };
    // One kallsyms line, "ADDRESS TYPE NAME [MODULE]", whatever the type;
    // nullopt when malformed. A hidden address reads 0.
    struct Line {
        uint64_t addr;
        std::string type;
        std::string name;
    };
    static std::optional<Line> parse_line(std::string_view line);
    // One kallsyms line as a text symbol; nullopt for data symbols, hidden
    // addresses and malformed lines.
    static std::optional<Symbol> text_symbol(std::string_view line);
    // Parses kallsyms text; keeps only text (t/T) symbols.
    static KernelSymbols parse(std::istream& in);
    // Reads kallsyms text from fd, from its start.
    static KernelSymbols read(int fd);

    std::string resolve(uint64_t addr) const;
    // Reads kallsyms text from fd, from its start, and returns the address of
    // each text symbol of `names` found (the first, if several share a name),
    // without keeping the rest.
    static std::map<std::string, uint64_t> addresses(int fd, const std::set<std::string>& names);
    // The text of function `name`: from its address to the next text
    // symbol's; nullopt when it is absent or hidden.
    struct Range {
        uint64_t start;
        uint64_t end;
    };
    static std::optional<Range> function_range(std::istream& in, const std::string& name);
    static std::optional<Range> function_range(int fd, const std::string& name);
    // The same for several functions in one pass; absent ones are left out.
    static std::map<std::string, Range> function_ranges(std::istream& in, const std::set<std::string>& names);
    static std::map<std::string, Range> function_ranges(int fd, const std::set<std::string>& names);
    bool empty() const { return symbols_.empty(); }

private:
    void sort();

    std::vector<Symbol> symbols_;
};

// The running kernel's symbols, parsed at the first lookup (about 100 ms)
// from a /proc/kallsyms opened at construction. The kernel decides at open
// whether the reader may see addresses (CAP_SYSLOG), so stacks still resolve
// after a daemon has given its capabilities up. Without access, or with
// addresses hidden by kptr_restrict, lookups return the raw address.
class RunningKernelSymbols {
public:
    RunningKernelSymbols();
    std::string resolve(uint64_t addr);
    // Read afresh at each call (modules loaded since count), not kept.
    std::map<std::string, uint64_t> addresses_of(const std::set<std::string>& names);
    std::optional<KernelSymbols::Range> function_range(const std::string& name);
    std::map<std::string, KernelSymbols::Range> function_ranges(const std::set<std::string>& names);

private:
    UniqueFd kallsyms_;
    std::optional<KernelSymbols> symbols_;
};

// Names the system call a kernel stack (innermost frame first) came through,
// from the first frame inside the syscall entry code ("__x64_sys_socket",
// "__sys_sendmsg", "ksys_read"): "socket", "sendmsg"; empty when the stack
// did not come from a system call.
std::string syscall_from_stack(const std::vector<std::string>& frames);

}  // namespace nfsleuth
