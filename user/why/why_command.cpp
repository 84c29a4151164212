// SPDX-License-Identifier: GPL-2.0-only
#include "why/why_command.hpp"

#include <unistd.h>

#include <iostream>
#include <stdexcept>

#include "common/json_line.hpp"
#include "conntrack/namespace_rules.hpp"
#include "kernel/kernel_probe.hpp"
#include "kernel/module_state.hpp"
#include "kernel/netns.hpp"
#include "why/journal_findings.hpp"
#include "why/why_report.hpp"

namespace nfsleuth {

ExitCode run_why(const CommonOptions& options, const WhyOptions& why) {
    if (::geteuid() != 0)
        throw Failure(ExitCode::privilege, "reading every namespace's ruleset needs root", "run nfsleuth why as root");
    WhyFacts facts;
    facts.module = why.module;
    facts.tree = read_module_tree("/sys/module", why.module, builtin_modules());

    // The packaged daemon's journal is read when no other is given.
    if (auto journal = journal_to_read(why.journal)) {
        facts.journal = *journal;
        // Rotated files first, oldest first: the load may be long ago.
        ModuleHistoryReader reader(tree_modules(facts.tree));
        read_journal_files(
            *journal, [&](std::istream& in) { reader.read(in); },
            [&](const std::string& reason) { reader.skip_file(reason); },
            "give the file `nfsleuth watch --journal` writes");
        facts.history = reader.history();
    }

    auto namespaces = list_network_namespaces();
    read_conntrack_fill(namespaces);
    for (const auto& ns : namespaces) facts.namespaces.push_back(read_namespace_rules(ns));

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
