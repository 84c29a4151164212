// SPDX-License-Identifier: GPL-2.0-only
// Links module loads to the autoload request that caused them.
//
// request_module() does not load anything itself: it asks a kernel worker to
// run "modprobe -q -- NAME", so the requester and the loader are different
// processes and no single event names both. The correlator remembers each
// request and hands it to the kernel-spawned modprobe whose argv asks for
// the same name; every load that modprobe performs (dependencies first) and
// every request it makes in turn (a module's init asking for another one)
// inherits the original requester.
#pragma once
#include <cstdint>
#include <deque>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "modules/module_event.hpp"

namespace nfsleuth {

struct Trigger {
    uint32_t pid = 0;
    std::string comm;
    std::string cmdline;
    std::string requested;             // the name or alias first requested
    std::vector<Ancestor> ancestors;   // of the requester
    uint64_t ts_boot_ns = 0;           // when it was requested
    bool operator==(const Trigger& o) const { return pid == o.pid && requested == o.requested && ts_boot_ns == o.ts_boot_ns; }
};

// The name a kernel-spawned modprobe was asked for: the argument after "--"
// ("modprobe -q -- iptable_nat"), or its last argument.
std::string requested_name_from_modprobe_argv(const std::vector<std::string>& argv);

class ModuleCorrelator {
public:
    struct Limits {
        uint64_t request_ttl_ns = 300'000'000'000ull;  // a request unanswered this long is forgotten
        std::size_t max_pending = 4096;
        std::size_t max_loaders = 4096;
    };
    ModuleCorrelator() : ModuleCorrelator(Limits{}) {}
    explicit ModuleCorrelator(Limits limits);

    // Feeds one event in arrival order; returns the request it is attributed
    // to (for loads, failed loads, and requests made by such a modprobe).
    std::optional<Trigger> observe(const ModuleEvent& ev);

    std::size_t pending_requests() const { return pending_.size(); }

private:
    void expire(uint64_t now_ns);
    std::optional<Trigger> claim(const std::string& name, uint64_t now_ns);

    struct Pending {
        std::string alias;  // what this request asked for (may differ from trigger.requested when inherited)
        Trigger trigger;
        uint64_t ts_ns;     // when this request was made (a nested one is newer than its trigger)
    };
    struct Loader {
        Trigger trigger;
        std::string alias;    // what this modprobe was asked for: a reused pid will not match it
        uint64_t claimed_ns;  // the link is trusted for request_ttl_ns at most
    };
    std::optional<Trigger> linked_trigger(const Process& p) const;
    void link_loader(uint32_t pid, Loader loader);

    Limits limits_;
    std::deque<Pending> pending_;                        // oldest first
    std::unordered_map<uint32_t, Loader> loaders_;       // kernel-spawned modprobe pid -> its request
    std::deque<uint32_t> loader_order_;                  // eviction order for loaders_
};

}  // namespace nfsleuth
