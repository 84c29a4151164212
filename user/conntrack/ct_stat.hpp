// SPDX-License-Identifier: GPL-2.0-only
// The per-CPU conntrack statistics of a network namespace
// (/proc/net/stat/nf_conntrack, opened inside the namespace).
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace nfsleuth {

struct CtCpuStat {
    uint32_t cpu = 0;
    uint32_t drop = 0;
    uint32_t invalid = 0;
    uint32_t insert_failed = 0;
    uint32_t early_drop = 0;
};

// Parses the file's text: a header naming the columns, then one row of hex
// numbers per possible CPU, in CPU order. nullopt if the header lacks the
// columns nfsleuth needs.
std::optional<std::vector<CtCpuStat>> parse_ct_stat(std::string_view text);

// Sum over CPUs.
CtCpuStat total(const std::vector<CtCpuStat>& per_cpu);


}  // namespace nfsleuth
