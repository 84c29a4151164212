// SPDX-License-Identifier: GPL-2.0-only
#include "kernel/kallsyms.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <charconv>
#include <cstdio>
#include <functional>
#include <optional>
#include <sstream>

namespace nfsleuth {

std::optional<KernelSymbols::Line> KernelSymbols::parse_line(std::string_view line) {
    std::istringstream fields{std::string(line)};
    std::string addr_hex;
    Line l{0, {}, {}};
    if (!(fields >> addr_hex >> l.type >> l.name)) return std::nullopt;
    const char* end = addr_hex.data() + addr_hex.size();
    auto [used_to, error] = std::from_chars(addr_hex.data(), end, l.addr, 16);
    if (error != std::errc() || used_to != end) return std::nullopt;
    return l;
}

std::optional<KernelSymbols::Symbol> KernelSymbols::text_symbol(std::string_view line) {
    auto l = parse_line(line);
    if (!l || (l->type != "t" && l->type != "T")) return std::nullopt;
    if (l->addr == 0) return std::nullopt;  // hidden by kptr_restrict
    return Symbol{l->addr, std::move(l->name)};
}

void KernelSymbols::sort() {
    std::sort(symbols_.begin(), symbols_.end(), [](const Symbol& a, const Symbol& b) { return a.addr < b.addr; });
}

KernelSymbols KernelSymbols::parse(std::istream& in) {
    KernelSymbols ks;
    std::string line;
    while (std::getline(in, line))
        if (auto sym = text_symbol(line)) ks.symbols_.push_back(std::move(*sym));
    ks.sort();
    return ks;
}

namespace {

// Each line of the kallsyms text fd holds, from its start.
void for_each_line(int fd, const std::function<void(std::string_view)>& on_line) {
    if (::lseek(fd, 0, SEEK_SET) < 0) return;
    std::string pending;
    char chunk[65536];
    for (;;) {
        ssize_t n = ::read(fd, chunk, sizeof chunk);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;
        pending.append(chunk, static_cast<std::size_t>(n));
        std::size_t start = 0;
        for (std::size_t nl; (nl = pending.find('\n', start)) != std::string::npos; start = nl + 1)
            on_line(std::string_view(pending).substr(start, nl - start));
        pending.erase(0, start);
    }
    if (!pending.empty()) on_line(pending);
}

}  // namespace

KernelSymbols KernelSymbols::read(int fd) {
    KernelSymbols ks;
    for_each_line(fd, [&ks](std::string_view line) {
        if (auto sym = text_symbol(line)) ks.symbols_.push_back(std::move(*sym));
    });
    ks.sort();
    return ks;
}

std::map<std::string, uint64_t> KernelSymbols::addresses(int fd, const std::set<std::string>& names) {
    std::map<std::string, uint64_t> found;
    for_each_line(fd, [&](std::string_view line) {
        auto sym = text_symbol(line);
        if (sym && names.count(sym->name)) found.emplace(sym->name, sym->addr);
    });
    return found;
}

namespace {

// Streams the text symbols; only the addresses are kept (sorted), not names.
std::map<std::string, KernelSymbols::Range> ranges_from(
    const std::function<void(const std::function<void(std::string_view)>&)>& lines, const std::set<std::string>& names) {
    std::map<std::string, uint64_t> starts;
    std::vector<uint64_t> addrs;
    lines([&](std::string_view line) {
        auto sym = KernelSymbols::text_symbol(line);
        if (!sym) return;
        if (names.count(sym->name)) starts.emplace(sym->name, sym->addr);  // the first of a name
        addrs.push_back(sym->addr);
    });
    std::sort(addrs.begin(), addrs.end());
    std::map<std::string, KernelSymbols::Range> out;
    for (const auto& [name, start] : starts) {
        auto next = std::upper_bound(addrs.begin(), addrs.end(), start);
        if (next != addrs.end()) out[name] = {start, *next};  // the last symbol's end is unknown
    }
    return out;
}

std::optional<KernelSymbols::Range> one_range(const std::map<std::string, KernelSymbols::Range>& ranges,
                                              const std::string& name) {
    auto it = ranges.find(name);
    if (it == ranges.end()) return std::nullopt;
    return it->second;
}

}  // namespace

std::map<std::string, KernelSymbols::Range> KernelSymbols::function_ranges(std::istream& in,
                                                                          const std::set<std::string>& names) {
    return ranges_from(
        [&in](const std::function<void(std::string_view)>& on_line) {
            for (std::string line; std::getline(in, line);) on_line(line);
        },
        names);
}

std::map<std::string, KernelSymbols::Range> KernelSymbols::function_ranges(int fd, const std::set<std::string>& names) {
    return ranges_from([fd](const std::function<void(std::string_view)>& on_line) { for_each_line(fd, on_line); },
                       names);
}

std::optional<KernelSymbols::Range> KernelSymbols::function_range(std::istream& in, const std::string& name) {
    return one_range(function_ranges(in, {name}), name);
}

std::optional<KernelSymbols::Range> KernelSymbols::function_range(int fd, const std::string& name) {
    return one_range(function_ranges(fd, {name}), name);
}

RunningKernelSymbols::RunningKernelSymbols() : kallsyms_(::open("/proc/kallsyms", O_RDONLY | O_CLOEXEC)) {}

std::string RunningKernelSymbols::resolve(uint64_t addr) {
    if (!symbols_) symbols_ = kallsyms_ ? KernelSymbols::read(kallsyms_.get()) : KernelSymbols{};
    return symbols_->resolve(addr);
}

std::map<std::string, uint64_t> RunningKernelSymbols::addresses_of(const std::set<std::string>& names) {
    return kallsyms_ ? KernelSymbols::addresses(kallsyms_.get(), names) : std::map<std::string, uint64_t>{};
}

std::optional<KernelSymbols::Range> RunningKernelSymbols::function_range(const std::string& name) {
    return kallsyms_ ? KernelSymbols::function_range(kallsyms_.get(), name) : std::nullopt;
}

std::map<std::string, KernelSymbols::Range> RunningKernelSymbols::function_ranges(const std::set<std::string>& names) {
    return kallsyms_ ? KernelSymbols::function_ranges(kallsyms_.get(), names)
                     : std::map<std::string, KernelSymbols::Range>{};
}

std::string KernelSymbols::resolve(uint64_t addr) const {
    auto it = std::upper_bound(symbols_.begin(), symbols_.end(), addr,
                               [](uint64_t a, const Symbol& s) { return a < s.addr; });
    char buf[32];
    if (it == symbols_.begin()) {
        std::snprintf(buf, sizeof buf, "0x%llx", static_cast<unsigned long long>(addr));
        return buf;
    }
    --it;
    std::snprintf(buf, sizeof buf, "+0x%llx", static_cast<unsigned long long>(addr - it->addr));
    return it->name + buf;
}

std::string syscall_from_stack(const std::vector<std::string>& frames) {
    static constexpr std::array<std::string_view, 6> wrappers = {"__x64_sys_", "__ia32_sys_", "__ia32_compat_sys_",
                                                                 "__arm64_sys_", "__do_sys_", "__se_sys_"};
    static constexpr std::array<std::string_view, 4> entry = {"entry_SYSCALL", "do_syscall_", "do_fast_syscall_",
                                                              "do_int80_"};
    static constexpr std::array<std::string_view, 2> helpers = {"__sys_", "ksys_"};
    auto symbol = [](const std::string& frame) { return std::string_view(frame).substr(0, frame.find('+')); };
    auto strip = [](std::string_view name, const auto& prefixes) -> std::optional<std::string> {
        for (std::string_view p : prefixes) {
            if (name.substr(0, p.size()) == p) return std::string(name.substr(p.size()));
        }
        return std::nullopt;
    };
    // The outermost syscall wrapper names the call that was made.
    for (auto frame = frames.rbegin(); frame != frames.rend(); ++frame) {
        if (auto name = strip(symbol(*frame), wrappers)) return *name;
    }
    // The wrapper is often a tail call that leaves no frame: then the frame
    // just inside the entry code is the syscall's helper (__sys_sendmsg).
    for (auto frame = frames.rbegin(); frame != frames.rend(); ++frame) {
        if (!strip(symbol(*frame), entry)) continue;
        while (frame != frames.rend() && strip(symbol(*frame), entry)) ++frame;
        if (frame == frames.rend()) return {};
        return strip(symbol(*frame), helpers).value_or("");
    }
    return {};
}

}  // namespace nfsleuth
