// SPDX-License-Identifier: GPL-2.0-only
// What keeps a kernel module loaded, read from sysfs: its state, reference
// count and holders (the modules that use its symbols), recursively; and
// what to do about it: the order that unloads it with everything that
// holds it, and the modprobe.d lines that stop the kernel loading them
// again.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "kernel/kernel_probe.hpp"
#include "kernel/module_state.hpp"

namespace nfsleuth {

struct ModuleNode {
    std::string name;
    ModuleState state = ModuleState::absent;
    std::optional<uint64_t> refcnt;  // loaded modules (with module unloading)
    std::vector<ModuleNode> holders;

    // References beyond those of its holders: rules, sockets, namespaces
    // using it directly. A module with any cannot be unloaded yet.
    uint64_t other_users() const;
};

// Reads MODULE's node under sysfs_module_dir ("/sys/module"), holders to
// any depth (a holder seen twice is expanded once). builtin_list: the
// kernel's modules.builtin lines ("kernel/net/netfilter/nf_conntrack.ko")
// or bare names, consulted when sysfs has no loaded module of that name.
ModuleNode read_module_tree(const std::string& sysfs_module_dir, const std::string& module,
                            const std::vector<std::string>& builtin_list);

// "nf_conntrack" for "kernel/net/netfilter/nf_conntrack.ko" (modules.builtin
// lines); names use '_' where files may use '-'.
std::string module_name_from_path(const std::string& path);

// Whether using what module `name` provides cannot make the kernel load
// anything: the kernel has no module support, or the module is loaded or
// built in. nfsleuth never opens a socket or runs a tool that would
// autoload a module.
bool module_available(const std::string& name);

// The modules to unload, holders before what they hold, each once, ending
// with the tree's root; empty when the root is not loaded.
std::vector<std::string> unload_order(const ModuleNode& root);

// Every module of the tree that is in use beyond its holders, as
// "name (N other users)"; unloading must wait for them.
std::vector<std::string> blockers(const ModuleNode& root);

// /etc/modprobe.d lines that make every later load of these modules fail,
// explicit requests included (`blacklist` alone only stops loading by alias).
std::vector<std::string> modprobe_d_lines(const std::vector<std::string>& modules);

}  // namespace nfsleuth
