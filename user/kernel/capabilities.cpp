// SPDX-License-Identifier: GPL-2.0-only
#include "kernel/capabilities.hpp"

#include <linux/capability.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <fstream>
#include <string>

#include "common/error.hpp"
#include "kernel/netns.hpp"

namespace nfsleuth {

Capabilities Capabilities::of_current_process() {
    std::ifstream status("/proc/self/status");
    std::string line;
    uint64_t eff = 0;
    while (std::getline(status, line)) {
        if (line.rfind("CapEff:", 0) == 0) eff = std::stoull(line.substr(7), nullptr, 16);
    }
    // Bit numbers from linux/capability.h; stable ABI.
    auto has = [eff](int bit) { return (eff >> bit) & 1; };
    Capabilities c;
    c.net_admin = has(12);
    c.sys_admin = has(21);
    c.perfmon = has(38);
    c.bpf = has(39);
    return c;
}

namespace {

// The capability numbers are ABI; the names are for messages only.
const char* const known_names[] = {
    "chown", "dac_override", "dac_read_search", "fowner", "fsetid", "kill", "setgid", "setuid",
    "setpcap", "linux_immutable", "net_bind_service", "net_broadcast", "net_admin", "net_raw",
    "ipc_lock", "ipc_owner", "sys_module", "sys_rawio", "sys_chroot", "sys_ptrace", "sys_pacct",
    "sys_admin", "sys_boot", "sys_nice", "sys_resource", "sys_time", "sys_tty_config", "mknod",
    "lease", "audit_write", "audit_control", "setfcap", "mac_override", "mac_admin", "syslog",
    "wake_alarm", "block_suspend", "audit_read", "perfmon", "bpf", "checkpoint_restore"};

int last_capability() {
    auto n = read_number_file("/proc/sys/kernel/cap_last_cap");
    return n && *n < 64 ? static_cast<int>(*n) : CAP_LAST_CAP;
}

}  // namespace

std::string capability_name(int cap) {
    if (cap >= 0 && cap < static_cast<int>(std::size(known_names))) return std::string("cap_") + known_names[cap];
    return "cap_" + std::to_string(cap);
}

std::string capability_names(uint64_t mask) {
    std::string s;
    for (int cap = 0; cap < 64; ++cap) {
        if (mask & (1ull << cap)) s += (s.empty() ? "" : ",") + capability_name(cap);
    }
    return s.empty() ? "none" : s;
}

uint64_t keep_only_capabilities(const std::vector<int>& keep) {
    __user_cap_header_struct header{_LINUX_CAPABILITY_VERSION_3, 0};
    __user_cap_data_struct data[2]{};
    if (syscall(SYS_capget, &header, data) != 0)
        throw Failure(ExitCode::failure, "capget failed: " + describe_errno(-errno));
    uint64_t permitted = data[0].permitted | static_cast<uint64_t>(data[1].permitted) << 32;
    uint64_t wanted = 0;
    for (int cap : keep) wanted |= 1ull << cap;
    wanted &= permitted;

    // The bounding set first: dropping from it needs CAP_SETPCAP, which the
    // capset below gives up.
    for (int cap = 0; cap <= last_capability(); ++cap) {
        if (wanted & (1ull << cap)) continue;
        if (prctl(PR_CAPBSET_READ, cap, 0, 0, 0) == 1 && prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0 && errno != EINVAL)
            throw Failure(ExitCode::failure,
                          "cannot drop " + capability_name(cap) + " from the bounding set: " + describe_errno(-errno));
    }
    if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) != 0 && errno != EINVAL)
        throw Failure(ExitCode::failure, "cannot clear the ambient capabilities: " + describe_errno(-errno));
    for (int i = 0; i < 2; ++i) {
        data[i].effective = data[i].permitted = static_cast<uint32_t>(wanted >> (32 * i));
        data[i].inheritable = 0;
    }
    if (syscall(SYS_capset, &header, data) != 0)
        throw Failure(ExitCode::failure, "capset failed: " + describe_errno(-errno));
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0)
        throw Failure(ExitCode::failure, "cannot set no_new_privs: " + describe_errno(-errno));
    return wanted;
}

void require_tracing_privileges() {
    Capabilities caps = Capabilities::of_current_process();
    if (caps.can_trace()) return;
    std::string missing;
    if (!caps.bpf) missing += " CAP_BPF";
    if (!caps.perfmon) missing += " CAP_PERFMON";
    throw Failure(ExitCode::privilege,
                  "loading BPF programs needs CAP_BPF and CAP_PERFMON (or CAP_SYS_ADMIN); this process lacks" + missing,
                  "run nfsleuth as root");
}

}  // namespace nfsleuth
