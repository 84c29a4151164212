// SPDX-License-Identifier: GPL-2.0-only
#include "module_correlator.hpp"

#include <algorithm>

namespace nfsleuth {

std::string requested_name_from_modprobe_argv(const std::vector<std::string>& argv) {
    auto dashes = std::find(argv.begin(), argv.end(), "--");
    if (dashes != argv.end() && dashes + 1 != argv.end()) return *(dashes + 1);
    if (argv.size() >= 2) return argv.back();
    return {};
}

void ModuleCorrelator::expire(uint64_t now_ns) {
    while (!pending_.empty() && now_ns > pending_.front().trigger.ts_boot_ns + limits_.request_ttl_ns)
        pending_.pop_front();
    while (!loader_order_.empty()) {
        auto it = loaders_.find(loader_order_.front());
        if (it != loaders_.end() && now_ns <= it->second.claimed_ns + limits_.request_ttl_ns) break;
        if (it != loaders_.end()) loaders_.erase(it);
        loader_order_.pop_front();
    }
}

std::optional<Trigger> ModuleCorrelator::claim(const std::string& name, uint64_t now_ns) {
    // The newest matching request wins: an older one for the same name was
    // most likely answered by a modprobe that found the module already there.
    for (auto it = pending_.rbegin(); it != pending_.rend(); ++it) {
        if (it->alias == name && it->trigger.ts_boot_ns <= now_ns) {
            Trigger t = it->trigger;
            pending_.erase(std::next(it).base());
            return t;
        }
    }
    return std::nullopt;
}

std::optional<Trigger> ModuleCorrelator::observe(const ModuleEvent& ev) {
    expire(ev.ts_boot_ns);
    const Process& p = ev.proc;

    std::optional<Trigger> inherited;
    if (auto it = loaders_.find(p.pid); it != loaders_.end()) inherited = it->second.trigger;

    if (ev.type == ModuleEventType::request) {
        Trigger t = inherited.value_or(Trigger{p.pid, p.comm, p.cmdline(), ev.module, p.ancestors, ev.ts_boot_ns});
        if (pending_.size() >= limits_.max_pending) pending_.pop_front();
        pending_.push_back({ev.module, t});
        return inherited;
    }
    if (ev.type == ModuleEventType::free || inherited) return inherited;
    if (!p.spawned_by_kernel()) return std::nullopt;  // someone ran modprobe/insmod: theirs

    auto name = requested_name_from_modprobe_argv(p.argv);
    auto claimed = claim(name, ev.ts_boot_ns);
    if (!claimed) return std::nullopt;
    if (loaders_.size() >= limits_.max_loaders) {
        loaders_.erase(loader_order_.front());
        loader_order_.pop_front();
    }
    loaders_[p.pid] = Loader{*claimed, ev.ts_boot_ns};
    loader_order_.push_back(p.pid);
    return claimed;
}

}  // namespace nfsleuth
