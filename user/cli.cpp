// SPDX-License-Identifier: GPL-2.0-only
#include "cli.hpp"

#include <CLI/CLI.hpp>
#include <ostream>

#include "error.hpp"
#include "version.hpp"

namespace nfsleuth {

namespace {

const CLI::Validator positive_seconds(
    [](const std::string& value) -> std::string {
        try {
            std::size_t used = 0;
            double d = std::stod(value, &used);
            if (used == value.size() && d >= 0.001 && d <= 31'536'000) return {};
        } catch (const std::exception&) {
        }
        return "must be a number of seconds from 0.001 to 31536000 (a year), not '" + value + "'";
    },
    "", "seconds");

void add_output_options(CLI::App& cmd, CommonOptions& o) {
    cmd.add_flag("--json", o.json, "One JSON object per line on stdout, nothing else on stdout");
    cmd.add_flag("-v,--verbose", o.verbose, "Also print libbpf's and nfsleuth's debug messages (stderr)");
    cmd.add_option("--btf", o.btf, "Kernel BTF file, for kernels without /sys/kernel/btf/vmlinux")
        ->check(CLI::ExistingFile.description(""))
        ->type_name("PATH");
}

void add_tracing_options(CLI::App& cmd, CommonOptions& o) {
    add_output_options(cmd, o);
    cmd.add_option("--duration", o.duration_s, "Stop after this many seconds (default: until Ctrl-C or SIGTERM)")
        ->check(positive_seconds)
        ->type_name("SECONDS");
    cmd.add_option("--pid", o.pid, "Only events of this process (or triggered by it)")
        ->check(CLI::Range(1u, 4194304u).description(""))
        ->type_name("PID");
    cmd.add_option("--comm", o.comm, "Only events of processes with this command name (or triggered by one)")
        ->type_name("NAME");
    cmd.add_option("--backend", o.backend,
                   "Attach method: auto picks the best one the kernel offers; fentry, kprobe or tracepoint forces one "
                   "(exit 3 if the kernel lacks it)")
        ->check(CLI::IsMember({"auto", "fentry", "kprobe", "tracepoint"}))
        ->default_str("auto")
        ->type_name("BACKEND");
}

}  // namespace

ParseOutcome parse_command_line(int argc, const char* const* argv, std::ostream& out, std::ostream& err) {
    CLI::App app{
        "nfsleuth: who loaded nf_conntrack, and which flows it drops.\n"
        "Traces kernel module autoloads back to the process that caused them, and conntrack drops back to flows.\n"};
    app.name("nfsleuth");
    app.set_version_flag("--version", std::string("nfsleuth ") + version);
    app.require_subcommand(1, 1);
    app.footer(
        "Exit codes: 0 success, 1 other failure, 2 bad usage, 3 the kernel lacks what the command needs,\n"
        "4 missing privileges.\n"
        "Run 'nfsleuth COMMAND --help' for a command's options. Start with 'nfsleuth doctor'.");

    Invocation inv;
    auto* doctor = app.add_subcommand("doctor",
                                      "Probe what this kernel offers (BTF, attach types, modules, conntrack) and "
                                      "which backend each hook would use");
    add_output_options(*doctor, inv.options);

    auto* modules = app.add_subcommand(
        "modules",
        "Trace kernel module autoloads and loads, attributed to the process that caused them");
    add_tracing_options(*modules, inv.options);
    modules->footer(
        "Examples:\n"
        "  nfsleuth modules                      # live, one line per event, a tree per trigger at exit\n"
        "  nfsleuth modules --json --duration 60 # JSON lines for 60 s (schema: docs/events.md)\n"
        "  nfsleuth modules --comm iptables      # only what iptables (or what it triggered) did");

    auto* drops = app.add_subcommand(
        "drops", "Trace every packet conntrack drops (table full, clash, invalid) or a rule drops, per flow");
    add_tracing_options(*drops, inv.options);
    drops->add_option("--interval", inv.drops.interval_s, "Seconds between aggregated count updates (default 1)")
        ->check(positive_seconds)
        ->type_name("SECONDS");
    drops->add_flag("--top", inv.drops.top, "Also print the summary every interval");
    drops->add_option("--max-flows", inv.drops.max_flows,
                      "Flows aggregated in the kernel at once (LRU; default 16384); evictions are counted")
        ->check(CLI::Range(64u, 4194304u).description(""))
        ->type_name("N");
    drops->footer(
        "Causes: table_full (no entry could be allocated), insert_failed (clash on confirm), invalid (conntrack\n"
        "judged the packet invalid), rule (a netfilter rule or verdict, not conntrack), unknown.\n"
        "Examples:\n"
        "  nfsleuth drops                        # a line per new dropping flow, counts every second, summary at exit\n"
        "  nfsleuth drops --json --duration 30   # JSON lines (schema: docs/events.md)\n"
        "  nfsleuth drops --top --interval 5     # the summary every 5 s");

    std::string names;
    bool known = false;
    for (const auto* sub : app.get_subcommands({})) {
        names += (names.empty() ? "" : ", ") + sub->get_name();
        known = known || (argc > 1 && sub->get_name() == argv[1]);
    }
    if (argc > 1 && argv[1][0] != '-' && !known) {
        err << "nfsleuth: unknown command '" << argv[1] << "' (commands: " << names
            << ")\nRun 'nfsleuth --help' for usage.\n";
        return {std::nullopt, static_cast<int>(ExitCode::usage)};
    }
    try {
        app.parse(argc, argv);
    } catch (const CLI::CallForHelp&) {
        out << app.help();  // shows the subcommand's help when one was given
        return {std::nullopt, 0};
    } catch (const CLI::CallForAllHelp&) {
        out << app.help("", CLI::AppFormatMode::All);
        return {std::nullopt, 0};
    } catch (const CLI::CallForVersion&) {
        out << "nfsleuth " << version << "\n";
        return {std::nullopt, 0};
    } catch (const CLI::ParseError& e) {
        err << "nfsleuth: " << e.what() << "\nRun 'nfsleuth --help' for usage.\n";
        return {std::nullopt, static_cast<int>(ExitCode::usage)};
    }
    inv.command = app.get_subcommands().front()->get_name();
    return {inv, 0};
}

}  // namespace nfsleuth
