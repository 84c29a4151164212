// SPDX-License-Identifier: GPL-2.0-only
#include "kallsyms.hpp"

#include <algorithm>
#include <array>
#include <cstdio>
#include <fstream>
#include <optional>
#include <sstream>

namespace nfsleuth {

KernelSymbols KernelSymbols::parse(std::istream& in) {
    KernelSymbols ks;
    std::string line;
    while (std::getline(in, line)) {
        std::istringstream fields(line);
        std::string addr_hex, type, name;
        if (!(fields >> addr_hex >> type >> name)) continue;
        if (type != "t" && type != "T") continue;
        uint64_t addr = 0;
        try {
            addr = std::stoull(addr_hex, nullptr, 16);
        } catch (const std::exception&) {
            continue;
        }
        if (addr == 0) continue;  // hidden by kptr_restrict
        ks.symbols_.push_back({addr, std::move(name)});
    }
    std::sort(ks.symbols_.begin(), ks.symbols_.end(),
              [](const Symbol& a, const Symbol& b) { return a.addr < b.addr; });
    return ks;
}

KernelSymbols KernelSymbols::load_running_kernel() {
    std::ifstream in("/proc/kallsyms");
    if (!in) return {};
    return parse(in);
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
