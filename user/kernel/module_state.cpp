// SPDX-License-Identifier: GPL-2.0-only
#include "kernel/module_state.hpp"

#include <sys/utsname.h>

#include <filesystem>
#include <fstream>

namespace nfsleuth {

const char* to_string(ModuleState s) {
    switch (s) {
        case ModuleState::absent: return "absent";
        case ModuleState::builtin: return "builtin";
        case ModuleState::loaded: return "module";
    }
    return "?";
}

ModuleState module_state(const std::string& name, const std::string& evidence) {
    std::error_code ec;
    if (std::filesystem::exists("/sys/module/" + name + "/initstate", ec)) return ModuleState::loaded;
    if (std::filesystem::exists("/sys/module/" + name, ec) || std::filesystem::exists(evidence, ec))
        return ModuleState::builtin;
    return ModuleState::absent;
}

ModuleState conntrack_state() { return module_state("nf_conntrack", "/proc/sys/net/netfilter/nf_conntrack_max"); }

std::vector<std::string> builtin_modules() {
    utsname uts{};
    ::uname(&uts);
    std::vector<std::string> out;
    std::ifstream in(std::string("/lib/modules/") + uts.release + "/modules.builtin");
    for (std::string line; std::getline(in, line);) out.push_back(line);
    // Without module support everything present is built in; conntrack's
    // sysctls show it is there.
    if (conntrack_state() == ModuleState::builtin) out.push_back("nf_conntrack");
    return out;
}

}  // namespace nfsleuth
