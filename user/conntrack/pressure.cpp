// SPDX-License-Identifier: GPL-2.0-only
#include "conntrack/pressure.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "common/text.hpp"

namespace nfsleuth {

std::string duration_text(double seconds) {
    const auto s = static_cast<long long>(std::llround(std::max(0.0, std::min(seconds, 1e12))));
    char buf[64];
    if (s < 60)
        std::snprintf(buf, sizeof buf, "%llds", s);
    else if (s < 3600)
        std::snprintf(buf, sizeof buf, "%lldm%02llds", s / 60, s % 60);
    else if (s < 86400)
        std::snprintf(buf, sizeof buf, "%lldh%02lldm", s / 3600, s % 3600 / 60);
    else
        std::snprintf(buf, sizeof buf, "%lldd%02lldh", s / 86400, s % 86400 / 3600);
    return buf;
}

std::string rate_text(double per_second) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "%+.1f/s", per_second);
    return buf;
}

template <class Map, class Key>
void CreatorStats::bump(Map& m, const Key& k, uint64_t n, Period& p) {
    auto it = m.find(k);
    if (it != m.end()) {
        it->second += n;
    } else if (m.size() < limits_.max_keys) {
        m.emplace(k, n);
    } else {
        p.other += n;
    }
}

void CreatorStats::add(const Creation& c) {
    if (!c.count) return;
    if (!current_.count(c.netns) && current_.size() >= limits_.max_namespaces) {
        // Make room by forgetting the namespace that created the least.
        auto least = std::min_element(current_.begin(), current_.end(),
                                      [](const auto& a, const auto& b) { return a.second.created < b.second.created; });
        previous_.erase(least->first);
        totals_.erase(least->first);
        current_.erase(least);
    }
    Period& p = current_[c.netns];
    p.created += c.count;
    totals_[c.netns] += c.count;
    bump(p.processes, std::make_pair(c.pid.value_or(0), c.pid ? c.comm : std::string()), c.count, p);
    const Workload w = c.cgroup ? c.cgroup->workload : Workload{};
    if (!c.pid) {
        for (auto* m : {&p.cgroups, &p.pods, &p.containers}) bump(*m, std::string("(none)"), c.count, p);
    } else {
        bump(p.cgroups, c.cgroup ? c.cgroup->path : "cgroup id " + std::to_string(c.cgroup_id), c.count, p);
        bump(p.pods, w.in_pod() ? pod_label(w) : std::string("(not in a pod)"), c.count, p);
        bump(p.containers, w.in_container() ? container_key(w) : std::string("(not in a container)"), c.count, p);
    }
    bump(p.destinations, c.destination, c.count, p);
}

void CreatorStats::rotate() {
    previous_ = std::move(current_);
    current_.clear();
}

namespace {

template <class Map, class Fill>
std::vector<CreatorStats::Ranked> ranked(const Map* a, const Map* b, std::size_t n, Fill fill) {
    Map sum;
    for (const Map* m : {a, b}) {
        if (!m) continue;
        for (const auto& [k, v] : *m) sum[k] += v;
    }
    std::vector<CreatorStats::Ranked> out;
    for (const auto& [k, v] : sum) {
        if (!v) continue;
        CreatorStats::Ranked r;
        r.entries = v;
        fill(k, r);
        out.push_back(std::move(r));
    }
    std::stable_sort(out.begin(), out.end(), [](const auto& x, const auto& y) { return x.entries > y.entries; });
    if (out.size() > n) out.resize(n);
    return out;
}

}  // namespace

CreatorStats::Top CreatorStats::top(uint32_t netns, std::size_t n) const {
    Top t;
    auto cur = current_.find(netns);
    auto prev = previous_.find(netns);
    const Period* a = cur == current_.end() ? nullptr : &cur->second;
    const Period* b = prev == previous_.end() ? nullptr : &prev->second;
    for (const Period* p : {a, b}) {
        if (!p) continue;
        t.created += p->created;
        t.other += p->other;
    }
    t.processes = ranked(a ? &a->processes : nullptr, b ? &b->processes : nullptr, n,
                         [](const std::pair<uint32_t, std::string>& k, Ranked& r) {
                             if (k.first) {
                                 r.pid = k.first;
                                 r.comm = k.second;
                                 r.name = k.second + "[" + std::to_string(k.first) + "]";
                             } else {
                                 r.name = "(no process)";
                             }
                         });
    auto by_name = [](const std::string& k, Ranked& r) { r.name = k; };
    t.cgroups = ranked(a ? &a->cgroups : nullptr, b ? &b->cgroups : nullptr, n, by_name);
    t.pods = ranked(a ? &a->pods : nullptr, b ? &b->pods : nullptr, n, by_name);
    t.containers = ranked(a ? &a->containers : nullptr, b ? &b->containers : nullptr, n, by_name);
    t.destinations = ranked(a ? &a->destinations : nullptr, b ? &b->destinations : nullptr, n, by_name);
    return t;
}

uint64_t CreatorStats::created_total(uint32_t netns) const {
    auto it = totals_.find(netns);
    return it == totals_.end() ? 0 : it->second;
}

const char* to_string(PressureChange::State s) {
    switch (s) {
        case PressureChange::State::high: return "high";
        case PressureChange::State::filling: return "filling";
        case PressureChange::State::cleared: return "cleared";
    }
    return "?";
}

std::vector<PressureChange> PressureMonitor::observe(const std::vector<FillSample>& samples,
                                                     std::chrono::steady_clock::time_point now,
                                                     const std::map<uint32_t, FillForecast>& forecasts) {
    using State = PressureChange::State;
    std::vector<PressureChange> changes;
    std::map<uint32_t, Armed> next;
    const double within = static_cast<double>(options_.full_within.count());
    for (const auto& s : samples) {
        if (!s.max) continue;
        Armed a = state_.count(s.netns) ? state_[s.netns] : Armed{};
        std::optional<FillForecast> forecast;
        if (auto f = forecasts.find(s.netns); f != forecasts.end()) forecast = f->second;
        const double pct = s.percent();
        const bool soon = within > 0 && forecast && forecast->full_in_s && *forecast->full_in_s <= within;
        const bool later = !forecast || !forecast->full_in_s || *forecast->full_in_s > 2 * within;
        auto report = [&](State state) {
            changes.push_back({s, state, forecast});
            a.state = state;
            a.last_report = now;
        };
        if (pct >= options_.threshold_percent) {
            if (a.state != State::high || now - a.last_report >= options_.repeat) report(State::high);
        } else if (a.state == State::high) {
            if (pct < options_.threshold_percent - options_.hysteresis_points) report(soon ? State::filling : State::cleared);
        } else if (soon) {
            if (a.state != State::filling || now - a.last_report >= options_.repeat) report(State::filling);
        } else if (a.state == State::filling && later) {
            report(State::cleared);
        }
        next[s.netns] = a;
    }
    state_ = std::move(next);  // namespaces that vanished are forgotten
    return changes;
}

std::vector<FillSample> fill_samples(const std::vector<NetnsInfo>& namespaces) {
    std::vector<FillSample> fills;
    for (const auto& ns : namespaces)
        if (ns.ct_count && ns.ct_max) fills.push_back({static_cast<uint32_t>(ns.inode), ns.name, *ns.ct_count, *ns.ct_max});
    return fills;
}

FillArming::FillArming(double arm_at_percent, double hysteresis_points)
    : arm_at_(arm_at_percent), disarm_below_(arm_at_percent - std::min(hysteresis_points, arm_at_percent / 2)) {}

std::vector<ArmingChange> FillArming::observe(const std::vector<FillSample>& samples) {
    std::vector<ArmingChange> changes;
    std::set<uint32_t> next;
    for (const auto& s : samples) {
        if (!s.max) continue;
        const bool was = armed(s.netns);
        const double pct = s.percent();
        const bool now = always() || pct >= arm_at_ || (was && pct >= disarm_below_);
        if (now) next.insert(s.netns);
        if (now != was && !always()) changes.push_back({s, now});
    }
    armed_ = std::move(next);
    return changes;
}

namespace {

using ojson = nlohmann::ordered_json;

ojson ranked_json(const std::vector<CreatorStats::Ranked>& list, const char* key) {
    ojson a = ojson::array();
    for (const auto& r : list) {
        ojson j;
        if (std::string(key) == "process") {
            j["pid"] = r.pid ? ojson(*r.pid) : ojson(nullptr);
            j["comm"] = r.pid ? ojson(r.comm) : ojson(nullptr);
        } else {
            j[key] = r.name;
        }
        j["entries"] = r.entries;
        a.push_back(std::move(j));
    }
    return a;
}

}  // namespace

std::string percent_text(double p) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.1f", p);
    return buf;
}

ojson to_json(const ArmingChange& c, const FillArming& arming, const std::string& ts, const std::string& method) {
    ojson j;
    j["type"] = "ct_tracking";
    j["ts"] = ts;
    j["state"] = c.armed ? "armed" : "disarmed";
    j["netns"] = c.sample.netns;
    j["netns_name"] = c.sample.name;
    j["count"] = c.sample.count;
    j["max"] = c.sample.max;
    j["fill_percent"] = std::stod(percent_text(c.sample.percent()));
    j["arm_at_percent"] = arming.arm_at();
    j["disarm_below_percent"] = arming.disarm_below();
    j["method"] = method;
    return j;
}

std::string to_human_line(const ArmingChange& c, const FillArming& arming, const std::string& ts,
                          const std::string& method) {
    std::string s = ts + " tracking " + (c.armed ? "ARMED " : "disarmed ") + escape_for_terminal(c.sample.name) +
                    " netns=" + std::to_string(c.sample.netns) + " conntrack " + std::to_string(c.sample.count) + "/" +
                    std::to_string(c.sample.max) + " (" + percent_text(c.sample.percent()) + "%";
    if (c.armed)
        return s + ", arm at " + percent_text(arming.arm_at()) + "%): counting who creates entries (" + method + ")";
    return s + ", below " + percent_text(arming.disarm_below()) + "%): no longer counting creations";
}

ojson to_json(const PressureChange& c, const CreatorStats::Top& top, double threshold, const std::string& ts,
              const std::string& source) {
    ojson j;
    j["type"] = "ct_pressure";
    j["ts"] = ts;
    j["state"] = to_string(c.state);
    j["netns"] = c.sample.netns;
    j["netns_name"] = c.sample.name;
    j["count"] = c.sample.count;
    j["max"] = c.sample.max;
    j["fill_percent"] = std::stod(percent_text(c.sample.percent()));
    j["threshold_percent"] = threshold;
    j["growth_per_s"] = c.forecast ? ojson(std::round(c.forecast->growth_per_s * 1000) / 1000) : ojson(nullptr);
    j["full_in_s"] = c.forecast && c.forecast->full_in_s ? ojson(std::round(*c.forecast->full_in_s * 10) / 10)
                                                          : ojson(nullptr);
    ojson creators;
    creators["source"] = source;
    creators["created"] = top.created;
    creators["processes"] = ranked_json(top.processes, "process");
    creators["cgroups"] = ranked_json(top.cgroups, "cgroup");
    creators["pods"] = ranked_json(top.pods, "pod");
    creators["containers"] = ranked_json(top.containers, "container");
    creators["destinations"] = ranked_json(top.destinations, "destination");
    creators["other"] = top.other;
    j["creators"] = std::move(creators);
    return j;
}

std::string to_human_line(const PressureChange& c, const CreatorStats::Top& top, double threshold,
                          const std::string& ts) {
    const bool cleared = c.state == PressureChange::State::cleared;
    std::string state = to_string(c.state);
    if (!cleared) std::transform(state.begin(), state.end(), state.begin(), [](char ch) { return ch - 'a' + 'A'; });
    std::string s = ts + " pressure " + state + " " + escape_for_terminal(c.sample.name) +
                    " netns=" + std::to_string(c.sample.netns) + " conntrack " + std::to_string(c.sample.count) +
                    "/" + std::to_string(c.sample.max) + " (" + percent_text(c.sample.percent()) + "%, threshold " +
                    percent_text(threshold) + "%)";
    if (c.forecast && c.forecast->full_in_s)
        s += " full in " + duration_text(*c.forecast->full_in_s) + " at " + rate_text(c.forecast->growth_per_s);
    if (cleared) return s;
    // Creators are counted from --arm-at on: a forecast may come first.
    if (top.created == 0 && c.state == PressureChange::State::filling) return s + " creators not counted yet";
    auto list = [](const std::vector<CreatorStats::Ranked>& v) {
        std::string out;
        for (const auto& r : v) out += (out.empty() ? "" : ", ") + escape_for_terminal(r.name) + " " + std::to_string(r.entries);
        return out.empty() ? std::string("none seen") : out;
    };
    s += " created=" + std::to_string(top.created) + " top processes: " + list(top.processes) +
         "; destinations: " + list(top.destinations) + "; cgroups: " + list(top.cgroups);
    // Containers and pods where there are any: "(not in a container)" alone says nothing.
    auto names_any = [](const std::vector<CreatorStats::Ranked>& v) {
        return std::any_of(v.begin(), v.end(), [](const auto& r) { return !r.name.starts_with("("); });
    };
    if (names_any(top.pods)) s += "; pods: " + list(top.pods);
    if (names_any(top.containers)) s += "; containers: " + list(top.containers);
    return s;
}

}  // namespace nfsleuth
