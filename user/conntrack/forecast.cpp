// SPDX-License-Identifier: GPL-2.0-only
#include "conntrack/forecast.hpp"

namespace nfsleuth {

namespace {

// Samples kept per window at most, whatever the interval: a point is kept
// only once this fraction of the window has passed since the last one.
constexpr int kPointsPerWindow = 240;

}  // namespace

FillForecaster::FillForecaster(std::chrono::milliseconds window) : window_(window) {}

void FillForecaster::observe(const std::vector<FillSample>& samples, std::chrono::steady_clock::time_point now) {
    std::map<uint32_t, Series> next;
    for (const auto& s : samples) {
        if (!s.max) continue;
        auto it = series_.find(s.netns);
        Series series = it == series_.end() ? Series{} : std::move(it->second);
        if (series.max != s.max) series.points.clear();  // a new limit: the old trend says nothing of it
        series.count = s.count;
        series.max = s.max;
        if (series.points.empty() || now - series.points.back().at >= window_ / kPointsPerWindow)
            series.points.push_back({now, static_cast<double>(s.count)});
        else
            series.points.back().count = static_cast<double>(s.count);  // the newest count in the same slot
        while (!series.points.empty() && now - series.points.front().at > window_) series.points.pop_front();
        next[s.netns] = std::move(series);
    }
    series_ = std::move(next);
}

std::optional<FillForecast> FillForecaster::forecast(uint32_t netns) const {
    auto it = series_.find(netns);
    if (it == series_.end()) return std::nullopt;
    const Series& s = it->second;
    if (s.points.size() < 3 || s.points.back().at - s.points.front().at < window_ / 4) return std::nullopt;
    // Least squares over (seconds since the first point, count).
    const auto t0 = s.points.front().at;
    double n = 0, sum_t = 0, sum_c = 0;
    for (const auto& p : s.points) {
        n += 1;
        sum_t += std::chrono::duration<double>(p.at - t0).count();
        sum_c += p.count;
    }
    const double mean_t = sum_t / n, mean_c = sum_c / n;
    double cov = 0, var = 0;
    for (const auto& p : s.points) {
        const double dt = std::chrono::duration<double>(p.at - t0).count() - mean_t;
        cov += dt * (p.count - mean_c);
        var += dt * dt;
    }
    FillForecast f;
    f.growth_per_s = var > 0 ? cov / var : 0;
    if (s.count >= s.max)
        f.full_in_s = 0;
    else if (f.growth_per_s > 0)
        f.full_in_s = static_cast<double>(s.max - s.count) / f.growth_per_s;
    return f;
}

std::map<uint32_t, FillForecast> FillForecaster::forecasts() const {
    std::map<uint32_t, FillForecast> out;
    for (const auto& [netns, _] : series_)
        if (auto f = forecast(netns)) out.emplace(netns, *f);
    return out;
}

}  // namespace nfsleuth
