// SPDX-License-Identifier: GPL-2.0-only
#include "why_command.hpp"

#include <sys/utsname.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <iostream>

#include "json_line.hpp"
#include "kernel_probe.hpp"
#include "netns.hpp"
#include "why_report.hpp"

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

std::vector<std::string> builtin_modules() {
    utsname uts{};
    ::uname(&uts);
    std::vector<std::string> out;
    std::ifstream in(std::string("/lib/modules/") + uts.release + "/modules.builtin");
    for (std::string line; std::getline(in, line);) out.push_back(line);
    // Without module support everything present is built in; conntrack's
    // sysctls show it is there.
    if (conntrack_state() == ModuleState::builtin) out.push_back("nf_conntrack");
    return out;
}

// nft talks to nf_tables over netlink, which would autoload it: only read
// nftables rulesets when nf_tables is already there.
bool nftables_present(const std::vector<std::string>& builtin) {
    const ModuleNode n = read_module_tree("/sys/module", "nf_tables", builtin);
    return n.state != ModuleState::absent || !fs::exists("/proc/modules");
}

NamespaceRules rules_of(const NetnsInfo& ns, bool nftables) {
    NamespaceRules out;
    out.name = ns.name;
    out.inode = ns.inode;
    out.ct_count = ns.ct_count;
    if (nftables) {
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

}  // namespace

ExitCode run_why(const CommonOptions& options, const WhyOptions& why) {
    if (::geteuid() != 0)
        throw Failure(ExitCode::privilege, "reading every namespace's ruleset needs root", "run nfsleuth why as root");
    WhyFacts facts;
    facts.module = why.module;
    const auto builtin = builtin_modules();
    facts.tree = read_module_tree("/sys/module", why.module, builtin);

    if (why.journal) {
        std::ifstream in(*why.journal);
        if (!in) throw Failure(ExitCode::failure, "cannot read the journal " + *why.journal, "give the file `nfsleuth watch --journal` writes");
        facts.journal = *why.journal;
        facts.history = module_history(in, tree_modules(facts.tree));
    }

    auto namespaces = list_network_namespaces();
    read_conntrack_fill(namespaces);
    const bool nftables = nftables_present(builtin);
    for (const auto& ns : namespaces) facts.namespaces.push_back(rules_of(ns, nftables));

    facts.ct_max = read_number_file("/proc/sys/net/netfilter/nf_conntrack_max");
    facts.ct_buckets = read_number_file("/proc/sys/net/netfilter/nf_conntrack_buckets");
    KernelProbe probe(options.btf);
    facts.entry_bytes = probe.struct_size("nf_conn");

    if (options.json) {
        std::cout << json_line(why_json(facts)) << std::endl;
    } else {
        for (const auto& line : why_lines(facts)) std::cout << line << "\n";
        std::cout.flush();
    }
    return ExitCode::ok;
}

}  // namespace nfsleuth
