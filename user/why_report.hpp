// SPDX-License-Identifier: GPL-2.0-only
// `nfsleuth why MODULE`: the facts gathered about a module (what holds it,
// which rules need conntrack in which namespace, how it was loaded, the
// table's sizing) turned into an explanation and the remediation, in
// order, as JSON and as text.
#pragma once
#include <cstdint>
#include <istream>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "module_tree.hpp"
#include "namespace_rules.hpp"

namespace nfsleuth {

struct WhyFacts {
    std::string module;
    ModuleNode tree;
    std::vector<NamespaceRules> namespaces;
    std::optional<uint64_t> ct_max;
    std::optional<uint64_t> ct_buckets;
    std::optional<uint64_t> entry_bytes;  // sizeof(struct nf_conn)
    std::optional<std::string> journal;   // where the history was read from
    std::vector<nlohmann::ordered_json> history;
};

// The module_request/module_load/module_load_failed records of a journal
// (or of `modules --json` output) that concern `modules`; other lines,
// including malformed ones, are skipped.
std::vector<nlohmann::ordered_json> module_history(std::istream& journal, const std::set<std::string>& modules);

// Every module of the tree (root first), for history lookups.
std::set<std::string> tree_modules(const ModuleNode& root);

nlohmann::ordered_json why_json(const WhyFacts& facts);
// The text report, one line per element (terminal-escaped).
std::vector<std::string> why_lines(const WhyFacts& facts);

}  // namespace nfsleuth
