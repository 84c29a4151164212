// SPDX-License-Identifier: GPL-2.0-only
#include "kernel/kprobe_events.hpp"

#include <linux/perf_event.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstring>
#include <string>

#include "kernel/netns.hpp"

namespace nfsleuth {

namespace {

constexpr std::array<const char*, kKprobeTargetCount> kFunctions = {
    "__nf_conntrack_alloc", "early_drop", "nf_ct_delete", "nf_ct_delete.part.0", "nf_ct_helper_log",
};

constexpr const char* kPmuDir = "/sys/bus/event_source/devices/kprobe/";

}  // namespace

const char* kprobe_function(KprobeTarget target) { return kFunctions.at(static_cast<std::size_t>(target)); }

std::optional<std::pair<KprobeTarget, bool>> kprobe_of_section(std::string_view section) {
    constexpr std::string_view entry = "kprobe/", exit = "kretprobe/";
    bool retprobe = false;
    if (section.substr(0, exit.size()) == exit) {
        retprobe = true;
        section.remove_prefix(exit.size());
    } else if (section.substr(0, entry.size()) == entry) {
        section.remove_prefix(entry.size());
    } else {
        return std::nullopt;
    }
    for (std::size_t i = 0; i < kKprobeTargetCount; ++i)
        if (section == kFunctions[i]) return std::make_pair(static_cast<KprobeTarget>(i), retprobe);
    return std::nullopt;
}

std::optional<unsigned> parse_config_bit(std::string_view format) {
    constexpr std::string_view prefix = "config:";
    if (format.substr(0, prefix.size()) != prefix) return std::nullopt;
    format.remove_prefix(prefix.size());
    if (!format.empty() && format.back() == '\n') format.remove_suffix(1);
    // One bit (a range "0-7" is a field, not a flag).
    if (format.empty() || format.size() > 2) return std::nullopt;
    unsigned bit = 0;
    for (char c : format) {
        if (c < '0' || c > '9') return std::nullopt;
        bit = bit * 10 + static_cast<unsigned>(c - '0');
    }
    if (bit >= 64) return std::nullopt;
    return bit;
}

std::optional<KprobePmu> kprobe_pmu() {
    auto type = read_number_file(std::string(kPmuDir) + "type");
    auto format = read_whole_file(std::string(kPmuDir) + "format/retprobe");
    auto bit = format ? parse_config_bit(*format) : std::nullopt;
    if (!type || *type > UINT32_MAX || !bit) return std::nullopt;
    return KprobePmu{static_cast<uint32_t>(*type), *bit};
}

KprobeEventFd InProcessKprobes::open_kprobe(KprobeTarget target, bool retprobe) {
    KprobeEventFd out;
    auto pmu = kprobe_pmu();
    if (!pmu) {
        out.status = NetnsStatus::failed;
        out.error = ENOENT;
        return out;
    }
    // As libbpf's perf_event_open_probe(): the function by name (config1),
    // no task (pid -1) and CPU 0; a BPF program attached runs on every CPU.
    perf_event_attr attr{};
    attr.size = sizeof attr;
    attr.type = pmu->type;
    if (retprobe) attr.config |= 1ull << pmu->retprobe_bit;
    attr.config1 = reinterpret_cast<uintptr_t>(kprobe_function(target));
    const int fd = static_cast<int>(::syscall(SYS_perf_event_open, &attr, -1, 0, -1, PERF_FLAG_FD_CLOEXEC));
    if (fd < 0) {
        out.status = NetnsStatus::failed;
        out.error = errno;
    }
    out.fd.reset(fd);
    return out;
}

KprobeEvents& in_process_kprobes() {
    static InProcessKprobes kprobes;
    return kprobes;
}

}  // namespace nfsleuth
