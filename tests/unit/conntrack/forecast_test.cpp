// SPDX-License-Identifier: GPL-2.0-only
#include "conntrack/forecast.hpp"

#include <gtest/gtest.h>

namespace nfsleuth {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

std::vector<FillSample> at(uint64_t count, uint64_t max = 10000) {
    return {{1, "a", count, max}};
}

TEST(FillForecaster, SteadyGrowthGivesItsRateAndTheTimeLeft) {
    FillForecaster f(60s);
    const auto t0 = Clock::now();
    // 25 entries a second, sampled every second for a minute.
    for (int s = 0; s <= 60; ++s) f.observe(at(1000 + 25 * s), t0 + std::chrono::seconds(s));
    const auto fc = f.forecast(1);
    ASSERT_TRUE(fc);
    EXPECT_NEAR(fc->growth_per_s, 25.0, 1e-9);
    ASSERT_TRUE(fc->full_in_s);
    // 2500 now: 7500 left at 25/s.
    EXPECT_NEAR(*fc->full_in_s, 300.0, 1e-6);
}

TEST(FillForecaster, NoiseAroundATrendIsSmoothed) {
    FillForecaster f(60s);
    const auto t0 = Clock::now();
    // +10/s with +-40 of alternating noise.
    for (int s = 0; s <= 60; ++s)
        f.observe(at(static_cast<uint64_t>(2000 + 10 * s + (s % 2 ? 40 : -40))), t0 + std::chrono::seconds(s));
    const auto fc = f.forecast(1);
    ASSERT_TRUE(fc);
    EXPECT_NEAR(fc->growth_per_s, 10.0, 0.2);
}

TEST(FillForecaster, NotGrowingHasNoTimeUntilFull) {
    FillForecaster f(10s);
    const auto t0 = Clock::now();
    for (int s = 0; s <= 10; ++s) f.observe(at(5000 - 10 * s), t0 + std::chrono::seconds(s));
    auto fc = f.forecast(1);
    ASSERT_TRUE(fc);
    EXPECT_NEAR(fc->growth_per_s, -10.0, 1e-9);
    EXPECT_FALSE(fc->full_in_s);
    FillForecaster flat(10s);
    for (int s = 0; s <= 10; ++s) flat.observe(at(5000), t0 + std::chrono::seconds(s));
    fc = flat.forecast(1);
    ASSERT_TRUE(fc);
    EXPECT_EQ(fc->growth_per_s, 0.0);
    EXPECT_FALSE(fc->full_in_s);
}

TEST(FillForecaster, AFullTableIsFullNow) {
    FillForecaster f(10s);
    const auto t0 = Clock::now();
    for (int s = 0; s <= 10; ++s) f.observe(at(10000), t0 + std::chrono::seconds(s));
    ASSERT_TRUE(f.forecast(1));
    EXPECT_EQ(f.forecast(1)->full_in_s, 0.0);
}

TEST(FillForecaster, NeedsSamplesOverAQuarterOfTheWindow) {
    FillForecaster f(60s);
    const auto t0 = Clock::now();
    f.observe(at(100), t0);
    f.observe(at(200), t0 + 5s);
    f.observe(at(300), t0 + 10s);
    EXPECT_FALSE(f.forecast(1)) << "10 s of a 60 s window";
    f.observe(at(400), t0 + 15s);
    ASSERT_TRUE(f.forecast(1));
    EXPECT_NEAR(f.forecast(1)->growth_per_s, 20.0, 1e-9);
    EXPECT_FALSE(f.forecast(2)) << "never sampled";
}

TEST(FillForecaster, OldSamplesLeaveTheWindow) {
    FillForecaster f(20s);
    const auto t0 = Clock::now();
    // Fast growth first, then flat for longer than the window: flat.
    for (int s = 0; s <= 20; ++s) f.observe(at(100 * s), t0 + std::chrono::seconds(s));
    for (int s = 21; s <= 45; ++s) f.observe(at(2000), t0 + std::chrono::seconds(s));
    ASSERT_TRUE(f.forecast(1));
    EXPECT_EQ(f.forecast(1)->growth_per_s, 0.0);
}

TEST(FillForecaster, ANewLimitStartsOver) {
    FillForecaster f(10s);
    const auto t0 = Clock::now();
    for (int s = 0; s <= 10; ++s) f.observe(at(100 * s), t0 + std::chrono::seconds(s));
    ASSERT_TRUE(f.forecast(1));
    f.observe(at(1100, 20000), t0 + 11s);
    EXPECT_FALSE(f.forecast(1));
}

TEST(FillForecaster, VanishedNamespacesAreForgottenAndSamplesBounded) {
    FillForecaster f(10s);
    const auto t0 = Clock::now();
    // Every millisecond for 10 s: 10000 samples, kept as at most a few hundred points.
    for (int ms = 0; ms <= 10000; ++ms) f.observe(at(static_cast<uint64_t>(ms)), t0 + std::chrono::milliseconds(ms));
    ASSERT_TRUE(f.forecast(1));
    EXPECT_NEAR(f.forecast(1)->growth_per_s, 1000.0, 1.0);
    f.observe({}, t0 + 11s);
    EXPECT_FALSE(f.forecast(1));
    EXPECT_TRUE(f.forecasts().empty());
}

// --- the filling state ------------------------------------------------------------

TEST(PressureMonitorForecast, FillingBeforeTheThresholdThenHighThenCleared) {
    PressureMonitor m({90, 600s, 60s, 5});
    const auto t0 = Clock::now();
    auto soon = std::map<uint32_t, FillForecast>{{1, {10.0, 500.0}}};
    auto later = std::map<uint32_t, FillForecast>{{1, {1.0, 5000.0}}};
    auto halting = std::map<uint32_t, FillForecast>{{1, {0.0, std::nullopt}}};
    EXPECT_TRUE(m.observe(at(5000), t0, later).empty());
    auto c = m.observe(at(5000), t0 + 1s, soon);
    ASSERT_EQ(c.size(), 1u);
    EXPECT_EQ(c[0].state, PressureChange::State::filling);
    ASSERT_TRUE(c[0].forecast);
    EXPECT_EQ(c[0].forecast->full_in_s, 500.0);
    EXPECT_TRUE(m.observe(at(5100), t0 + 2s, soon).empty()) << "edge-triggered";
    EXPECT_EQ(m.observe(at(5200), t0 + 62s, soon).size(), 1u) << "repeated after a minute";
    // Between once and twice --full-within: still filling, nothing new.
    EXPECT_TRUE(m.observe(at(5200), t0 + 63s, {{1, {1.0, 1000.0}}}).empty());
    c = m.observe(at(9000), t0 + 64s, soon);
    ASSERT_EQ(c.size(), 1u);
    EXPECT_EQ(c[0].state, PressureChange::State::high);
    // Below the hysteresis band while still filling fast: back to filling.
    c = m.observe(at(8000), t0 + 65s, soon);
    ASSERT_EQ(c.size(), 1u);
    EXPECT_EQ(c[0].state, PressureChange::State::filling);
    c = m.observe(at(8000), t0 + 66s, halting);
    ASSERT_EQ(c.size(), 1u);
    EXPECT_EQ(c[0].state, PressureChange::State::cleared);
    EXPECT_TRUE(m.observe(at(8000), t0 + 67s, halting).empty());
}

TEST(PressureMonitorForecast, FullWithinZeroNeverSaysFilling) {
    PressureMonitor m(90);
    const auto t0 = Clock::now();
    EXPECT_TRUE(m.observe(at(5000), t0, {{1, {10.0, 1.0}}}).empty());
    EXPECT_EQ(m.observe(at(9500), t0 + 1s, {{1, {10.0, 1.0}}})[0].state, PressureChange::State::high);
}

TEST(PressureOutput, ForecastInJsonAndLine) {
    PressureChange c{{7, "ns-a", 5000, 10000}, PressureChange::State::filling, FillForecast{12.3456, 405.04}};
    const auto j = to_json(c, CreatorStats::Top{}, 90, "T", "kprobe");
    EXPECT_EQ(j["state"], "filling");
    EXPECT_DOUBLE_EQ(j["growth_per_s"].get<double>(), 12.346);
    EXPECT_DOUBLE_EQ(j["full_in_s"].get<double>(), 405.0);
    EXPECT_EQ(to_human_line(c, CreatorStats::Top{}, 90, "T"),
              "T pressure FILLING ns-a netns=7 conntrack 5000/10000 (50.0%, threshold 90.0%) full in 6m45s at "
              "+12.3/s creators not counted yet");
    c.forecast->full_in_s.reset();
    EXPECT_TRUE(to_json(c, CreatorStats::Top{}, 90, "T", "kprobe")["full_in_s"].is_null());
    c.forecast.reset();
    EXPECT_TRUE(to_json(c, CreatorStats::Top{}, 90, "T", "kprobe")["growth_per_s"].is_null());
}

TEST(DurationText, Units) {
    EXPECT_EQ(duration_text(0), "0s");
    EXPECT_EQ(duration_text(59.4), "59s");
    EXPECT_EQ(duration_text(500), "8m20s");
    EXPECT_EQ(duration_text(7380), "2h03m");
    EXPECT_EQ(duration_text(3 * 86400 + 4 * 3600), "3d04h");
    EXPECT_EQ(duration_text(-5), "0s");
    EXPECT_EQ(duration_text(1e300), duration_text(1e12));
    EXPECT_EQ(rate_text(12.345), "+12.3/s");
    EXPECT_EQ(rate_text(-0.5), "-0.5/s");
}

}  // namespace
}  // namespace nfsleuth
