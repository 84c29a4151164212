// SPDX-License-Identifier: GPL-2.0-only
#include "drops/kernel_agreement.hpp"

namespace nfsleuth {

const char* to_string(CheckedCounter c) {
    switch (c) {
        case CheckedCounter::drop: return "drop";
        case CheckedCounter::insert_failed: return "insert_failed";
        case CheckedCounter::early_drop: return "early_drop";
    }
    return "?";
}

std::string Disagreement::describe() const {
    std::string kernel = kernel_min == kernel_max ? std::to_string(kernel_min)
                                                  : std::to_string(kernel_min) + " to " + std::to_string(kernel_max);
    std::string what = counter == CheckedCounter::drop            ? "conntrack drops"
                       : counter == CheckedCounter::insert_failed ? "insert clashes"
                                                                  : "early_drop evictions";
    std::string s = "the kernel counted " + kernel + " " + what + " (" + to_string(counter) + " counter), nfsleuth ";
    s += missed ? "saw only " : "reported ";
    s += std::to_string(nfsleuth);
    s += missed ? ": drops are going unseen" : ": drops are being misnamed";
    return s;
}

void KernelAgreement::count(uint32_t netns, std::optional<DropCause> cause, uint64_t n) {
    if (!cause) return;
    Counts& c = counts_[netns];
    switch (*cause) {
        case DropCause::table_full:
        case DropCause::invalid:
        case DropCause::other_ct: c.conntrack += n; break;
        case DropCause::insert_failed: c.insert_failed += n; break;
        case DropCause::early_drop: c.early_drop += n; break;
        case DropCause::helper:  // in none of the kernel's counters
        case DropCause::rule:
        case DropCause::unknown: break;
    }
}

namespace {

bool went_back(const KernelDropCounters& now, const KernelDropCounters& before) {
    return now.drop < before.drop || now.insert_failed < before.insert_failed || now.early_drop < before.early_drop;
}

uint64_t minus(uint64_t a, uint64_t b) { return a > b ? a - b : 0; }

}  // namespace

KernelAgreement::Counts KernelAgreement::counted_since(uint32_t netns, const Counts& base) const {
    auto it = counts_.find(netns);
    Counts now = it == counts_.end() ? Counts{} : it->second;
    return {minus(now.conntrack, base.conntrack), minus(now.insert_failed, base.insert_failed),
            minus(now.early_drop, base.early_drop)};
}

void KernelAgreement::before_attach(uint32_t netns, const KernelDropCounters& k) {
    Namespace& ns = namespaces_[netns];
    ns = Namespace{};
    ns.lo = k;
    ns.last = k;
}

std::vector<Disagreement> KernelAgreement::observe(uint32_t netns, const KernelDropCounters& k) {
    Namespace& ns = namespaces_[netns];
    // Counters only grow: smaller ones belong to a new namespace that got
    // the inode of one that is gone. Start it over.
    if (ns.lo && went_back(k, ns.last)) ns = Namespace{};
    std::vector<Disagreement> changed;
    if (!ns.lo) {
        ns.lo = k;
    } else if (!ns.hi) {
        ns.hi = k;
        ns.base = counts_[netns];
    } else {
        changed = compare(netns, ns, k);
        ns.compared = true;
    }
    ns.last = k;
    return changed;
}

std::vector<Disagreement> KernelAgreement::compare(uint32_t netns, Namespace& ns, const KernelDropCounters& k) const {
    Counts seen = counted_since(netns, ns.base);
    const KernelDropCounters& prev = ns.last;  // the reading a whole interval old
    const KernelDropCounters& hi = *ns.hi;
    const KernelDropCounters& lo = *ns.lo;

    std::vector<Disagreement> changed;
    // lower/upper: the kernel's count since the baseline; at_least/at_most:
    // what nfsleuth's counts allow it to be.
    auto check = [&](CheckedCounter counter, uint64_t lower, uint64_t upper, uint64_t at_least, uint64_t at_most) {
        std::optional<Disagreement> d;
        if (at_most < lower)
            d = Disagreement{netns, counter, true, lower, upper, at_most};
        else if (at_least > upper)
            d = Disagreement{netns, counter, false, lower, upper, at_least};
        auto known = ns.disagreements.find(counter);
        if (!d) {
            if (known != ns.disagreements.end()) ns.disagreements.erase(known);
            return;
        }
        bool grew =
            known == ns.disagreements.end() || known->second.missed != d->missed || d->gap() > known->second.gap();
        ns.disagreements[counter] = *d;
        if (grew) changed.push_back(*d);
    };
    // A clash the kernel drops counts in `drop` on some kernels and not on
    // others: nfsleuth's clashes widen what `drop` may be.
    check(CheckedCounter::drop, minus(prev.drop, hi.drop), minus(k.drop, lo.drop), seen.conntrack,
          seen.conntrack + seen.insert_failed);
    check(CheckedCounter::insert_failed, minus(prev.insert_failed, hi.insert_failed),
          minus(k.insert_failed, lo.insert_failed), seen.insert_failed, seen.insert_failed);
    if (sees_evictions_)
        check(CheckedCounter::early_drop, minus(prev.early_drop, hi.early_drop), minus(k.early_drop, lo.early_drop),
              seen.early_drop, seen.early_drop);
    return changed;
}

void KernelAgreement::restart(bool sees_evictions) {
    sees_evictions_ = sees_evictions;
    for (auto& [netns, ns] : namespaces_) {
        for (const auto& [counter, d] : ns.disagreements) earlier_[netns].push_back(d);
        ns = Namespace{};
    }
}

std::vector<NamespaceAgreement> KernelAgreement::report() const {
    std::vector<NamespaceAgreement> out;
    for (const auto& [netns, ns] : namespaces_) {
        NamespaceAgreement a;
        a.netns = netns;
        a.checked = ns.compared;
        if (ns.hi) {
            a.kernel_delta = {minus(ns.last.drop, ns.hi->drop), minus(ns.last.insert_failed, ns.hi->insert_failed),
                              minus(ns.last.early_drop, ns.hi->early_drop)};
            Counts seen = counted_since(netns, ns.base);
            a.nfsleuth = {seen.conntrack, seen.insert_failed, seen.early_drop};
        }
        if (auto e = earlier_.find(netns); e != earlier_.end()) a.disagreements = e->second;
        for (const auto& [counter, d] : ns.disagreements) a.disagreements.push_back(d);
        out.push_back(std::move(a));
    }
    return out;
}

std::vector<std::string> KernelAgreement::not_compared() const {
    std::vector<std::string> out = {
        "invalid (counts every packet conntrack finds invalid, most of which are accepted, not dropped)"};
    if (!sees_evictions_)
        out.push_back("early_drop (evictions are only visible where conntrack's functions can be hooked)");
    return out;
}

}  // namespace nfsleuth
