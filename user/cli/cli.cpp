// SPDX-License-Identifier: GPL-2.0-only
#include "cli/cli.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cctype>
#include <cmath>
#include <cstdint>
#include <ostream>
#include <sstream>

#include "common/error.hpp"
#include "common/unique_fd.hpp"
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

// A finite number from `min` to `max`: CLI::Range lets NaN through (every
// comparison with it is false).
CLI::Validator number_from(double min, double max) {
    return CLI::Validator(
        [min, max](const std::string& value) -> std::string {
            try {
                std::size_t used = 0;
                double d = std::stod(value, &used);
                if (used == value.size() && std::isfinite(d) && d >= min && d <= max) return {};
            } catch (const std::exception&) {
            }
            std::ostringstream message;
            message << "must be a number from " << min << " to " << max << ", not '" << value << "'";
            return message.str();
        },
        "", "number");
}

// The kernel keeps 15 bytes of a command name (TASK_COMM_LEN 16 with its
// NUL): a longer name can never match.
constexpr std::size_t kMaxCommBytes = 15;
const CLI::Validator command_name(
    [](const std::string& value) -> std::string {
        if (!value.empty() && value.size() <= kMaxCommBytes) return {};
        return "must be a command name of 1 to " + std::to_string(kMaxCommBytes) +
               " bytes, as the kernel keeps them, not " + std::to_string(value.size()) + " bytes";
    },
    "", "name");

// libbpf reads anything it is given; a file that is not BTF would then be
// blamed on the kernel. Raw BTF starts with 0xeB9F in the writer's byte order.
const CLI::Validator btf_file(
    [](const std::string& path) -> std::string {
        // O_NONBLOCK: a FIFO must not hang the command line's parsing.
        UniqueFd fd(::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC));
        struct stat st{};
        unsigned char magic[2] = {};
        if (!fd || ::fstat(fd.get(), &st) != 0 || !S_ISREG(st.st_mode) ||
            ::pread(fd.get(), magic, sizeof magic, 0) != static_cast<ssize_t>(sizeof magic) ||
            !((magic[0] == 0x9f && magic[1] == 0xeb) || (magic[0] == 0xeb && magic[1] == 0x9f)))
            return "not a BTF file (it does not start with the magic 0xeB9F): " + path;
        return {};
    },
    "", "btf");

void add_output_options(CLI::App& cmd, CommonOptions& o) {
    cmd.add_flag("--json", o.json, "One JSON object per line on stdout, nothing else on stdout");
    cmd.add_flag("-v,--verbose", o.verbose, "Also print libbpf's and nfsleuth's debug messages (stderr)");
    cmd.add_option("--btf", o.btf, "Kernel BTF file, for kernels without /sys/kernel/btf/vmlinux")
        ->check(CLI::ExistingFile.description(""))
        ->check(btf_file)
        ->type_name("PATH");
}

// `filters`: --pid and --comm select events; without, they are refused
// with the reason (`watch` records every process).
void add_tracing_options(CLI::App& cmd, CommonOptions& o, bool filters) {
    add_output_options(cmd, o);
    cmd.add_option("--duration", o.duration_s, "Stop after this many seconds (default: until Ctrl-C or SIGTERM)")
        ->check(positive_seconds)
        ->type_name("SECONDS");
    if (filters) {
        cmd.add_option("--pid", o.pid, "Only events of this process (or triggered by it)")
            ->check(CLI::Range(1u, 4194304u).description(""))
            ->type_name("PID");
        cmd.add_option("--comm", o.comm, "Only events of processes with this command name (or triggered by one)")
            ->check(command_name)
            ->type_name("NAME");
    } else {
        for (std::string name : {"--pid", "--comm"}) {
            cmd.add_option_function<std::string>(
                   name,
                   [name](const std::string&) {
                       throw CLI::ValidationError(
                           name, "not an option of watch: it records every process, since its journal and metrics "
                                 "are the host's history (`why` reads it as such); use drops or modules " +
                                     name + ", or filter the journal afterwards");
                   })
                ->group("");
        }
    }
    cmd.add_option("--backend", o.backend,
                   "Attach method: auto picks the best one the kernel offers; fentry, kprobe or tracepoint forces one "
                   "(exit 3 if the kernel lacks it)")
        ->check(CLI::IsMember({"auto", "fentry", "kprobe", "tracepoint"}))
        ->default_str("auto")
        ->type_name("BACKEND");
    cmd.add_option("--pod-logs", o.pod_dirs.pods,
                   "The kubelet's pod log directory, <namespace>_<pod>_<uid>/<container>/, which names the pods of "
                   "processes in Kubernetes cgroups (default /var/log/pods; a DaemonSet mounts it read-only)")
        ->type_name("DIR");
    cmd.add_option("--container-logs", o.pod_dirs.containers,
                   "The kubelet's container log links, <pod>_<namespace>_<container>-<id>.log, which name containers "
                   "by id (default /var/log/containers)")
        ->type_name("DIR");
}

// --pcap and its limits (refused without it: pcap_limits_alone).
void add_pcap_options(CLI::App& cmd, PcapOptions& p) {
    cmd.add_option("--pcap", p.file,
                   "Write the first bytes of the first packets of each dropped flow to FILE as pcapng (Wireshark, "
                   "tshark), each packet with a comment naming the cause, network namespace, hook, interfaces and "
                   "sending process. FILE is created (or truncated) at start. The --pcap-* limits need it")
        ->check(CLI::Validator(
            [](const std::string& path) { return path.empty() ? std::string("the path is empty") : std::string(); },
            "", ""))
        ->type_name("FILE");
    const std::string snaplen_range =
        std::to_string(PcapOptions::kMinSnaplen) + " to " + std::to_string(PcapOptions::kMaxSnaplen);
    cmd.add_option("--pcap-snaplen", p.snaplen,
                   "Bytes written of each packet, from its IP header (" + snaplen_range +
                       ", default 128); the packet's full length is recorded too")
        ->check(CLI::Range(PcapOptions::kMinSnaplen, PcapOptions::kMaxSnaplen).description(""))
        ->type_name("BYTES");
    cmd.add_option("--pcap-per-flow", p.per_flow,
                   "Packets written of each flow, its first ones (1 to 1000, default 3); the flow's later drops are "
                   "counted as skipped")
        ->check(CLI::Range(1u, 1000u).description(""))
        ->type_name("N");
    cmd.add_option("--pcap-per-second", p.per_second,
                   "Packets written per second at most, over all flows (1 to 100000, default 100); the rest are "
                   "counted as skipped")
        ->check(CLI::Range(1u, 100000u).description(""))
        ->type_name("N");
}

// A --pcap limit given without --pcap, which would limit nothing; nullptr if none.
const char* pcap_limit_alone(const CLI::App& cmd, const PcapOptions& p) {
    if (p.file) return nullptr;
    for (const char* name : {"--pcap-snaplen", "--pcap-per-flow", "--pcap-per-second"}) {
        const CLI::Option* o = cmd.get_option_no_throw(name);
        if (o && o->count()) return name;
    }
    return nullptr;
}

void add_drop_options(CLI::App& cmd, DropOptions& d, const std::string& interval_help) {
    cmd.add_option("--interval", d.interval_s, interval_help)->check(positive_seconds)->type_name("SECONDS");
    cmd.add_option("--max-flows", d.max_flows,
                   "Flows aggregated in the kernel at once (LRU; 64 to 4194304, default 16384); drops of a flow "
                   "evicted before they were read are counted as missed")
        ->check(CLI::Range(64u, 4194304u).description(""))
        ->type_name("N");
    cmd.add_option("--arm-at", d.arm_at_percent,
                   "Run the hooks that cost per connection only while a namespace's table is at least this full, in "
                   "percent, until it falls 10 points below: which entries early_drop evicts (fentry and kprobe "
                   "backends), and with watch who creates the entries. Nothing runs per connection while tables "
                   "are healthy. 0: always (default 50; with watch at most --threshold)")
        ->check(number_from(0, 100))
        ->type_name("PERCENT");
    add_pcap_options(cmd, d.pcap);
}

// `doctor`: what the kernel offers, each hook's attach method, the journal's findings.
void add_doctor_options(CLI::App& doctor, Invocation& inv) {
    add_output_options(doctor, inv.options);
    doctor.add_option("--journal", inv.doctor.journal,
                      "A `watch --journal` file (its rotated FILE.N too) to check for the disagreements with the "
                      "kernel's own counters it recorded (counter_mismatch). Default: /var/log/nfsleuth/events.jsonl "
                      "when it exists (the packaged daemon's)")
        ->check(CLI::ExistingFile.description(""))
        ->type_name("FILE");
    doctor.footer(
        "Exit codes: 0 all is well; 3 a hook the kernel offers refused nfsleuth's programs, or drops cannot be\n"
        "recognised at all; 1 the journal records nfsleuth disagreeing with the kernel's drop counters (drops it\n"
        "did not see, or named wrongly); 4 not privileged enough to probe.");
}

// `modules`: module autoloads and loads, attributed.
void add_modules_options(CLI::App& modules, Invocation& inv) {
    add_tracing_options(modules, inv.options, true);
    // Module events exist only as tracepoints: forcing another backend is a
    // usage error there, not a missing kernel feature.
    modules.get_option("--backend")
        ->description("Attach method: module events are traced through tracepoints only, so auto or tracepoint "
                      "(fentry and kprobe are refused, exit 2)");
    modules.footer(
        "Examples:\n"
        "  nfsleuth modules                      # live, one line per event, a tree per trigger at exit\n"
        "  nfsleuth modules --json --duration 60 # JSON lines for 60 s (schema: docs/events.md)\n"
        "  nfsleuth modules --comm iptables      # only what iptables (or what it triggered) did");
}

// `drops`: every dropped packet, per flow.
void add_drops_options(CLI::App& drops, Invocation& inv) {
    add_tracing_options(drops, inv.options, true);
    add_drop_options(drops, inv.drops, "Seconds between aggregated count updates (default 1)");
    drops.add_flag("--top", inv.drops.top, "Also print the summary every interval");
    drops.footer(
        "Causes: table_full (no entry could be allocated), insert_failed (clash on confirm), invalid (conntrack\n"
        "judged the packet invalid), rule (a netfilter rule or verdict, not conntrack), unknown.\n"
        "Examples:\n"
        "  nfsleuth drops                        # a line per new dropping flow, counts every second, summary at exit\n"
        "  nfsleuth drops --json --duration 30   # JSON lines (schema: docs/events.md)\n"
        "  nfsleuth drops --top --interval 5     # the summary every 5 s");
}

// `watch`: the daemon.
void add_watch_options(CLI::App& watch, Invocation& inv) {
    add_tracing_options(watch, inv.options, false);
    add_drop_options(watch, inv.drops,
                     "Seconds between samples of drop counts, table fill and creators (default 1)");
    WatchOptions& w = inv.watch;
    watch.add_option("--threshold", w.threshold_percent,
                     "Emit ct_pressure when a namespace's table is this full, in percent (default 90)")
        ->check(number_from(1, 100))
        ->type_name("PERCENT");
    watch.add_option("--metrics", w.metrics,
                     "Serve Prometheus metrics at http://HOST:PORT/metrics (':PORT' listens on all IPv4 addresses)")
        ->type_name("HOST:PORT");
    watch.add_option("--journal", w.journal,
                     "Append every event as a JSON line to FILE (rotated by size; reopened on SIGHUP)")
        ->type_name("FILE");
    watch.add_option_function<std::string>(
             "--journal-max-size",
             [&w](const std::string& v) {
                 auto n = parse_size(v);
                 if (!n || *n < 4096) throw CLI::ValidationError("--journal-max-size", "must be a size of at least 4096 bytes such as 4096, 512K, 64M or 1G, not '" + v + "'");
                 w.journal_max_bytes = *n;
             },
             "Rotate the journal before it grows beyond this (bytes, or with K/M/G; default 64M)")
        ->type_name("SIZE");
    watch.add_option("--journal-keep", w.journal_keep, "Rotated journal files kept: FILE.1 .. FILE.N (default 5)")
        ->check(CLI::Range(0u, 1000u).description(""))
        ->type_name("N");
    watch.add_option("--journal-fsync", w.journal_fsync_s, "fsync the journal at most every SECONDS (default 1)")
        ->check(positive_seconds)
        ->type_name("SECONDS");
    watch.add_option("--window", w.window_s,
                     "Creators are ranked over the last one to two windows of SECONDS (default 300)")
        ->check(positive_seconds)
        ->type_name("SECONDS");
    watch.add_option("--forecast-window", w.forecast_window_s,
                     "How fast each table grows is the slope of its entry count over the last SECONDS; the time "
                     "until it is full follows from it (metrics, ct_pressure; default 60)")
        ->check(number_from(1, 86400))
        ->type_name("SECONDS");
    watch.add_option("--full-within", w.full_within_s,
                     "Emit ct_pressure \"filling\" before --threshold when a table will be full within SECONDS at "
                     "its current growth; 0: only at --threshold (default 600)")
        ->check(number_from(0, 604800))
        ->type_name("SECONDS");
    watch.add_flag("--bpf-stats", w.bpf_stats,
                   "Enable the kernel's BPF run-time statistics while running, for the per-program metrics");
    watch.add_flag("-q,--quiet", w.quiet,
                   "Print nothing on stdout, no events and no summary (journal and metrics only)");
    watch.footer(
        "Events: module_request/module_load/... (as `modules`), ct_drop (as `drops`), ct_activate (conntrack\n"
        "became active in a namespace: the process and the rules behind it), ct_pressure (a table reached\n"
        "--threshold, or will be full within --full-within: its fill, forecast and top creators), ct_tracking\n"
        "(creators are counted in a namespace from --arm-at on, and no longer), and a summary with the\n"
        "accounting at exit. Processes are named with their container, pod or systemd unit.\n"
        "Signals: SIGINT/SIGTERM detach and exit 0; SIGHUP reopens the journal (after logrotate).\n"
        "After attaching, capabilities are reduced to what following namespaces and reading their rules need.\n"
        "Examples:\n"
        "  nfsleuth watch                                   # everything on the terminal\n"
        "  nfsleuth watch -q --metrics 127.0.0.1:9836 --journal /var/log/nfsleuth/events.jsonl\n"
        "  nfsleuth watch --json --threshold 80 --duration 60");
}

// `why`: what holds a module and how to be rid of it.
void add_why_options(CLI::App& why, Invocation& inv) {
    add_output_options(why, inv.options);
    why.add_option("MODULE", inv.why.module, "The module to explain, e.g. nf_conntrack")
        ->required()
        ->check(CLI::Validator(
            [](const std::string& m) {
                if (m.empty() || m.size() > 55 || m.find_first_not_of("abcdefghijklmnopqrstuvwxyz0123456789_-") !=
                                                      std::string::npos)
                   return std::string("not a module name");
                return std::string();
            },
            "", ""));
    why.add_option("--journal", inv.why.journal,
                   "A `watch --journal` file (its rotated FILE.N too): how the modules were loaded and where conntrack "
                   "was switched on, and by whom. Default: /var/log/nfsleuth/events.jsonl when it exists (the "
                   "packaged daemon's)")
        ->check(CLI::ExistingFile.description(""))
        ->type_name("FILE");
    why.footer(
        "Reports what holds the module (holders and reference counts), the rules in each network namespace that\n"
        "need conntrack (nftables, iptables-nft, iptables-legacy), how it was loaded and where conntrack was\n"
        "switched on and by whom (from a journal), and what to do in order: the rules to remove, the unload\n"
        "sequence, the /etc/modprobe.d lines that keep it away, and NOTRACK and sizing when it must stay.\n"
        "It changes nothing itself.\n"
        "Examples:\n"
        "  nfsleuth why nf_conntrack\n"
        "  nfsleuth why nf_conntrack --journal /var/log/nfsleuth/events.jsonl --json");
}

}  // namespace

std::optional<uint64_t> parse_size(const std::string& text) {
    if (text.empty() || !std::isdigit(static_cast<unsigned char>(text[0]))) return std::nullopt;
    std::size_t used = 0;
    uint64_t n = 0;
    try {
        n = std::stoull(text, &used);
    } catch (const std::exception&) {
        return std::nullopt;
    }
    std::string suffix = text.substr(used);
    unsigned shift = suffix.empty() ? 0 : suffix == "K" || suffix == "k" ? 10 : suffix == "M" ? 20 : suffix == "G" ? 30 : 99;
    if (shift == 99 || (shift && n > (UINT64_MAX >> shift))) return std::nullopt;
    return n << shift;
}

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
    add_doctor_options(*app.add_subcommand("doctor", "Probe what this kernel offers (BTF, attach types, modules, "
                                                     "conntrack) and which backend each hook would use"),
                       inv);
    add_modules_options(*app.add_subcommand("modules", "Trace kernel module autoloads and loads, attributed to the "
                                                       "process that caused them"),
                        inv);
    add_drops_options(*app.add_subcommand("drops", "Trace every packet conntrack drops (table full, clash, invalid) "
                                                   "or a rule drops, per flow"),
                      inv);
    add_watch_options(*app.add_subcommand("watch", "The daemon: module loads, drops, conntrack activation and "
                                                   "pressure together, with metrics and a journal"),
                      inv);
    add_why_options(*app.add_subcommand("why", "Explain why a module (nf_conntrack) is loaded or active, and how to "
                                               "get rid of it safely"),
                    inv);

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
    if (const char* alone = pcap_limit_alone(*app.get_subcommands().front(), inv.drops.pcap)) {
        err << "nfsleuth: " << alone << ": needs --pcap FILE, the capture it limits\n"
               "Run 'nfsleuth --help' for usage.\n";
        return {std::nullopt, static_cast<int>(ExitCode::usage)};
    }
    if (inv.command == "watch" && inv.drops.arm_at_percent > inv.watch.threshold_percent) {
        err << "nfsleuth: --arm-at: must not be above --threshold (" << inv.watch.threshold_percent
            << "): the creators named in a ct_pressure warning are counted from --arm-at on\n"
               "Run 'nfsleuth --help' for usage.\n";
        return {std::nullopt, static_cast<int>(ExitCode::usage)};
    }
    return {inv, 0};
}

}  // namespace nfsleuth
