// SPDX-License-Identifier: GPL-2.0-only
// Kprobe perf events on the fixed functions whose kprobes follow the
// nf_conntrack module (module_hooks.hpp), for BPF programs to be attached
// to. Opening one takes CAP_PERFMON, and CAP_SYS_ADMIN where
// kernel.perf_event_paranoid is above 2 (Debian's and Ubuntu's kernels);
// attaching a program to it takes only CAP_BPF. So `watch`, which gives
// the first two up, has the netns broker open them (netns_broker.hpp);
// commands that keep their privileges open them in-process.
#pragma once
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>
#include <utility>

#include "common/unique_fd.hpp"
#include "kernel/netns_access.hpp"

namespace nfsleuth {

// Every function a kprobe of the drop and creation programs follows
// nf_conntrack on, and nothing more: the broker opens kprobes on these
// alone, so that a compromised daemon can probe no other function. A
// program on any other function cannot be attached that way.
enum class KprobeTarget : uint8_t {
    nf_conntrack_alloc,  // __nf_conntrack_alloc
    early_drop,
    nf_ct_delete,
    nf_ct_delete_part,  // nf_ct_delete.part.0, a compiler clone
    nf_ct_helper_log,
};
constexpr std::size_t kKprobeTargetCount = 5;

// The kernel function a target names.
const char* kprobe_function(KprobeTarget target);
// The target of a program's section, "kprobe/FUNCTION" or
// "kretprobe/FUNCTION" (then retprobe); nullopt for anything else.
std::optional<std::pair<KprobeTarget, bool>> kprobe_of_section(std::string_view section);

// The kprobe PMU, perf_event_open's way to kprobes since 4.17; libbpf goes
// through tracefs where there is none.
struct KprobePmu {
    uint32_t type = 0;
    unsigned retprobe_bit = 0;  // of perf_event_attr.config
};
// From /sys/bus/event_source/devices/kprobe; nullopt where it is absent or unreadable.
std::optional<KprobePmu> kprobe_pmu();
// The bit of a PMU format file such as "config:0\n"; nullopt for any other shape.
std::optional<unsigned> parse_config_bit(std::string_view format);

// failed with errno: ENOENT where there is no kprobe PMU (or no such
// function); no_broker when the broker is gone.
struct KprobeEventFd : NetnsOutcome {
    UniqueFd fd;
};

class KprobeEvents {
public:
    virtual ~KprobeEvents() = default;
    // A kprobe (or kretprobe) perf event on the target's function, on every
    // CPU once a BPF program is attached to it.
    virtual KprobeEventFd open_kprobe(KprobeTarget target, bool retprobe) = 0;
};

// perf_event_open in the calling process.
class InProcessKprobes final : public KprobeEvents {
public:
    KprobeEventFd open_kprobe(KprobeTarget target, bool retprobe) override;
};

// The in-process way, for commands that keep their privileges; stateless.
KprobeEvents& in_process_kprobes();

}  // namespace nfsleuth
