// SPDX-License-Identifier: GPL-2.0-only
// Prometheus metrics of the watch daemon: a registry the event loop updates
// and the HTTP endpoint renders (text exposition format 0.0.4).
//
// Label values come from the traced world (process names, module names,
// namespaces): a hostile workload chooses them. So every family holds a
// bounded number of series, values are cleaned to valid UTF-8 without
// control characters when they arrive, and the rest of a family's activity
// is folded into one series whose label values are all "other". The series
// kept are the top N by recent volume: a counter's label set in "other"
// whose recent growth is twice that of the weakest series takes its slot.
//
// Families of the daemon, for example: nfsleuth_drops_total{cause,netns},
// nfsleuth_conntrack_entries{netns}, nfsleuth_events_lost_total{source,reason},
// nfsleuth_bpf_run_time_seconds_total{program}. Counter names end in _total,
// units are base units (seconds, bytes), as promtool's lint expects.
#pragma once
#include <chrono>
#include <cstddef>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace nfsleuth {

struct MetricsOptions {
    // Label sets per family beyond which activity goes to the "other" series.
    std::size_t max_series = 100;
    // A series unchanged for this long gives its slot back (counters fold
    // their value into "other", gauges set with set() disappear).
    std::chrono::steady_clock::duration idle_expiry = std::chrono::minutes(15);
    // A counter's recent volume: its growth, each unit counting half after
    // this long. What ranks the series of a full family.
    std::chrono::steady_clock::duration volume_half_life = std::chrono::minutes(5);
    // Injectable for tests; steady_clock::now when empty. Called with the
    // registry's lock held: it must not call back into the registry.
    std::function<std::chrono::steady_clock::time_point()> clock;
};

class MetricsRegistry {
public:
    enum class Kind { counter, gauge };
    using Labels = std::vector<std::string>;
    using Sample = std::pair<Labels, double>;

    // The family the registry keeps itself: folds per family, rendered last.
    static constexpr const char* folded_family = "nfsleuth_metrics_series_folded_total";
    // The label value of the overflow series.
    static constexpr const char* other_value = "other";

    MetricsRegistry() : MetricsRegistry(MetricsOptions{}) {}
    explicit MetricsRegistry(MetricsOptions options);
    MetricsRegistry(const MetricsRegistry&) = delete;
    MetricsRegistry& operator=(const MetricsRegistry&) = delete;

    // Families render in the order they are defined. Counter names end in
    // _total; names and label names must be valid Prometheus names; a name
    // is defined once. Violations throw std::logic_error.
    void define(const std::string& family, Kind kind, std::string help, std::vector<std::string> label_names);

    // Counters. `delta` must be finite and >= 0; 0 creates the series (to
    // show a known label set as 0) without marking it changed.
    void add(const std::string& family, const Labels& label_values, double delta = 1);
    // Counters that mirror a monotonic kernel counter: the registry counts
    // what grew since the last call for these labels (the first call counts
    // the whole value), so the series equals the kernel's value while it
    // keeps its slot, and a label set that was folded and comes back adds
    // only its growth. A value lower than the last one is ignored.
    void set_counter(const std::string& family, const Labels& label_values, double value);

    // Gauges. A new label set on a full family is dropped (and counted as a
    // fold): a gauge's "other" cannot sum values that are set, not added.
    void set(const std::string& family, const Labels& label_values, double value);
    // Replaces a gauge family's whole sample set: the max_series largest
    // values keep their labels, the sum of the rest becomes "other".
    // Duplicate label sets (also after cleaning) are summed.
    void replace_gauges(const std::string& family, std::vector<Sample> samples);

    // The exposition text (Content-Type text/plain; version=0.0.4).
    std::string render() const;

private:
    using TimePoint = std::chrono::steady_clock::time_point;
    // Growth decaying with volume_half_life.
    struct Volume {
        double recent = 0;
        TimePoint at;
    };
    struct Series {
        Series(double value, TimePoint changed) : Series(value, changed, Volume{0, changed}) {}
        Series(double value, TimePoint changed, Volume volume) : value(value), changed(changed), volume(volume) {}
        double value;
        TimePoint changed;
        Volume volume;  // counters
    };
    struct Mirror {
        double last = 0;
        TimePoint seen;
    };
    struct Family {
        std::string name;
        Kind kind;
        std::string help;
        std::vector<std::string> label_names;
        std::map<Labels, Series> series;  // at most max_series, rendered sorted
        std::optional<Series> other;      // the overflow series
        std::map<Labels, Mirror> mirrors; // set_counter's last values, bounded
        std::map<Labels, Volume> contenders;  // counter label sets in "other", bounded
        double folded = 0;
    };

    Family& family_of(const std::string& name, Kind kind);
    static void check_label_count(const Family& f, std::size_t count);
    TimePoint now() const;
    Labels clean(const Labels& label_values) const;
    bool is_other(const Family& f, const Labels& labels) const;
    void count_up(Family& f, const Labels& labels, double delta, TimePoint now);
    double decayed(const Volume& v, TimePoint now) const;
    void grow(Volume& v, double delta, TimePoint now) const;
    // A full family's slot for `labels` when its volume beats the weakest
    // series' (whose value moves to "other"); false to count it in "other".
    bool promote(Family& f, const Labels& labels, double delta, TimePoint now) const;
    void fold_into_other(Family& f, std::map<Labels, Series>::iterator it, TimePoint now) const;
    void expire(Family& f, TimePoint now) const;
    void expire_all(TimePoint now) const;

    MetricsOptions options_;
    mutable std::mutex mutex_;
    // Folding is a function of time; render() folds first so it shows the
    // state as of now, hence mutable.
    mutable std::vector<Family> families_;
    std::map<std::string, std::size_t> index_;
};

// The label value as the registry keeps it: bytes that are not valid UTF-8
// and control characters other than newline become U+FFFD.
std::string clean_label_value(const std::string& value);

// Number formatting of the exposition format: integral values without
// exponent or decimal point, others in the shortest form that reads back
// exactly, and +Inf, -Inf, NaN.
std::string format_metric_value(double value);

}  // namespace nfsleuth
