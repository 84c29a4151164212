// SPDX-License-Identifier: GPL-2.0-only
#include "conntrack/namespace_rules.hpp"

#include <cerrno>

#include "modules/module_tree.hpp"

namespace nfsleuth {

NamespaceRules read_namespace_rules(const NetnsInfo& ns, NetnsAccess& access) {
    NamespaceRules out;
    out.name = ns.name;
    out.inode = ns.inode;
    out.ct_count = ns.ct_count;
    const NetnsTarget target{ns.path, ns.inode};
    if (module_available("nf_tables")) {
        auto listing = access.run_tool(target, RuleTool::nft);
        if (listing.ok()) {
            for (auto& r : conntrack_rules_from_nft(listing.output)) out.rules.push_back(std::move(r));
        } else if (listing.status == NetnsStatus::failed && listing.error == ENOENT) {
            out.unread.push_back("nftables (nft is not installed)");
        } else {
            out.unread.push_back("nftables");
        }
    }
    // Missing tools and namespaces without legacy tables are not worth a word.
    for (RuleTool tool : {RuleTool::iptables_legacy_save, RuleTool::ip6tables_legacy_save}) {
        auto listing = access.run_tool(target, tool);
        if (!listing.ok()) continue;
        const std::string name = tool_name(tool);
        const std::string source = name.substr(0, name.size() - std::string("-save").size());
        for (auto& r : conntrack_rules_from_iptables_save(listing.output, source)) out.rules.push_back(std::move(r));
    }
    return out;
}

}  // namespace nfsleuth
