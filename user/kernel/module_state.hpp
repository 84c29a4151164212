// SPDX-License-Identifier: GPL-2.0-only
// Whether a kernel module's code is there: loaded, built in, or absent.
#pragma once
#include <string>
#include <vector>

namespace nfsleuth {

enum class ModuleState { absent, builtin, loaded };
const char* to_string(ModuleState s);

// Whether a kernel module is loaded, built in, or neither. `evidence` is a
// path that exists whenever the code is present (built-in code without
// parameters has no /sys/module entry).
ModuleState module_state(const std::string& name, const std::string& evidence);
ModuleState conntrack_state();

// Modules built into the running kernel (modules.builtin lines such as
// "kernel/net/netfilter/nf_tables.ko", and nf_conntrack on a kernel without
// module support).
std::vector<std::string> builtin_modules();

}  // namespace nfsleuth
