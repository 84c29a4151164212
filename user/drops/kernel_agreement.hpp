// SPDX-License-Identifier: GPL-2.0-only
// nfsleuth's own drop counts held against the kernel's conntrack statistics
// (`drop`, `insert_failed`, `early_drop` of /proc/net/stat/nf_conntrack),
// per network namespace. A disagreement means nfsleuth is missing drops or
// misnaming them; it is reported, never hidden.
//
// Reading the kernel's counters and sweeping nfsleuth's own are not one
// atomic step, so each namespace gets a baseline bracketed by two readings:
// `lo`, taken before nfsleuth could count anything of the period it starts
// (before attaching, or the previous interval's reading), and `hi` with
// nfsleuth's count at the same sweep. A drop the kernel counts increments
// its counter before nfsleuth's program runs for it, so, with K the reading
// right after the current sweep, K' the one after the previous sweep and N
// nfsleuth's count at the current sweep:
//
//   K' - hi  <=  N - N_base  <=  K - lo
//
// holds whenever nfsleuth saw every drop and named it right. The lower bound
// uses K' (a whole interval old) so that a drop counted by the kernel but
// still on its way through nfsleuth's program is not taken for a miss.
#pragma once
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "drops/drop_event.hpp"

namespace nfsleuth {

// The counters of one namespace, summed over CPUs.
struct KernelDropCounters {
    uint64_t drop = 0;           // table full, invalid packets dropped, clashes
    uint64_t insert_failed = 0;  // clashes on confirm
    uint64_t early_drop = 0;     // entries evicted to make room
};

enum class CheckedCounter { drop, insert_failed, early_drop };
const char* to_string(CheckedCounter c);

struct Disagreement {
    uint32_t netns = 0;
    CheckedCounter counter = CheckedCounter::drop;
    bool missed = true;        // nfsleuth saw fewer than the kernel counted (else more)
    uint64_t kernel_min = 0;   // the kernel's count since the baseline lies in
    uint64_t kernel_max = 0;   // [kernel_min, kernel_max]
    uint64_t nfsleuth = 0;     // what nfsleuth counted for it
    // "the kernel counted 30 conntrack drops (drop), nfsleuth saw 0"
    std::string describe() const;
    // How far nfsleuth is off: drops unseen, or reported beyond the kernel's count.
    uint64_t gap() const { return missed ? kernel_min - nfsleuth : nfsleuth - kernel_max; }
};

// The state of one namespace at the end, for the summary.
struct NamespaceAgreement {
    uint32_t netns = 0;
    bool checked = false;  // a baseline and at least one comparison
    KernelDropCounters kernel_delta;  // since the baseline (upper reading)
    KernelDropCounters nfsleuth;      // nfsleuth's counts since the baseline
    std::vector<Disagreement> disagreements;
};

class KernelAgreement {
public:
    // Evictions are only visible where conntrack's own functions are hooked.
    explicit KernelAgreement(bool sees_evictions) : sees_evictions_(sees_evictions) {}

    // One of nfsleuth's records (every one, whatever the output filters).
    void count(uint32_t netns, std::optional<DropCause> cause, uint64_t n);
    // A reading taken before anything was attached: the namespace's `lo`.
    void before_attach(uint32_t netns, const KernelDropCounters& k);
    // The reading right after a sweep of nfsleuth's counts. Returns the
    // disagreements that are new or whose gap grew.
    std::vector<Disagreement> observe(uint32_t netns, const KernelDropCounters& k);
    // Namespaces whose reading disappeared (the namespace is gone) are
    // kept as last seen.
    std::vector<NamespaceAgreement> report() const;
    bool sees_evictions() const { return sees_evictions_; }
    // The way drops are seen changed (hooks attached or gone): every
    // namespace starts a new baseline; disagreements found so far stay in
    // the report.
    void restart(bool sees_evictions);
    // Counters nfsleuth cannot compare here, and why.
    std::vector<std::string> not_compared() const;

private:
    struct Counts {
        uint64_t conntrack = 0;  // table_full, invalid, other conntrack drops
        uint64_t insert_failed = 0;
        uint64_t early_drop = 0;
    };
    struct Namespace {
        std::optional<KernelDropCounters> lo;
        std::optional<KernelDropCounters> hi;
        Counts base;                          // nfsleuth's counts at hi
        KernelDropCounters last;  // the latest reading
        bool compared = false;
        std::map<CheckedCounter, Disagreement> disagreements;
    };
    std::vector<Disagreement> compare(uint32_t netns, Namespace& ns, const KernelDropCounters& k) const;
    Counts counted_since(uint32_t netns, const Counts& base) const;

    bool sees_evictions_;
    std::map<uint32_t, Counts> counts_;
    std::map<uint32_t, Namespace> namespaces_;
    std::map<uint32_t, std::vector<Disagreement>> earlier_;  // found before a restart
};

}  // namespace nfsleuth
