// SPDX-License-Identifier: GPL-2.0-only
#include "daemon/metrics.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <stdexcept>
#include <string_view>
#include <system_error>

#include "common/text.hpp"

namespace nfsleuth {

namespace {

constexpr const char* kReplacement = "\xEF\xBF\xBD";  // U+FFFD

bool is_name_start(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}

bool is_name_char(char c) {
    return is_name_start(c) || (c >= '0' && c <= '9');
}

// [a-zA-Z_][a-zA-Z0-9_]*. Metric names may also hold colons, but those are
// reserved for recording rules, so nfsleuth's own names never use them.
bool is_valid_name(std::string_view name) {
    if (name.empty() || !is_name_start(name.front())) return false;
    return std::all_of(name.begin(), name.end(), is_name_char);
}

bool ends_with(std::string_view s, std::string_view suffix) {
    return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

// Exposition escapes: label values escape backslash, double quote and
// newline; HELP text only backslash and newline.
std::string escape(std::string_view s, bool quote) {
    std::string out;
    out.reserve(s.size());
    for (char c : s) {
        if (c == '\\') out += "\\\\";
        else if (c == '\n') out += "\\n";
        else if (c == '"' && quote) out += "\\\"";
        else out += c;
    }
    return out;
}

// NaN sorts after every number so that the ordering stays strict and weak.
bool larger_first(const MetricsRegistry::Sample& a, const MetricsRegistry::Sample& b) {
    bool a_nan = std::isnan(a.second), b_nan = std::isnan(b.second);
    if (a_nan != b_nan) return b_nan;
    if (!a_nan && a.second != b.second) return a.second > b.second;
    return a.first < b.first;
}

void append_sample(std::string& out, const std::string& name, const std::vector<std::string>& label_names,
                   const MetricsRegistry::Labels& values, double value) {
    out += name;
    if (!label_names.empty()) {
        out += '{';
        for (std::size_t i = 0; i < label_names.size(); ++i) {
            if (i) out += ',';
            out += label_names[i];
            out += "=\"";
            out += escape(values[i], true);
            out += '"';
        }
        out += '}';
    }
    out += ' ';
    out += format_metric_value(value);
    out += '\n';
}

}  // namespace

std::string clean_label_value(const std::string& value) {
    std::string out;
    out.reserve(value.size());
    for (std::size_t i = 0; i < value.size();) {
        unsigned char c = static_cast<unsigned char>(value[i]);
        if ((c >= 0x20 && c < 0x7F) || c == '\n') {
            out += static_cast<char>(c);
            ++i;
            continue;
        }
        char32_t cp = 0;
        std::size_t n = c >= 0x80 ? utf8_sequence_length(value, i, cp) : 0;
        if (n && cp >= 0xA0) {  // C1 controls (U+0080..U+009F) are replaced too
            out.append(value, i, n);
            i += n;
        } else {
            out += kReplacement;
            i += n ? n : 1;
        }
    }
    return out;
}

std::string format_metric_value(double value) {
    if (std::isnan(value)) return "NaN";
    if (std::isinf(value)) return value > 0 ? "+Inf" : "-Inf";
    char buf[64];
    std::to_chars_result r;
    // Below 2^53 every integral double is exact as an integer.
    if (value == std::trunc(value) && std::fabs(value) < 9007199254740992.0)
        r = std::to_chars(buf, buf + sizeof buf, static_cast<int64_t>(value));
    else
        r = std::to_chars(buf, buf + sizeof buf, value);
    return r.ec == std::errc{} ? std::string(buf, r.ptr) : "NaN";
}

MetricsRegistry::MetricsRegistry(MetricsOptions options) : options_(std::move(options)) {
    if (options_.idle_expiry <= std::chrono::steady_clock::duration::zero())
        throw std::logic_error("metrics: idle_expiry must be positive");
    if (!options_.clock) options_.clock = [] { return std::chrono::steady_clock::now(); };
}

MetricsRegistry::TimePoint MetricsRegistry::now() const {
    return options_.clock();
}

void MetricsRegistry::define(const std::string& family, Kind kind, std::string help,
                             std::vector<std::string> label_names) {
    if (!is_valid_name(family)) throw std::logic_error("metrics: invalid family name \"" + family + "\"");
    if (kind == Kind::counter && !ends_with(family, "_total"))
        throw std::logic_error("metrics: counter family \"" + family + "\" must end in _total");
    for (std::size_t i = 0; i < label_names.size(); ++i) {
        const auto& l = label_names[i];
        // Names starting with __ are reserved for Prometheus itself.
        if (!is_valid_name(l) || l.rfind("__", 0) == 0)
            throw std::logic_error("metrics: invalid label name \"" + l + "\" in " + family);
        if (std::find(label_names.begin(), label_names.begin() + static_cast<std::ptrdiff_t>(i), l) !=
            label_names.begin() + static_cast<std::ptrdiff_t>(i))
            throw std::logic_error("metrics: duplicate label name \"" + l + "\" in " + family);
    }
    std::lock_guard lock(mutex_);
    if (family == folded_family || index_.count(family))
        throw std::logic_error("metrics: family \"" + family + "\" defined twice");
    Family f{family, kind, std::move(help), std::move(label_names), {}, {}, {}, {}, 0};
    // A family without labels has exactly one series, shown from the start.
    if (f.label_names.empty()) f.series.emplace(Labels{}, Series{0, now()});
    index_.emplace(family, families_.size());
    families_.push_back(std::move(f));
}

MetricsRegistry::Family& MetricsRegistry::family_of(const std::string& name, Kind kind) {
    auto it = index_.find(name);
    if (it == index_.end()) throw std::logic_error("metrics: family \"" + name + "\" is not defined");
    Family& f = families_[it->second];
    if (f.kind != kind)
        throw std::logic_error("metrics: family \"" + name + "\" is a " +
                               (f.kind == Kind::counter ? "counter" : "gauge"));
    return f;
}

void MetricsRegistry::check_label_count(const Family& f, std::size_t count) {
    if (count != f.label_names.size())
        throw std::logic_error("metrics: family \"" + f.name + "\" takes " + std::to_string(f.label_names.size()) +
                               " label values, got " + std::to_string(count));
}

MetricsRegistry::Labels MetricsRegistry::clean(const Labels& label_values) const {
    Labels out;
    out.reserve(label_values.size());
    for (const auto& v : label_values) out.push_back(clean_label_value(v));
    return out;
}

// A traced process may well be called "other": its label set is the overflow
// series', and goes there instead of becoming a second series of that name.
bool MetricsRegistry::is_other(const Family& f, const Labels& labels) const {
    return !f.label_names.empty() &&
           std::all_of(labels.begin(), labels.end(), [](const std::string& v) { return v == other_value; });
}

void MetricsRegistry::expire(Family& f, TimePoint now) const {
    if (f.label_names.empty()) return;
    for (auto it = f.series.begin(); it != f.series.end();) {
        if (now - it->second.changed < options_.idle_expiry) {
            ++it;
            continue;
        }
        auto next = std::next(it);
        fold_into_other(f, it, now);
        it = next;
    }
    // A gauge "other" nobody refreshed is stale; a counter's never expires.
    if (f.kind == Kind::gauge && f.other && now - f.other->changed >= options_.idle_expiry) f.other.reset();
}

void MetricsRegistry::fold_into_other(Family& f, std::map<Labels, Series>::iterator it, TimePoint now) const {
    if (f.kind == Kind::counter) {
        // The value moves, so "other" stays monotonic and the sum over the
        // family never decreases.
        if (!f.other) f.other = Series{0, now};
        f.other->value += it->second.value;
        f.other->changed = now;
    }
    f.folded += 1;
    f.series.erase(it);
}

double MetricsRegistry::decayed(const Volume& v, TimePoint now) const {
    const double half_lives = std::chrono::duration<double>(now - v.at) /
                              std::chrono::duration<double>(options_.volume_half_life);
    return half_lives > 0 ? v.recent * std::exp2(-half_lives) : v.recent;
}

void MetricsRegistry::grow(Volume& v, double delta, TimePoint now) const {
    v.recent = decayed(v, now) + delta;
    v.at = now;
}

bool MetricsRegistry::promote(Family& f, const Labels& labels, double delta, TimePoint now) const {
    // Twice the weakest, so that two label sets of like volume do not trade
    // the slot back and forth.
    constexpr double margin = 2;
    auto contender = f.contenders.find(labels);
    if (contender == f.contenders.end()) {
        if (f.contenders.size() >= std::max<std::size_t>(1000, 10 * options_.max_series)) {
            auto stalest = std::min_element(f.contenders.begin(), f.contenders.end(),
                                            [](const auto& a, const auto& b) { return a.second.at < b.second.at; });
            f.contenders.erase(stalest);
        }
        contender = f.contenders.emplace(labels, Volume{0, now}).first;
    }
    grow(contender->second, delta, now);
    auto weakest = f.series.end();
    double weakest_volume = 0;
    for (auto it = f.series.begin(); it != f.series.end(); ++it) {
        const double v = decayed(it->second.volume, now);
        if (weakest == f.series.end() || v < weakest_volume) {
            weakest = it;
            weakest_volume = v;
        }
    }
    if (weakest == f.series.end() || contender->second.recent <= margin * weakest_volume) return false;
    fold_into_other(f, weakest, now);
    // Its growth before this stays in "other": the new series starts here.
    f.series.emplace(labels, Series{delta, now, contender->second});
    f.contenders.erase(contender);
    return true;
}

void MetricsRegistry::expire_all(TimePoint now) const {
    for (auto& f : families_) expire(f, now);
}

void MetricsRegistry::count_up(Family& f, const Labels& labels, double delta, TimePoint now) {
    auto bump = [&](Series& s) {
        s.value += delta;
        if (delta > 0) s.changed = now;
        grow(s.volume, delta, now);
    };
    if (is_other(f, labels)) {
        if (!f.other) f.other = Series{0, now};
        bump(*f.other);
        return;
    }
    if (auto it = f.series.find(labels); it != f.series.end()) {
        bump(it->second);
        return;
    }
    if (f.series.size() >= options_.max_series) expire(f, now);
    if (f.series.size() < options_.max_series) {
        f.series.emplace(labels, Series{delta, now, Volume{delta, now}});
        return;
    }
    if (delta > 0 && !promote(f, labels, delta, now)) {
        if (!f.other) f.other = Series{0, now};
        bump(*f.other);
        f.folded += 1;
    }
}

void MetricsRegistry::add(const std::string& family, const Labels& label_values, double delta) {
    if (!std::isfinite(delta) || delta < 0)
        throw std::logic_error("metrics: counter " + family + " cannot grow by " + format_metric_value(delta));
    std::lock_guard lock(mutex_);
    Family& f = family_of(family, Kind::counter);
    check_label_count(f, label_values.size());
    count_up(f, clean(label_values), delta, now());
}

void MetricsRegistry::set_counter(const std::string& family, const Labels& label_values, double value) {
    if (!std::isfinite(value) || value < 0)
        throw std::logic_error("metrics: counter " + family + " cannot be " + format_metric_value(value));
    std::lock_guard lock(mutex_);
    Family& f = family_of(family, Kind::counter);
    check_label_count(f, label_values.size());
    Labels labels = clean(label_values);
    TimePoint t = now();
    double delta;
    if (auto m = f.mirrors.find(labels); m != f.mirrors.end()) {
        m->second.seen = t;
        if (value <= m->second.last) return;
        delta = value - m->second.last;
        m->second.last = value;
    } else {
        delta = value;
        // Known to the series but forgotten by the bounded memory below:
        // only growth beyond what the series already shows is new.
        if (auto s = f.series.find(labels); s != f.series.end()) delta = std::max(0.0, value - s->second.value);
        // Label sets of a kernel counter that vanished are seen no more;
        // the least recently seen is forgotten first.
        std::size_t cap = std::max<std::size_t>(1000, 10 * options_.max_series);
        if (f.mirrors.size() >= cap) {
            auto oldest = std::min_element(f.mirrors.begin(), f.mirrors.end(), [](const auto& a, const auto& b) {
                return a.second.seen < b.second.seen;
            });
            f.mirrors.erase(oldest);
        }
        f.mirrors.emplace(labels, Mirror{value, t});
    }
    count_up(f, labels, delta, t);
}

void MetricsRegistry::set(const std::string& family, const Labels& label_values, double value) {
    std::lock_guard lock(mutex_);
    Family& f = family_of(family, Kind::gauge);
    check_label_count(f, label_values.size());
    Labels labels = clean(label_values);
    TimePoint t = now();
    if (is_other(f, labels)) {
        f.other = Series{value, t};
        return;
    }
    if (auto it = f.series.find(labels); it != f.series.end()) {
        it->second = Series{value, t};
        return;
    }
    if (f.series.size() >= options_.max_series) expire(f, t);
    if (f.series.size() < options_.max_series)
        f.series.emplace(std::move(labels), Series{value, t});
    else
        f.folded += 1;
}

void MetricsRegistry::replace_gauges(const std::string& family, std::vector<Sample> samples) {
    std::lock_guard lock(mutex_);
    Family& f = family_of(family, Kind::gauge);
    // Checked before anything changes, so a bad sample leaves the family as it was.
    for (const auto& s : samples) check_label_count(f, s.first.size());
    TimePoint t = now();

    std::map<Labels, double> merged;
    std::optional<double> other;
    for (auto& [labels, value] : samples) {
        Labels cleaned = clean(labels);
        if (is_other(f, cleaned)) other = other.value_or(0) + value;
        else merged[std::move(cleaned)] += value;
    }
    std::vector<Sample> kept(std::make_move_iterator(merged.begin()), std::make_move_iterator(merged.end()));
    if (!f.label_names.empty() && kept.size() > options_.max_series) {
        auto keep = kept.begin() + static_cast<std::ptrdiff_t>(options_.max_series);
        std::partial_sort(kept.begin(), keep, kept.end(), larger_first);
        for (auto rest = keep; rest != kept.end(); ++rest) other = other.value_or(0) + rest->second;
        f.folded += static_cast<double>(kept.end() - keep);
        kept.erase(keep, kept.end());
    }

    f.series.clear();
    for (auto& [labels, value] : kept) f.series.emplace(std::move(labels), Series{value, t});
    if (f.label_names.empty() && f.series.empty()) f.series.emplace(Labels{}, Series{0, t});
    f.other.reset();
    if (other) f.other = Series{*other, t};
}

std::string MetricsRegistry::render() const {
    std::lock_guard lock(mutex_);
    expire_all(now());
    std::string out;
    auto header = [&](const std::string& name, Kind kind, const std::string& help) {
        out += "# HELP ";
        out += name;
        if (!help.empty()) {
            out += ' ';
            out += escape(clean_label_value(help), false);
        }
        out += "\n# TYPE ";
        out += name;
        out += kind == Kind::counter ? " counter\n" : " gauge\n";
    };
    for (const auto& f : families_) {
        header(f.name, f.kind, f.help);
        for (const auto& [labels, s] : f.series) append_sample(out, f.name, f.label_names, labels, s.value);
        if (f.other)
            append_sample(out, f.name, f.label_names, Labels(f.label_names.size(), other_value), f.other->value);
    }
    header(folded_family, Kind::counter,
           "Times a family's series limit took effect: idle series folded into its \"other\" series, "
           "updates and samples of label sets beyond the limit sent to \"other\" (or dropped, for gauges "
           "set one at a time).");
    static const std::vector<std::string> family_label{"family"};
    for (const auto& f : families_)
        if (!f.label_names.empty()) append_sample(out, folded_family, family_label, {f.name}, f.folded);
    return out;
}

}  // namespace nfsleuth
