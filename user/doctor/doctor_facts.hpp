// SPDX-License-Identifier: GPL-2.0-only
// What `doctor` finds out about the kernel and nfsleuth's hooks on it, as
// plain facts: collected once (doctor.cpp), then rendered as JSON or text
// from the same struct, and turned into the exit code.
#pragma once
#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "common/error.hpp"
#include "kernel/capabilities.hpp"
#include "kernel/kernel_probe.hpp"
#include "why/journal_findings.hpp"

namespace nfsleuth {

// One hook as planned, completed with what its source's real programs did.
struct HookFact {
    std::string hook;
    std::string purpose;
    bool required = false;
    std::optional<Flavor> flavor;       // the chosen attach type, if any
    std::string target;                 // its target
    std::vector<std::string> rejected;  // why other candidates were not usable
    std::optional<bool> works;          // nullopt: not tried
    struct Refusal {
        std::string stage;
        std::string reason;
    };
    std::optional<Refusal> refused;     // the kernel refused its programs
};

// How drops are recognised and their causes named (when probed).
struct DropFacts {
    std::string backend;                      // "fentry", "kprobe" or "tracepoint"
    bool follows_module = false;              // cause hooks follow the nf_conntrack module
    std::optional<std::string> recognised_by; // nullopt: drops cannot be recognised
};

struct NamespaceFact {
    uint64_t inode = 0;
    std::string name;
    std::optional<uint64_t> count;
    std::optional<uint64_t> max;
};

struct DoctorFacts {
    std::string kernel_release;
    bool btf_available = false;
    std::string btf_path;
    Capabilities caps;
    std::optional<bool> ringbuf;                  // nullopt: not probed (unprivileged)
    bool loadable_modules = false;
    bool module_tracepoints = false;
    std::optional<std::string> tracefs;           // where it is mounted
    std::map<Flavor, ProbeResult> attach_types;   // empty: not probed
    std::vector<HookFact> hooks;
    std::optional<DropFacts> drops;               // nullopt: not probed
    std::string conntrack_state;                  // "absent", "builtin", "module"
    std::vector<NamespaceFact> namespaces;
    std::optional<std::string> journal;           // the watch journal read, if any
    MismatchHistory mismatches;
    std::vector<std::string> notes;

    bool backend_works(Backend b) const;
    // Hooks the kernel offers but refuses nfsleuth's programs on, and the
    // drop hook when drops cannot be recognised at all.
    int hooks_refused() const;
};

nlohmann::ordered_json to_json(const DoctorFacts& facts);
std::string to_text(const DoctorFacts& facts);
// privilege when nothing could be probed; unsupported when a hook is
// refused; failure when the journal shows counter mismatches; else ok.
ExitCode exit_code(const DoctorFacts& facts);

}  // namespace nfsleuth
