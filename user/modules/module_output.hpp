// SPDX-License-Identifier: GPL-2.0-only
// Turns attributed module events into JSON objects (keys in a fixed,
// readable order: type and ts first), terminal lines, and the
// per-trigger tree printed at exit.
#pragma once
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "cli/cli.hpp"
#include "modules/module_correlator.hpp"
#include "modules/module_event.hpp"
#include "process/cgroup_identity.hpp"

namespace nfsleuth {

struct ModuleRecord {
    ModuleEvent event;
    std::optional<Trigger> trigger;
    std::vector<std::string> kstack;  // symbolised, innermost first
    std::optional<CgroupIdentity> cgroup;
    std::string ts;                   // RFC 3339
    std::string backend;              // "tracepoint"
};

nlohmann::ordered_json to_json(const ModuleRecord& r);
// --pid and --comm: an event of that process, or one it triggered.
bool matches_filter(const CommonOptions& o, const ModuleRecord& r);
std::string to_human_line(const ModuleRecord& r);

struct ModuleAccounting {
    uint64_t seen = 0;       // events the programs produced
    uint64_t delivered = 0;  // records decoded here
    uint64_t lost = 0;       // ring buffer full
    uint64_t malformed = 0;
};

// Accumulates "who loaded what" for the exit summary.
class ModuleSummary {
public:
    explicit ModuleSummary(std::size_t max_roots = 1000) : max_roots_(max_roots) {}
    void add(const ModuleRecord& r);
    std::vector<std::string> human_lines() const;
    nlohmann::ordered_json to_json() const;
    std::size_t roots() const { return roots_.size(); }

private:
    struct Root {
        uint32_t pid;
        std::string comm;
        std::string cmdline;
        std::vector<Ancestor> ancestors;
        std::optional<std::string> requested;  // absent: loaded by an explicit modprobe/insmod
        uint64_t key_ts;                       // request time, or 0 for explicit loaders
        std::vector<std::string> loaded;
    };
    Root* find_or_add(uint32_t pid, uint64_t key_ts, const Root& fresh);

    std::size_t max_roots_;
    std::vector<Root> roots_;
    std::size_t dropped_roots_ = 0;
    std::set<std::pair<uint32_t, uint64_t>> dropped_keys_;
};

// The module part of an exit summary, the same for `modules` and `watch`:
// who loaded what, then the events' accounting.
nlohmann::ordered_json module_summary_json(const ModuleSummary& summary, const ModuleAccounting& acc);
std::vector<std::string> module_summary_lines(const ModuleSummary& summary, const ModuleAccounting& acc);

}  // namespace nfsleuth
