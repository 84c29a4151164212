// SPDX-License-Identifier: GPL-2.0-only
// The capabilities this process holds, the ones tracing needs, and giving
// up those a daemon no longer needs once its programs are attached.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace nfsleuth {

struct Capabilities {
    bool sys_admin = false;
    bool bpf = false;
    bool perfmon = false;
    bool net_admin = false;
    static Capabilities of_current_process();
    // Tracing needs CAP_BPF + CAP_PERFMON, or CAP_SYS_ADMIN on older kernels.
    bool can_trace() const { return sys_admin || (bpf && perfmon); }
};

// "cap_sys_admin" for CAP_SYS_ADMIN (numbers the headers do not know are
// named "cap_N").
std::string capability_name(int cap);
// Comma-separated names of the capabilities set in a mask (bit N = cap N).
std::string capability_names(uint64_t mask);

// Reduces this thread (and every thread it creates afterwards) to the given
// capabilities: permitted and effective become exactly `keep` (those held),
// inheritable and ambient become empty, every other capability leaves the
// bounding set, and no_new_privs is set so nothing can be regained through
// exec. Returns the mask actually kept. Threads that already exist keep
// their own sets: call it before starting any. Throws Failure on error.
uint64_t keep_only_capabilities(const std::vector<int>& keep);

// Throws Failure(privilege) naming the missing capabilities.
void require_tracing_privileges();

}  // namespace nfsleuth
