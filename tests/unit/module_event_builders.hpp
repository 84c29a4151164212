// SPDX-License-Identifier: GPL-2.0-only
// Builders for synthetic module events, shared by the correlator and output
// tests: processes as the BPF side would report them, and the autoload
// scenario "iptables -t nat -L" from an ssh shell.
#pragma once
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "modules/module_event.hpp"
#include "process/process.hpp"

namespace nfsleuth::testing {

inline constexpr uint64_t kSecond = 1'000'000'000ull;

inline Process user_process(uint32_t pid, std::string comm, std::vector<std::string> argv,
                            std::vector<Ancestor> ancestors) {
    Process p;
    p.pid = pid;
    p.tid = pid;
    p.uid = 0;
    p.gid = 0;
    p.comm = std::move(comm);
    p.argv = std::move(argv);
    p.ancestors = std::move(ancestors);
    return p;
}

// A modprobe started by request_module(): "/sbin/modprobe -q -- NAME", child
// of a kworker, itself a child of kthreadd.
inline Process kernel_modprobe(uint32_t pid, const std::string& name) {
    return user_process(pid, "modprobe", {"/sbin/modprobe", "-q", "--", name},
                        {{77, "kworker/u8:1", true}, {2, "kthreadd", true}});
}

// iptables run from an interactive ssh session: the requester of scenario (a).
inline Process iptables_process() {
    return user_process(1234, "iptables", {"iptables", "-t", "nat", "-L"},
                        {{1200, "bash", false}, {900, "sshd", false}});
}

inline ModuleEvent module_event(ModuleEventType type, uint64_t ts, const Process& p, std::string module) {
    ModuleEvent ev;
    ev.type = type;
    ev.ts_boot_ns = ts;
    ev.module = std::move(module);
    ev.proc = p;
    return ev;
}

inline ModuleEvent request(uint64_t ts, const Process& p, std::string module) {
    ModuleEvent ev = module_event(ModuleEventType::request, ts, p, std::move(module));
    ev.wait = true;
    return ev;
}

inline ModuleEvent load(uint64_t ts, const Process& p, std::string module) {
    return module_event(ModuleEventType::load, ts, p, std::move(module));
}

inline ModuleEvent load_error(uint64_t ts, const Process& p, std::string module, int error) {
    ModuleEvent ev = module_event(ModuleEventType::load_error, ts, p, std::move(module));
    ev.error = error;
    return ev;
}

inline ModuleEvent unload(uint64_t ts, const Process& p, std::string module) {
    return module_event(ModuleEventType::free, ts, p, std::move(module));
}

// Scenario (a): iptables asks for iptable_nat; the kernel's modprobe loads
// its dependencies first, then iptable_nat itself.
inline std::vector<ModuleEvent> iptables_nat_autoload(uint64_t t0 = 10 * kSecond) {
    Process iptables = iptables_process();
    Process modprobe = kernel_modprobe(2000, "iptable_nat");
    return {
        request(t0, iptables, "iptable_nat"),
        load(t0 + 1'000'000, modprobe, "nf_defrag_ipv4"),
        load(t0 + 2'000'000, modprobe, "nf_conntrack"),
        load(t0 + 3'000'000, modprobe, "nf_nat"),
        load(t0 + 4'000'000, modprobe, "iptable_nat"),
    };
}

}  // namespace nfsleuth::testing
