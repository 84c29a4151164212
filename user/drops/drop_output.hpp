// SPDX-License-Identifier: GPL-2.0-only
// Drop records as JSON objects and terminal lines, and the summary by
// cause, namespace, process and destination with the advice that fits.
#pragma once
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "cli/cli.hpp"
#include "drops/drop_aggregator.hpp"
#include "process/cgroup_identity.hpp"

namespace nfsleuth {

// What the consumer adds to a record from userspace state.
struct DropContext {
    std::string ts;                          // RFC 3339
    std::string backend;                     // "tracepoint", "fentry", "kprobe"
    std::optional<std::string> netns_name;
    std::optional<std::string> cmdline;      // of the sending process, if still alive
    std::optional<CgroupIdentity> cgroup;
};

nlohmann::ordered_json to_json(const DropRecord& r, const DropContext& c);
// --pid and --comm: a drop whose sending process is that one.
bool matches_filter(const CommonOptions& o, const DropRecord& r);
// A change in how drop causes are known (conntrack's hooks attached or
// detached as the nf_conntrack module comes and goes).
nlohmann::ordered_json drop_causes_event(const std::string& ts, const std::string& backend, const std::string& message);
// Evicted entries named from now on, or no longer (nf_ct_delete hooked
// while a table is at least --arm-at full), and why.
struct EvictionNaming {
    bool named = false;
    double arm_at_percent = 0;
    double disarm_below_percent = 0;
    std::string message;
};
nlohmann::ordered_json evictions_event(const std::string& ts, const EvictionNaming& change);
std::string to_human_line(const DropRecord& r, const DropContext& c);

// Conntrack fill and the kernel's own drop count of one namespace.
struct NetnsFill {
    std::optional<std::string> name;
    std::optional<uint64_t> count;
    std::optional<uint64_t> max;
    std::optional<uint64_t> kernel_drops;  // delta of the conntrack `drop` counter while tracing
};

struct DropAccounting {
    uint64_t seen = 0;           // drops the BPF programs counted
    uint64_t reported = 0;       // drops nfsleuth's records add up to
    uint64_t lost_records = 0;   // first-drop records lost (ring buffer full)
    uint64_t unaggregated = 0;   // drops counted but not kept in an aggregate
    uint64_t missed() const { return seen > reported ? seen - reported : 0; }
};

class DropSummary {
public:
    explicit DropSummary(std::size_t top = 10) : top_(top) {}
    void add(const DropRecord& r, const DropContext& c);
    uint64_t total() const { return total_; }
    // Namespaces that have drops, for the caller to look up their fill.
    std::vector<uint32_t> namespaces() const;

    std::vector<std::string> human_lines(const std::map<uint32_t, NetnsFill>& fill, const DropAccounting& acc) const;
    nlohmann::ordered_json to_json(const std::map<uint32_t, NetnsFill>& fill, const DropAccounting& acc) const;

private:
    using Counts = std::map<std::string, uint64_t>;
    std::vector<std::pair<std::string, uint64_t>> top(const Counts& counts) const;
    std::vector<std::string> advice(const std::map<uint32_t, NetnsFill>& fill) const;

    std::size_t top_;
    uint64_t total_ = 0;
    Counts by_cause_;
    std::map<uint32_t, Counts> by_netns_cause_;
    Counts by_process_;
    Counts by_pod_;        // drops of processes in pods
    Counts by_container_;  // and in containers
    Counts by_destination_;
};

}  // namespace nfsleuth
