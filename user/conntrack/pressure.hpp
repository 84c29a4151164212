// SPDX-License-Identifier: GPL-2.0-only
// Conntrack pressure: how full each namespace's table is, who creates its
// entries, and when to warn (before packets drop).
#pragma once
#include <chrono>
#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "kernel/netns.hpp"
#include "process/cgroup_identity.hpp"

namespace nfsleuth {

// Entries created by one creator towards one destination, since the last
// report of that source.
struct Creation {
    uint32_t netns = 0;
    std::optional<uint32_t> pid;  // absent: not created from a process (received, forwarded)
    std::string comm;
    uint64_t cgroup_id = 0;
    std::optional<CgroupIdentity> cgroup;  // when known
    std::string destination;            // "10.0.0.1:53/udp"
    uint64_t count = 0;
};

// Who created how many entries, per namespace, over a sliding window of two
// periods (the current one and the one before). Bounded: each namespace
// keeps at most `max_keys` creators, cgroups, pods, containers and
// destinations each (the rest is
// counted as "other"), and at most `max_namespaces` namespaces.
class CreatorStats {
public:
    struct Limits {
        std::size_t max_keys = 1024;
        std::size_t max_namespaces = 1024;
    };
    CreatorStats() : CreatorStats(Limits{}) {}
    explicit CreatorStats(Limits limits) : limits_(limits) {}

    void add(const Creation& c);
    // Starts a new period; the oldest one is forgotten.
    void rotate();

    struct Ranked {
        std::string name;
        uint64_t entries = 0;
        std::optional<uint32_t> pid;  // for processes
        std::string comm;             // for processes
    };
    struct Top {
        uint64_t created = 0;  // in the window, this namespace
        std::vector<Ranked> processes;
        std::vector<Ranked> cgroups;
        std::vector<Ranked> pods;        // "namespace/name"
        std::vector<Ranked> containers;  // container_key()
        std::vector<Ranked> destinations;
        uint64_t other = 0;  // creations whose keys did not fit the bounds
    };
    Top top(uint32_t netns, std::size_t n) const;
    uint64_t created_total(uint32_t netns) const;  // since start, never rotated away
    std::size_t namespaces() const { return current_.size(); }

private:
    struct Period {
        std::map<std::pair<uint32_t, std::string>, uint64_t> processes;  // (pid or 0, comm)
        std::map<std::string, uint64_t> cgroups;
        std::map<std::string, uint64_t> pods;
        std::map<std::string, uint64_t> containers;
        std::map<std::string, uint64_t> destinations;
        uint64_t created = 0;
        uint64_t other = 0;
    };
    template <class Map, class Key>
    void bump(Map& m, const Key& k, uint64_t n, Period& p);

    Limits limits_;
    std::map<uint32_t, Period> current_;
    std::map<uint32_t, Period> previous_;
    std::map<uint32_t, uint64_t> totals_;
};

struct FillSample {
    uint32_t netns = 0;
    std::string name;
    uint64_t count = 0;
    uint64_t max = 0;
    double percent() const { return max ? 100.0 * static_cast<double>(count) / static_cast<double>(max) : 0.0; }
};

// The fill of each namespace read with a table (read_conntrack_fill).
std::vector<FillSample> fill_samples(const std::vector<NetnsInfo>& namespaces);

// How fast a table grows and when it will be full at that rate
// (FillForecaster).
struct FillForecast {
    double growth_per_s = 0;          // entries per second (negative: shrinking)
    std::optional<double> full_in_s;  // nullopt: not growing; 0: full now
};

struct PressureChange {
    enum class State { high, filling, cleared };
    FillSample sample;
    State state = State::high;
    std::optional<FillForecast> forecast;  // when one was known at the sample
};

const char* to_string(PressureChange::State s);

// Edge-triggered warnings with hysteresis: `high` when a namespace reaches
// the threshold (and again every `repeat` while it stays there);
// `filling` before that, when its forecast says full within `full_within`
// (0: never); `cleared` once it falls `hysteresis` points below the
// threshold, or its forecast moves beyond twice `full_within`.
class PressureMonitor {
public:
    struct Options {
        double threshold_percent = 90;
        std::chrono::seconds full_within{0};
        std::chrono::seconds repeat{60};
        double hysteresis_points = 5.0;
    };
    explicit PressureMonitor(Options options) : options_(options) {}
    explicit PressureMonitor(double threshold_percent) : PressureMonitor(Options{threshold_percent}) {}
    std::vector<PressureChange> observe(const std::vector<FillSample>& samples,
                                        std::chrono::steady_clock::time_point now,
                                        const std::map<uint32_t, FillForecast>& forecasts = {});
    double threshold() const { return options_.threshold_percent; }
    std::chrono::seconds full_within() const { return options_.full_within; }

private:
    struct Armed {
        PressureChange::State state = PressureChange::State::cleared;
        std::chrono::steady_clock::time_point last_report{};
    };
    Options options_;
    std::map<uint32_t, Armed> state_;
};

// "45s", "8m20s", "2h03m", "3d04h" (rounded to the second).
std::string duration_text(double seconds);
// Entries per second with sign and one decimal: "+12.5/s".
std::string rate_text(double per_second);

// A percentage with one decimal: "50.0".
std::string percent_text(double p);

// When to run the hooks that cost per connection (who creates a
// namespace's entries, which entries early_drop evicts): only from
// `arm_at` percent of a table (armed) until it falls below disarm_below()
// (disarmed). arm_at 0: every namespace with a table, always.
struct ArmingChange {
    FillSample sample;
    bool armed = false;
};

class FillArming {
public:
    explicit FillArming(double arm_at_percent, double hysteresis_points = 10.0);
    // Namespaces absent from `samples` (gone, or conntrack unloaded) are
    // disarmed without a change: there is nothing left to count.
    std::vector<ArmingChange> observe(const std::vector<FillSample>& samples);
    bool armed(uint32_t netns) const { return armed_.count(netns) != 0; }
    std::size_t armed_count() const { return armed_.size(); }
    bool always() const { return arm_at_ <= 0; }
    double arm_at() const { return arm_at_; }
    double disarm_below() const { return disarm_below_; }

private:
    double arm_at_;
    double disarm_below_;
    std::set<uint32_t> armed_;
};

// The `ct_tracking` event: creation tracking armed or disarmed in a namespace.
nlohmann::ordered_json to_json(const ArmingChange& c, const FillArming& arming, const std::string& ts,
                               const std::string& method);
std::string to_human_line(const ArmingChange& c, const FillArming& arming, const std::string& ts,
                          const std::string& method);

// The `ct_pressure` event, as JSON (docs/events.md) and as a terminal line.
nlohmann::ordered_json to_json(const PressureChange& c, const CreatorStats::Top& top, double threshold,
                               const std::string& ts, const std::string& source);
std::string to_human_line(const PressureChange& c, const CreatorStats::Top& top, double threshold,
                          const std::string& ts);

}  // namespace nfsleuth
