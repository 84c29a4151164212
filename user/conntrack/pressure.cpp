// SPDX-License-Identifier: GPL-2.0-only
#include "conntrack/pressure.hpp"

#include <algorithm>
#include <cstdio>

#include "common/text.hpp"

namespace nfsleuth {

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
    bump(p.cgroups, c.pid ? c.cgroup.value_or("cgroup id " + std::to_string(c.cgroup_id)) : std::string("(none)"),
         c.count, p);
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
    t.destinations = ranked(a ? &a->destinations : nullptr, b ? &b->destinations : nullptr, n, by_name);
    return t;
}

uint64_t CreatorStats::created_total(uint32_t netns) const {
    auto it = totals_.find(netns);
    return it == totals_.end() ? 0 : it->second;
}

std::vector<PressureChange> PressureMonitor::observe(const std::vector<FillSample>& samples,
                                                     std::chrono::steady_clock::time_point now) {
    std::vector<PressureChange> changes;
    std::map<uint32_t, Armed> next;
    for (const auto& s : samples) {
        if (!s.max) continue;
        Armed a = state_.count(s.netns) ? state_[s.netns] : Armed{};
        double pct = s.percent();
        if (pct >= threshold_) {
            if (!a.high || now - a.last_report >= repeat_) {
                changes.push_back({s, PressureChange::State::high});
                a.high = true;
                a.last_report = now;
            }
        } else if (a.high && pct < threshold_ - hysteresis_) {
            changes.push_back({s, PressureChange::State::cleared});
            a.high = false;
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
    j["state"] = c.state == PressureChange::State::high ? "high" : "cleared";
    j["netns"] = c.sample.netns;
    j["netns_name"] = c.sample.name;
    j["count"] = c.sample.count;
    j["max"] = c.sample.max;
    j["fill_percent"] = std::stod(percent_text(c.sample.percent()));
    j["threshold_percent"] = threshold;
    ojson creators;
    creators["source"] = source;
    creators["created"] = top.created;
    creators["processes"] = ranked_json(top.processes, "process");
    creators["cgroups"] = ranked_json(top.cgroups, "cgroup");
    creators["destinations"] = ranked_json(top.destinations, "destination");
    creators["other"] = top.other;
    j["creators"] = std::move(creators);
    return j;
}

std::string to_human_line(const PressureChange& c, const CreatorStats::Top& top, double threshold,
                          const std::string& ts) {
    const bool high = c.state == PressureChange::State::high;
    std::string s = ts + " pressure " + (high ? "HIGH " : "cleared ") + escape_for_terminal(c.sample.name) +
                    " netns=" + std::to_string(c.sample.netns) + " conntrack " + std::to_string(c.sample.count) +
                    "/" + std::to_string(c.sample.max) + " (" + percent_text(c.sample.percent()) + "%, threshold " +
                    percent_text(threshold) + "%)";
    if (!high) return s;
    auto list = [](const std::vector<CreatorStats::Ranked>& v) {
        std::string out;
        for (const auto& r : v) out += (out.empty() ? "" : ", ") + escape_for_terminal(r.name) + " " + std::to_string(r.entries);
        return out.empty() ? std::string("none seen") : out;
    };
    s += " created=" + std::to_string(top.created) + " top processes: " + list(top.processes) +
         "; destinations: " + list(top.destinations) + "; cgroups: " + list(top.cgroups);
    return s;
}

}  // namespace nfsleuth
