// SPDX-License-Identifier: GPL-2.0-only
// `nfsleuth why MODULE`: the facts gathered about a module (what holds it,
// which rules need conntrack in which namespace, how it was loaded, the
// table's sizing) turned into an explanation and the remediation, in
// order, as JSON and as text.
#pragma once
#include <cstddef>
#include <cstdint>
#include <deque>
#include <istream>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "conntrack/namespace_rules.hpp"
#include "modules/module_tree.hpp"

namespace nfsleuth {

// What a journal says about how the modules were loaded and where conntrack
// was switched on, bounded whatever the journal holds: the newest events of
// each kind, counts of the older ones, and counts of what was not read.
struct JournalHistory {
    // The events kept, in the order they were written. Only their known
    // fields are kept, each validated (strings cut to a bounded length,
    // numbers integers in range); a field that fails is absent.
    std::vector<nlohmann::ordered_json> events;
    std::map<std::string, uint64_t> older_not_shown;  // per event type, those beyond the newest kept
    uint64_t skipped_lines = 0;  // too long, nested too deep, not JSON, or not an event nfsleuth writes
    std::vector<std::string> skipped_files;  // rotated files not read, each with the reason
};

struct WhyFacts {
    std::string module;
    ModuleNode tree;
    std::vector<NamespaceRules> namespaces;
    std::optional<uint64_t> ct_max;
    std::optional<uint64_t> ct_buckets;
    std::optional<uint64_t> entry_bytes;  // sizeof(struct nf_conn)
    std::optional<std::string> journal;   // where the history was read from
    JournalHistory history;
};

// Collects the module_request/module_load/module_load_failed records of a
// journal (or of `modules --json` output) that concern `modules`, and the
// ct_activate records when nf_conntrack is one of them, from one file after
// another (oldest first). Lines that are not such records are skipped.
class ModuleHistoryReader {
public:
    static constexpr std::size_t kKeptPerType = 20;

    explicit ModuleHistoryReader(std::set<std::string> modules, std::size_t kept_per_type = kKeptPerType);
    void read(std::istream& journal);
    void skip_file(const std::string& reason) { history_.skipped_files.push_back(reason); }
    JournalHistory history() const;

private:
    void add_line(const std::string& line);

    std::set<std::string> modules_;
    std::size_t kept_per_type_;
    uint64_t next_seq_ = 0;
    std::map<std::string, std::deque<std::pair<uint64_t, nlohmann::ordered_json>>> newest_;  // by type, with seq
    JournalHistory history_;  // the counts; events are merged from newest_
};

// One journal read whole.
JournalHistory module_history(std::istream& journal, const std::set<std::string>& modules);

// Every module of the tree (root first), for history lookups.
std::set<std::string> tree_modules(const ModuleNode& root);

nlohmann::ordered_json why_json(const WhyFacts& facts);
// The text report, one line per element (terminal-escaped).
std::vector<std::string> why_lines(const WhyFacts& facts);

}  // namespace nfsleuth
