// SPDX-License-Identifier: GPL-2.0-only
// When will a table be full? The growth of each namespace's entry count,
// the least-squares slope of its samples over a sliding window, and the
// time left at that rate. From the fill samples watch takes anyway: no
// per-connection hook.
#pragma once
#include <chrono>
#include <cstdint>
#include <deque>
#include <map>
#include <optional>
#include <vector>

#include "conntrack/pressure.hpp"

namespace nfsleuth {

class FillForecaster {
public:
    // Samples older than `window` are forgotten; a forecast needs samples
    // spanning at least a quarter of it, so one burst between two samples
    // does not read as a trend.
    explicit FillForecaster(std::chrono::milliseconds window);
    // Namespaces absent from `samples` are forgotten.
    void observe(const std::vector<FillSample>& samples, std::chrono::steady_clock::time_point now);
    // nullopt until the namespace has enough samples.
    std::optional<FillForecast> forecast(uint32_t netns) const;
    // Every namespace's that has one.
    std::map<uint32_t, FillForecast> forecasts() const;
    std::chrono::milliseconds window() const { return window_; }

private:
    struct Point {
        std::chrono::steady_clock::time_point at;
        double count;
    };
    struct Series {
        std::deque<Point> points;
        uint64_t count = 0;
        uint64_t max = 0;
    };
    std::chrono::milliseconds window_;
    std::map<uint32_t, Series> series_;
};

}  // namespace nfsleuth
