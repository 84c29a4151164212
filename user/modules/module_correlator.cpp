// SPDX-License-Identifier: GPL-2.0-only
#include "modules/module_correlator.hpp"

#include <algorithm>

namespace nfsleuth {

std::string requested_name_from_modprobe_argv(const std::vector<std::string>& argv) {
    auto dashes = std::find(argv.begin(), argv.end(), "--");
    if (dashes != argv.end()) return dashes + 1 != argv.end() ? *(dashes + 1) : std::string();
    if (argv.size() >= 2) return argv.back();
    return {};
}

ModuleCorrelator::ModuleCorrelator(Limits limits) : limits_(limits) {
    // The bounds are evicted from the front: they must hold at least one entry.
    limits_.max_pending = std::max<std::size_t>(limits_.max_pending, 1);
    limits_.max_loaders = std::max<std::size_t>(limits_.max_loaders, 1);
}

void ModuleCorrelator::expire(uint64_t now_ns) {
    while (!pending_.empty() && now_ns > pending_.front().ts_ns + limits_.request_ttl_ns) pending_.pop_front();
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
        if (it->alias == name && it->ts_ns <= now_ns) {
            Trigger t = it->trigger;
            pending_.erase(std::next(it).base());
            return t;
        }
    }
    return std::nullopt;
}

std::optional<Trigger> ModuleCorrelator::linked_trigger(const Process& p) const {
    auto it = loaders_.find(p.pid);
    if (it == loaders_.end() || !p.spawned_by_kernel()) return std::nullopt;
    // argv can be unreadable (paged out); then the pid and the parent must do.
    if (!p.argv.empty() && requested_name_from_modprobe_argv(p.argv) != it->second.alias) return std::nullopt;
    return it->second.trigger;
}

void ModuleCorrelator::link_loader(uint32_t pid, Loader loader) {
    if (loaders_.erase(pid)) loader_order_.erase(std::find(loader_order_.begin(), loader_order_.end(), pid));
    if (loaders_.size() >= limits_.max_loaders) {
        loaders_.erase(loader_order_.front());
        loader_order_.pop_front();
    }
    loaders_.emplace(pid, std::move(loader));
    loader_order_.push_back(pid);
}

std::optional<Trigger> ModuleCorrelator::observe(const ModuleEvent& ev) {
    expire(ev.ts_boot_ns);
    const Process& p = ev.proc;
    std::optional<Trigger> inherited = linked_trigger(p);

    if (ev.type == ModuleEventType::request) {
        Trigger t = inherited.value_or(Trigger{p.pid, p.comm, p.cmdline(), ev.module, p.ancestors, ev.ts_boot_ns});
        if (pending_.size() >= limits_.max_pending) pending_.pop_front();
        pending_.push_back({ev.module, t, ev.ts_boot_ns});
        return inherited;
    }
    if (ev.type == ModuleEventType::free || inherited) return inherited;
    if (!p.spawned_by_kernel()) return std::nullopt;  // someone ran modprobe/insmod: theirs

    auto name = requested_name_from_modprobe_argv(p.argv);
    auto claimed = claim(name, ev.ts_boot_ns);
    if (claimed) link_loader(p.pid, Loader{*claimed, name, ev.ts_boot_ns});
    return claimed;
}

}  // namespace nfsleuth
