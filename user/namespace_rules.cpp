// SPDX-License-Identifier: GPL-2.0-only
#include "namespace_rules.hpp"

#include <unistd.h>

#include <filesystem>

#include "module_tree.hpp"

namespace nfsleuth {

namespace {

namespace fs = std::filesystem;

constexpr std::chrono::seconds kToolTimeout{10};

std::optional<std::string> find_program(const std::string& name) {
    for (const char* dir : {"/usr/sbin", "/sbin", "/usr/bin", "/bin", "/usr/local/sbin"}) {
        fs::path p = fs::path(dir) / name;
        if (::access(p.c_str(), X_OK) == 0) return p.string();
    }
    return std::nullopt;
}

}  // namespace

NamespaceRules read_namespace_rules(const NetnsInfo& ns) {
    NamespaceRules out;
    out.name = ns.name;
    out.inode = ns.inode;
    out.ct_count = ns.ct_count;
    if (module_available("nf_tables")) {
        if (auto nft = find_program("nft")) {
            auto listing = output_in_netns(ns.path, *nft, {"nft", "-a", "list", "ruleset"}, "", kToolTimeout);
            if (listing) {
                for (auto& r : conntrack_rules_from_nft(*listing)) out.rules.push_back(std::move(r));
            } else {
                out.unread.push_back("nftables");
            }
        } else {
            out.unread.push_back("nftables (nft is not installed)");
        }
    }
    // The legacy tables exist in a namespace only once used there; the save
    // tools are not run where they are absent (they would load modules).
    for (const auto& [tool, names] : {std::pair<std::string, std::string>{"iptables-legacy-save", "/proc/net/ip_tables_names"},
                                      {"ip6tables-legacy-save", "/proc/net/ip6_tables_names"}}) {
        auto program = find_program(tool);
        if (!program) continue;
        auto listing = output_in_netns(ns.path, *program, {tool}, names, kToolTimeout);
        if (!listing) continue;
        const std::string source = tool.substr(0, tool.size() - std::string("-save").size());
        for (auto& r : conntrack_rules_from_iptables_save(*listing, source)) out.rules.push_back(std::move(r));
    }
    return out;
}

}  // namespace nfsleuth
