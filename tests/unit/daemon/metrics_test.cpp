// SPDX-License-Identifier: GPL-2.0-only
#include "daemon/metrics.hpp"
#include "daemon/metrics_server.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <limits>
#include <memory>
#include <sstream>
#include <stdexcept>
#include <string>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>
#include <vector>

#include "common/error.hpp"
#include "raw_http_client.hpp"
#include "test_support.hpp"

using namespace nfsleuth;
using namespace std::chrono_literals;
using nfsleuth_test::failure_of;
using nfsleuth_test::send_request;
using nfsleuth_test::header_of;
using nfsleuth_test::http_get;
using Kind = MetricsRegistry::Kind;

namespace {

constexpr const char* kFffd = "\xEF\xBF\xBD";

// A clock the test moves by hand.
struct FakeClock {
    std::chrono::steady_clock::time_point now{std::chrono::hours(1000)};
    MetricsOptions options(std::size_t max_series, std::chrono::steady_clock::duration idle = 15min) {
        MetricsOptions o;
        o.max_series = max_series;
        o.idle_expiry = idle;
        o.clock = [this] { return now; };
        return o;
    }
};

// The lines of `text` that belong to `family`, samples only.
std::vector<std::string> samples_of(const std::string& text, const std::string& family) {
    std::vector<std::string> out;
    std::istringstream in(text);
    for (std::string line; std::getline(in, line);) {
        if (line.rfind(family, 0) != 0) continue;
        char next = line.size() > family.size() ? line[family.size()] : '\0';
        if (next == '{' || next == ' ') out.push_back(line);
    }
    return out;
}

using Lines = std::vector<std::string>;

std::string folded_line(const std::string& family, const std::string& value) {
    return std::string(MetricsRegistry::folded_family) + "{family=\"" + family + "\"} " + value;
}

// The sum over a counter family's samples.
double family_sum(const std::string& text, const std::string& family) {
    double sum = 0;
    for (const auto& line : samples_of(text, family)) sum += std::stod(line.substr(line.rfind(' ') + 1));
    return sum;
}

}  // namespace

// --- rendering ----------------------------------------------------------------

TEST(MetricsRender, ExactTextForCountersGaugesAndLabels) {
    MetricsRegistry r;
    r.define("nfsleuth_drops_total", Kind::counter, "Packets conntrack dropped.", {"cause", "netns"});
    r.define("nfsleuth_conntrack_entries", Kind::gauge, "Conntrack entries per network namespace.", {"netns"});
    r.define("nfsleuth_events_lost_total", Kind::counter, "Events lost.", {"source", "reason"});
    r.define("nfsleuth_up", Kind::gauge, "Whether tracing runs.", {});
    r.add("nfsleuth_drops_total", {"table_full", "4026531840"}, 3);
    r.add("nfsleuth_drops_total", {"early_drop", "4026531840"});
    r.set("nfsleuth_conntrack_entries", {"4026531840"}, 12);
    r.set("nfsleuth_up", {}, 1);

    EXPECT_EQ(r.render(),
              "# HELP nfsleuth_drops_total Packets conntrack dropped.\n"
              "# TYPE nfsleuth_drops_total counter\n"
              "nfsleuth_drops_total{cause=\"early_drop\",netns=\"4026531840\"} 1\n"
              "nfsleuth_drops_total{cause=\"table_full\",netns=\"4026531840\"} 3\n"
              "# HELP nfsleuth_conntrack_entries Conntrack entries per network namespace.\n"
              "# TYPE nfsleuth_conntrack_entries gauge\n"
              "nfsleuth_conntrack_entries{netns=\"4026531840\"} 12\n"
              "# HELP nfsleuth_events_lost_total Events lost.\n"
              "# TYPE nfsleuth_events_lost_total counter\n"
              "# HELP nfsleuth_up Whether tracing runs.\n"
              "# TYPE nfsleuth_up gauge\n"
              "nfsleuth_up 1\n"
              "# HELP nfsleuth_metrics_series_folded_total Times a family's series limit took effect: idle series "
              "folded into its \"other\" series, updates and samples of label sets beyond the limit sent to "
              "\"other\" (or dropped, for gauges set one at a time).\n"
              "# TYPE nfsleuth_metrics_series_folded_total counter\n"
              "nfsleuth_metrics_series_folded_total{family=\"nfsleuth_drops_total\"} 0\n"
              "nfsleuth_metrics_series_folded_total{family=\"nfsleuth_conntrack_entries\"} 0\n"
              "nfsleuth_metrics_series_folded_total{family=\"nfsleuth_events_lost_total\"} 0\n");
}

TEST(MetricsRender, LabelLessFamilyShowsZeroOnceDefined) {
    MetricsRegistry r;
    r.define("nfsleuth_sweeps_total", Kind::counter, "Map sweeps.", {});
    EXPECT_EQ(samples_of(r.render(), "nfsleuth_sweeps_total"), Lines{"nfsleuth_sweeps_total 0"});
    r.add("nfsleuth_sweeps_total", {});
    r.add("nfsleuth_sweeps_total", {}, 2);
    EXPECT_EQ(samples_of(r.render(), "nfsleuth_sweeps_total"), Lines{"nfsleuth_sweeps_total 3"});
    // No fold counter for a family that cannot fold.
    EXPECT_TRUE(samples_of(r.render(), MetricsRegistry::folded_family).empty());
}

TEST(MetricsRender, EmptyLabelledFamilyPrintsOnlyHelpAndType) {
    MetricsRegistry r;
    r.define("nfsleuth_drops_total", Kind::counter, "Drops.", {"cause"});
    std::string text = r.render();
    EXPECT_EQ(text.rfind("# HELP nfsleuth_drops_total Drops.\n# TYPE nfsleuth_drops_total counter\n# HELP ", 0), 0u)
        << text;
}

TEST(MetricsRender, HostileCommIsEscaped) {
    MetricsRegistry r;
    r.define("nfsleuth_drops_total", Kind::counter, "Drops.", {"comm"});
    r.add("nfsleuth_drops_total", {"evil\"\n{x=\"1\"}"});
    r.add("nfsleuth_drops_total", {"back\\slash"});
    EXPECT_EQ(samples_of(r.render(), "nfsleuth_drops_total"),
              (Lines{R"(nfsleuth_drops_total{comm="back\\slash"} 1)",
                     R"(nfsleuth_drops_total{comm="evil\"\n{x=\"1\"}"} 1)"}));
}

TEST(MetricsRender, HelpEscapesBackslashAndNewlineOnly) {
    MetricsRegistry r;
    r.define("nfsleuth_x", Kind::gauge, "a\\b\nc \"quoted\"", {});
    EXPECT_EQ(r.render().rfind("# HELP nfsleuth_x a\\\\b\\nc \"quoted\"\n# TYPE nfsleuth_x gauge\nnfsleuth_x 0\n", 0),
              0u);
}

TEST(MetricsRender, InvalidUtf8AndControlCharactersBecomeReplacementCharacters) {
    std::string f = kFffd;
    EXPECT_EQ(clean_label_value("a\xff" "b"), "a" + f + "b");
    EXPECT_EQ(clean_label_value("tab\there"), "tab" + f + "here");
    EXPECT_EQ(clean_label_value(std::string("nul\0x", 5)), "nul" + f + "x");
    EXPECT_EQ(clean_label_value("del\x7f"), "del" + f);
    EXPECT_EQ(clean_label_value("esc\x1b[31m"), "esc" + f + "[31m");
    EXPECT_EQ(clean_label_value("c1\xC2\x85"), "c1" + f);                  // U+0085, a C1 control
    EXPECT_EQ(clean_label_value("over\xC0\xAF"), "over" + f + f);          // overlong '/'
    EXPECT_EQ(clean_label_value("sur\xED\xA0\x80"), "sur" + f + f + f);    // a UTF-16 surrogate
    EXPECT_EQ(clean_label_value("cut\xE2\x82"), "cut" + f + f);            // truncated sequence
    EXPECT_EQ(clean_label_value("big\xF4\x90\x80\x80"), "big" + f + f + f + f);  // above U+10FFFF
    const std::string valid = "caf\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x90\xA7";  // é, €, a penguin
    EXPECT_EQ(clean_label_value(valid), valid);
    EXPECT_EQ(clean_label_value("line\nbreak"), "line\nbreak");  // escaped when rendered
}

TEST(MetricsRender, LabelValuesThatCleanAlikeShareOneSeries) {
    MetricsRegistry r;
    r.define("nfsleuth_drops_total", Kind::counter, "Drops.", {"comm"});
    r.add("nfsleuth_drops_total", {"a\xff"});
    r.add("nfsleuth_drops_total", {"a\xfe"});
    r.add("nfsleuth_drops_total", {"a\x01"});
    EXPECT_EQ(samples_of(r.render(), "nfsleuth_drops_total"),
              Lines{"nfsleuth_drops_total{comm=\"a" + std::string(kFffd) + "\"} 3"});
}

TEST(MetricsRender, RenderedTextHasNoRawControlCharacters) {
    MetricsRegistry r;
    r.define("nfsleuth_drops_total", Kind::counter, "Drops.", {"comm"});
    std::string hostile;
    for (int c = 0; c < 256; ++c) hostile += static_cast<char>(c);
    r.add("nfsleuth_drops_total", {hostile});
    std::string text = r.render();
    for (char c : text) {
        unsigned char u = static_cast<unsigned char>(c);
        EXPECT_TRUE(u == '\n' || (u >= 0x20 && u != 0x7F)) << "raw byte " << int(u);
    }
    // One line per sample: the newline inside the value is escaped.
    EXPECT_EQ(samples_of(text, "nfsleuth_drops_total").size(), 1u);
}

TEST(MetricsRender, ValueFormatting) {
    EXPECT_EQ(format_metric_value(0), "0");
    EXPECT_EQ(format_metric_value(-0.0), "0");
    EXPECT_EQ(format_metric_value(12), "12");
    EXPECT_EQ(format_metric_value(-3), "-3");
    EXPECT_EQ(format_metric_value(4026531840.0), "4026531840");
    EXPECT_EQ(format_metric_value(123456789012345.0), "123456789012345");
    EXPECT_EQ(format_metric_value(0.5), "0.5");
    EXPECT_EQ(format_metric_value(0.1), "0.1");
    EXPECT_EQ(format_metric_value(2.000001234), "2.000001234");
    EXPECT_EQ(format_metric_value(1e20), "1e+20");
    EXPECT_EQ(std::stod(format_metric_value(1.0 / 3)), 1.0 / 3);  // reads back exactly
    EXPECT_EQ(format_metric_value(std::numeric_limits<double>::infinity()), "+Inf");
    EXPECT_EQ(format_metric_value(-std::numeric_limits<double>::infinity()), "-Inf");
    EXPECT_EQ(format_metric_value(std::nan("")), "NaN");
}

TEST(MetricsRender, FamiliesRenderInDefinitionOrderAndFoldedLast) {
    MetricsRegistry r;
    r.define("nfsleuth_b", Kind::gauge, "B.", {});
    r.define("nfsleuth_a_total", Kind::counter, "A.", {});
    std::string text = r.render();
    auto b = text.find("# HELP nfsleuth_b ");
    auto a = text.find("# HELP nfsleuth_a_total ");
    auto folded = text.find(std::string("# HELP ") + MetricsRegistry::folded_family);
    EXPECT_LT(b, a);
    EXPECT_LT(a, folded);
    EXPECT_NE(folded, std::string::npos);
}

// --- counters -------------------------------------------------------------

TEST(MetricsCounter, CardinalityCapSendsNewLabelSetsToOther) {
    FakeClock clock;
    MetricsRegistry r(clock.options(2));
    r.define("nfsleuth_drops_total", Kind::counter, "Drops.", {"cause", "comm"});
    r.add("nfsleuth_drops_total", {"table_full", "curl"});
    r.add("nfsleuth_drops_total", {"table_full", "wget"}, 2);
    // Not twice the weakest series' volume: no slot for them.
    r.add("nfsleuth_drops_total", {"table_full", "evil1"}, 2);
    r.add("nfsleuth_drops_total", {"table_full", "evil2"});
    r.add("nfsleuth_drops_total", {"table_full", "curl"});  // keeps its series
    std::string text = r.render();
    EXPECT_EQ(samples_of(text, "nfsleuth_drops_total"),
              (Lines{"nfsleuth_drops_total{cause=\"table_full\",comm=\"curl\"} 2",
                     "nfsleuth_drops_total{cause=\"table_full\",comm=\"wget\"} 2",
                     "nfsleuth_drops_total{cause=\"other\",comm=\"other\"} 3"}));
    EXPECT_EQ(samples_of(text, MetricsRegistry::folded_family), Lines{folded_line("nfsleuth_drops_total", "2")});
}

TEST(MetricsCounter, LabelSetCalledOtherIsTheOverflowSeries) {
    FakeClock clock;
    MetricsRegistry r(clock.options(1));
    r.define("nfsleuth_drops_total", Kind::counter, "Drops.", {"comm"});
    r.add("nfsleuth_drops_total", {"other"}, 5);  // a process named "other" takes no slot
    r.add("nfsleuth_drops_total", {"curl"});
    r.add("nfsleuth_drops_total", {"wget"});
    EXPECT_EQ(samples_of(r.render(), "nfsleuth_drops_total"),
              (Lines{"nfsleuth_drops_total{comm=\"curl\"} 1", "nfsleuth_drops_total{comm=\"other\"} 6"}));
}

TEST(MetricsCounter, ZeroMaxSeriesPutsEverythingInOther) {
    FakeClock clock;
    MetricsRegistry r(clock.options(0));
    r.define("nfsleuth_drops_total", Kind::counter, "Drops.", {"comm"});
    r.add("nfsleuth_drops_total", {"curl"}, 2);
    r.add("nfsleuth_drops_total", {"wget"});
    EXPECT_EQ(samples_of(r.render(), "nfsleuth_drops_total"), Lines{"nfsleuth_drops_total{comm=\"other\"} 3"});
}

TEST(MetricsCounter, AddZeroShowsALabelSetWithoutCountingIt) {
    MetricsRegistry r;
    r.define("nfsleuth_drops_total", Kind::counter, "Drops.", {"cause"});
    r.add("nfsleuth_drops_total", {"table_full"}, 0);
    r.add("nfsleuth_drops_total", {"table_full"}, 0);
    EXPECT_EQ(samples_of(r.render(), "nfsleuth_drops_total"), Lines{"nfsleuth_drops_total{cause=\"table_full\"} 0"});
}

TEST(MetricsCounter, IdleSeriesFoldIntoOtherAndFreeTheirSlot) {
    FakeClock clock;
    MetricsRegistry r(clock.options(2));
    const std::string fam = "nfsleuth_drops_total";
    r.define(fam, Kind::counter, "Drops.", {"comm"});
    r.add(fam, {"a"}, 5);
    r.add(fam, {"b"}, 1);

    clock.now += 10min;
    r.add(fam, {"b"}, 1);  // b changed at minute 10
    std::string text = r.render();
    EXPECT_EQ(samples_of(text, fam), (Lines{fam + "{comm=\"a\"} 5", fam + "{comm=\"b\"} 2"}));
    double sum = family_sum(text, fam);

    clock.now += 6min;  // a idle for 16 minutes, b for 6
    text = r.render();
    EXPECT_EQ(samples_of(text, fam), (Lines{fam + "{comm=\"b\"} 2", fam + "{comm=\"other\"} 5"}));
    EXPECT_EQ(samples_of(text, MetricsRegistry::folded_family), Lines{folded_line(fam, "1")});
    EXPECT_GE(family_sum(text, fam), sum);
    sum = family_sum(text, fam);

    r.add(fam, {"c"}, 3);  // a's slot is free again
    r.add(fam, {"d"}, 1);  // the family is full: d goes to other
    text = r.render();
    EXPECT_EQ(samples_of(text, fam),
              (Lines{fam + "{comm=\"b\"} 2", fam + "{comm=\"c\"} 3", fam + "{comm=\"other\"} 6"}));
    EXPECT_EQ(samples_of(text, MetricsRegistry::folded_family), Lines{folded_line(fam, "2")});
    EXPECT_GE(family_sum(text, fam), sum);
    sum = family_sum(text, fam);

    clock.now += 15min;  // everything idle
    text = r.render();
    EXPECT_EQ(samples_of(text, fam), Lines{fam + "{comm=\"other\"} 11"});
    EXPECT_EQ(samples_of(text, MetricsRegistry::folded_family), Lines{folded_line(fam, "4")});
    EXPECT_EQ(family_sum(text, fam), sum);

    // The sum over the family never went down, and a folded label set that
    // comes back starts over in a new series.
    r.add(fam, {"a"}, 1);
    text = r.render();
    EXPECT_EQ(samples_of(text, fam), (Lines{fam + "{comm=\"a\"} 1", fam + "{comm=\"other\"} 11"}));
    EXPECT_EQ(family_sum(text, fam), sum + 1);
}

TEST(MetricsCounter, NewLabelSetOnAFullFamilyFoldsIdleSeriesFirst) {
    FakeClock clock;
    MetricsRegistry r(clock.options(1));
    const std::string fam = "nfsleuth_drops_total";
    r.define(fam, Kind::counter, "Drops.", {"comm"});
    r.add(fam, {"a"}, 2);
    clock.now += 15min;
    r.add(fam, {"b"});  // no render in between: the fold happens on arrival
    EXPECT_EQ(samples_of(r.render(), fam), (Lines{fam + "{comm=\"b\"} 1", fam + "{comm=\"other\"} 2"}));
}

TEST(MetricsCounter, ZeroDeltaDoesNotKeepASeriesAlive) {
    FakeClock clock;
    MetricsRegistry r(clock.options(5));
    const std::string fam = "nfsleuth_drops_total";
    r.define(fam, Kind::counter, "Drops.", {"comm"});
    r.add(fam, {"a"}, 2);
    clock.now += 10min;
    r.add(fam, {"a"}, 0);
    clock.now += 5min;
    EXPECT_EQ(samples_of(r.render(), fam), Lines{fam + "{comm=\"other\"} 2"});
}

TEST(MetricsCounter, LabelLessCountersNeverFold) {
    FakeClock clock;
    MetricsRegistry r(clock.options(1));
    r.define("nfsleuth_sweeps_total", Kind::counter, "Sweeps.", {});
    r.add("nfsleuth_sweeps_total", {}, 4);
    clock.now += 10h;
    EXPECT_EQ(samples_of(r.render(), "nfsleuth_sweeps_total"), Lines{"nfsleuth_sweeps_total 4"});
}

TEST(MetricsCounter, SetCounterOnlyRaises) {
    MetricsRegistry r;
    const std::string fam = "nfsleuth_bpf_run_time_seconds_total";
    r.define(fam, Kind::counter, "BPF run time.", {"program"});
    r.set_counter(fam, {"nfs_ct_drop"}, 5);
    r.set_counter(fam, {"nfs_ct_drop"}, 3);
    EXPECT_EQ(samples_of(r.render(), fam), Lines{fam + "{program=\"nfs_ct_drop\"} 5"});
    r.set_counter(fam, {"nfs_ct_drop"}, 8.25);
    EXPECT_EQ(samples_of(r.render(), fam), Lines{fam + "{program=\"nfs_ct_drop\"} 8.25"});
    r.set_counter(fam, {"idle_prog"}, 0);  // shown as 0 from the first sighting
    EXPECT_EQ(samples_of(r.render(), fam),
              (Lines{fam + "{program=\"idle_prog\"} 0", fam + "{program=\"nfs_ct_drop\"} 8.25"}));
}

TEST(MetricsCounter, SetCounterAfterAFoldAddsOnlyTheGrowth) {
    FakeClock clock;
    MetricsRegistry r(clock.options(1));
    const std::string fam = "nfsleuth_events_lost_total";
    r.define(fam, Kind::counter, "Lost events.", {"source", "reason"});
    r.set_counter(fam, {"ringbuf", "full"}, 10);
    clock.now += 20min;
    std::string text = r.render();
    EXPECT_EQ(samples_of(text, fam), Lines{fam + "{source=\"other\",reason=\"other\"} 10"});

    r.set_counter(fam, {"ringbuf", "full"}, 10);  // unchanged: stays folded
    EXPECT_EQ(samples_of(r.render(), fam), Lines{fam + "{source=\"other\",reason=\"other\"} 10"});

    r.set_counter(fam, {"ringbuf", "full"}, 12);
    text = r.render();
    EXPECT_EQ(samples_of(text, fam),
              (Lines{fam + "{source=\"ringbuf\",reason=\"full\"} 2", fam + "{source=\"other\",reason=\"other\"} 10"}));
    EXPECT_EQ(family_sum(text, fam), 12);  // the kernel's value, counted once
}

TEST(MetricsCounter, SetCounterBeyondTheCapSendsGrowthToOther) {
    FakeClock clock;
    MetricsRegistry r(clock.options(1));
    const std::string fam = "nfsleuth_events_lost_total";
    r.define(fam, Kind::counter, "Lost events.", {"source"});
    r.set_counter(fam, {"a"}, 4);
    r.set_counter(fam, {"b"}, 5);
    r.set_counter(fam, {"b"}, 7);
    r.set_counter(fam, {"b"}, 6);
    EXPECT_EQ(samples_of(r.render(), fam), (Lines{fam + "{source=\"a\"} 4", fam + "{source=\"other\"} 7"}));
}

// --- top N by volume ---------------------------------------------------------

TEST(MetricsTopN, AHeavyNewcomerTakesTheWeakestSlot) {
    FakeClock clock;
    MetricsRegistry r(clock.options(2));
    const std::string fam = "nfsleuth_container_drops_total";
    r.define(fam, Kind::counter, "Drops.", {"container"});
    r.add(fam, {"web"}, 10);
    r.add(fam, {"job"}, 1);
    clock.now += 1s;
    r.add(fam, {"noisy"}, 3);  // more than twice job's volume
    std::string text = r.render();
    EXPECT_EQ(samples_of(text, fam),
              (Lines{fam + "{container=\"noisy\"} 3", fam + "{container=\"web\"} 10", fam + "{container=\"other\"} 1"}));
    EXPECT_EQ(family_sum(text, fam), 14) << "nothing counted twice or lost";
    EXPECT_EQ(samples_of(text, MetricsRegistry::folded_family), Lines{folded_line(fam, "1")});
    r.add(fam, {"job"}, 1);  // job is the contender now, and a weak one
    EXPECT_EQ(samples_of(r.render(), fam),
              (Lines{fam + "{container=\"noisy\"} 3", fam + "{container=\"web\"} 10", fam + "{container=\"other\"} 2"}));
}

TEST(MetricsTopN, VolumeIsRecentGrowth) {
    FakeClock clock;
    MetricsRegistry r(clock.options(1, 100h));
    const std::string fam = "nfsleuth_container_drops_total";
    r.define(fam, Kind::counter, "Drops.", {"container"});
    r.add(fam, {"yesterday"}, 100);
    clock.now += 5min;  // one half-life: 50 against 4
    r.add(fam, {"today"}, 4);
    EXPECT_EQ(samples_of(r.render(), fam),
              (Lines{fam + "{container=\"yesterday\"} 100", fam + "{container=\"other\"} 4"}));
    clock.now += 25min;  // five more: 1.5625 against 4.125 (4 halved five times, and 4)
    r.add(fam, {"today"}, 4);
    const std::string text = r.render();
    EXPECT_EQ(samples_of(text, fam),
              (Lines{fam + "{container=\"today\"} 4", fam + "{container=\"other\"} 104"}));
    EXPECT_EQ(family_sum(text, fam), 108);
}

TEST(MetricsTopN, LabelSetsOfLikeVolumeDoNotTradeTheSlot) {
    FakeClock clock;
    MetricsRegistry r(clock.options(1));
    const std::string fam = "nfsleuth_container_drops_total";
    r.define(fam, Kind::counter, "Drops.", {"container"});
    for (int i = 0; i < 100; ++i) {
        r.add(fam, {"a"}, 1);
        r.add(fam, {"b"}, i % 2 ? 2 : 1);  // b a little busier than a, not twice
        clock.now += 1s;
    }
    const std::string text = r.render();
    EXPECT_EQ(samples_of(text, fam), (Lines{fam + "{container=\"a\"} 100", fam + "{container=\"other\"} 150"}));
    EXPECT_EQ(samples_of(text, MetricsRegistry::folded_family), Lines{folded_line(fam, "100")});
}

// --- gauges -----------------------------------------------------------------

TEST(MetricsGauge, SetOverwrites) {
    MetricsRegistry r;
    r.define("nfsleuth_conntrack_entries", Kind::gauge, "Entries.", {"netns"});
    r.set("nfsleuth_conntrack_entries", {"1"}, 12);
    r.set("nfsleuth_conntrack_entries", {"1"}, 7);
    r.set("nfsleuth_conntrack_entries", {"2"}, -1.5);
    EXPECT_EQ(samples_of(r.render(), "nfsleuth_conntrack_entries"),
              (Lines{"nfsleuth_conntrack_entries{netns=\"1\"} 7", "nfsleuth_conntrack_entries{netns=\"2\"} -1.5"}));
}

TEST(MetricsGauge, SetOnAFullFamilyDropsNewLabelSetsUntilOneExpires) {
    FakeClock clock;
    MetricsRegistry r(clock.options(1));
    const std::string fam = "nfsleuth_conntrack_entries";
    r.define(fam, Kind::gauge, "Entries.", {"netns"});
    r.set(fam, {"1"}, 12);
    r.set(fam, {"2"}, 5);
    std::string text = r.render();
    EXPECT_EQ(samples_of(text, fam), Lines{fam + "{netns=\"1\"} 12"});
    EXPECT_EQ(samples_of(text, MetricsRegistry::folded_family), Lines{folded_line(fam, "1")});
    clock.now += 15min;
    r.set(fam, {"2"}, 5);
    text = r.render();
    EXPECT_EQ(samples_of(text, fam), Lines{fam + "{netns=\"2\"} 5"});
    EXPECT_EQ(samples_of(text, MetricsRegistry::folded_family), Lines{folded_line(fam, "2")});
}

TEST(MetricsGauge, ReplaceKeepsTopNAndSumsTheRestIntoOther) {
    FakeClock clock;
    MetricsRegistry r(clock.options(2));
    const std::string fam = "nfsleuth_conntrack_entries";
    r.define(fam, Kind::gauge, "Entries.", {"netns"});
    r.replace_gauges(fam, {{{"n1"}, 5}, {{"n2"}, 50}, {{"n3"}, 7}, {{"n4"}, 1}});
    std::string text = r.render();
    EXPECT_EQ(samples_of(text, fam), (Lines{fam + "{netns=\"n2\"} 50", fam + "{netns=\"n3\"} 7",
                                            fam + "{netns=\"other\"} 6"}));
    EXPECT_EQ(samples_of(text, MetricsRegistry::folded_family), Lines{folded_line(fam, "2")});

    // Namespaces that vanished disappear, and so does "other".
    r.replace_gauges(fam, {{{"n1"}, 3}});
    EXPECT_EQ(samples_of(r.render(), fam), Lines{fam + "{netns=\"n1\"} 3"});
    r.replace_gauges(fam, {});
    EXPECT_TRUE(samples_of(r.render(), fam).empty());
}

TEST(MetricsGauge, ReplaceTiesAndDuplicatesAreDeterministic) {
    FakeClock clock;
    MetricsRegistry r(clock.options(2));
    const std::string fam = "nfsleuth_conntrack_entries";
    r.define(fam, Kind::gauge, "Entries.", {"netns"});
    // Equal values: the smaller label set wins; duplicates are summed.
    r.replace_gauges(fam, {{{"c"}, 1}, {{"b"}, 1}, {{"a"}, 1}, {{"a"}, 1}, {{"other"}, 10}});
    EXPECT_EQ(samples_of(r.render(), fam),
              (Lines{fam + "{netns=\"a\"} 2", fam + "{netns=\"b\"} 1", fam + "{netns=\"other\"} 11"}));
}

TEST(MetricsGauge, ReplaceOnALabelLessFamily) {
    MetricsRegistry r;
    r.define("nfsleuth_tracked_keys", Kind::gauge, "Keys.", {});
    r.replace_gauges("nfsleuth_tracked_keys", {{{}, 4}});
    EXPECT_EQ(samples_of(r.render(), "nfsleuth_tracked_keys"), Lines{"nfsleuth_tracked_keys 4"});
    r.replace_gauges("nfsleuth_tracked_keys", {});
    EXPECT_EQ(samples_of(r.render(), "nfsleuth_tracked_keys"), Lines{"nfsleuth_tracked_keys 0"});
}

TEST(MetricsGauge, SpecialValues) {
    MetricsRegistry r;
    r.define("nfsleuth_x", Kind::gauge, "X.", {"k"});
    r.set("nfsleuth_x", {"inf"}, std::numeric_limits<double>::infinity());
    r.set("nfsleuth_x", {"nan"}, std::nan(""));
    r.set("nfsleuth_x", {"ninf"}, -std::numeric_limits<double>::infinity());
    EXPECT_EQ(samples_of(r.render(), "nfsleuth_x"),
              (Lines{"nfsleuth_x{k=\"inf\"} +Inf", "nfsleuth_x{k=\"nan\"} NaN", "nfsleuth_x{k=\"ninf\"} -Inf"}));
}

// --- misuse -------------------------------------------------------------------

TEST(MetricsLogic, DefineRejectsBadNames) {
    MetricsRegistry r;
    EXPECT_THROW(r.define("nfsleuth_drops", Kind::counter, "", {}), std::logic_error);  // no _total
    EXPECT_THROW(r.define("9lives_total", Kind::counter, "", {}), std::logic_error);
    EXPECT_THROW(r.define("nfs-leuth", Kind::gauge, "", {}), std::logic_error);
    EXPECT_THROW(r.define("nfsleuth:x", Kind::gauge, "", {}), std::logic_error);
    EXPECT_THROW(r.define("", Kind::gauge, "", {}), std::logic_error);
    EXPECT_THROW(r.define("nfsleuth_x", Kind::gauge, "", {"bad-label"}), std::logic_error);
    EXPECT_THROW(r.define("nfsleuth_x", Kind::gauge, "", {"1abc"}), std::logic_error);
    EXPECT_THROW(r.define("nfsleuth_x", Kind::gauge, "", {""}), std::logic_error);
    EXPECT_THROW(r.define("nfsleuth_x", Kind::gauge, "", {"__reserved"}), std::logic_error);
    EXPECT_THROW(r.define("nfsleuth_x", Kind::gauge, "", {"a", "a"}), std::logic_error);
    EXPECT_THROW(r.define(MetricsRegistry::folded_family, Kind::counter, "", {"family"}), std::logic_error);
    r.define("nfsleuth_x", Kind::gauge, "X.", {"_ok", "Ok2"});
    EXPECT_THROW(r.define("nfsleuth_x", Kind::gauge, "X.", {}), std::logic_error);
}

TEST(MetricsLogic, UpdatesRejectMisuse) {
    MetricsRegistry r;
    r.define("nfsleuth_drops_total", Kind::counter, "Drops.", {"cause", "netns"});
    r.define("nfsleuth_entries", Kind::gauge, "Entries.", {"netns"});
    EXPECT_THROW(r.add("nfsleuth_nope_total", {}), std::logic_error);
    EXPECT_THROW(r.add("nfsleuth_drops_total", {"table_full"}), std::logic_error);
    EXPECT_THROW(r.add("nfsleuth_drops_total", {"table_full", "1", "x"}), std::logic_error);
    EXPECT_THROW(r.add("nfsleuth_drops_total", {"table_full", "1"}, -1), std::logic_error);
    EXPECT_THROW(r.add("nfsleuth_drops_total", {"table_full", "1"}, std::nan("")), std::logic_error);
    EXPECT_THROW(r.add("nfsleuth_drops_total", {"table_full", "1"}, std::numeric_limits<double>::infinity()),
                 std::logic_error);
    EXPECT_THROW(r.set_counter("nfsleuth_drops_total", {"table_full", "1"}, -1), std::logic_error);
    EXPECT_THROW(r.set("nfsleuth_drops_total", {"table_full", "1"}, 1), std::logic_error);
    EXPECT_THROW(r.add("nfsleuth_entries", {"1"}), std::logic_error);
    EXPECT_THROW(r.set_counter("nfsleuth_entries", {"1"}, 1), std::logic_error);
    EXPECT_THROW(r.set("nfsleuth_entries", {}, 1), std::logic_error);
    EXPECT_THROW(r.replace_gauges("nfsleuth_drops_total", {}), std::logic_error);

    r.replace_gauges("nfsleuth_entries", {{{"1"}, 3}});
    EXPECT_THROW(r.replace_gauges("nfsleuth_entries", {{{"2"}, 1}, {{"2", "x"}, 1}}), std::logic_error);
    // A rejected replacement leaves the family as it was.
    EXPECT_EQ(samples_of(r.render(), "nfsleuth_entries"), Lines{"nfsleuth_entries{netns=\"1\"} 3"});
    // Nothing was counted by the rejected calls.
    EXPECT_TRUE(samples_of(r.render(), "nfsleuth_drops_total").empty());
}

TEST(MetricsLogic, IdleExpiryMustBePositive) {
    MetricsOptions o;
    o.idle_expiry = std::chrono::seconds(0);
    EXPECT_THROW(MetricsRegistry r(o), std::logic_error);
}

TEST(MetricsConcurrency, UpdatesWhileRendering) {
    MetricsRegistry r;
    r.define("nfsleuth_drops_total", Kind::counter, "Drops.", {"comm"});
    std::thread writer([&] {
        for (int i = 0; i < 20000; ++i) r.add("nfsleuth_drops_total", {"c" + std::to_string(i % 300)});
    });
    double last = 0;
    for (int i = 0; i < 200; ++i) {
        double sum = family_sum(r.render(), "nfsleuth_drops_total");
        EXPECT_GE(sum, last);
        last = sum;
    }
    writer.join();
    EXPECT_EQ(family_sum(r.render(), "nfsleuth_drops_total"), 20000);
}

// --- listen addresses -----------------------------------------------------

TEST(MetricsListen, ParsesTheThreeForms) {
    auto a = parse_listen_address("127.0.0.1:9100");
    EXPECT_EQ(a.host, "127.0.0.1");
    EXPECT_EQ(a.port, 9100);
    a = parse_listen_address("[::1]:9100");
    EXPECT_EQ(a.host, "::1");
    EXPECT_EQ(a.port, 9100);
    a = parse_listen_address(":9100");
    EXPECT_EQ(a.host, "0.0.0.0");
    EXPECT_EQ(a.port, 9100);
    a = parse_listen_address("localhost:0");
    EXPECT_EQ(a.host, "localhost");
    EXPECT_EQ(a.port, 0);
    a = parse_listen_address("[fe80::1%eth0]:65535");
    EXPECT_EQ(a.host, "fe80::1%eth0");
    EXPECT_EQ(a.port, 65535);
    a = parse_listen_address("[::]:80");
    EXPECT_EQ(a.host, "::");
    EXPECT_EQ(format_listen_address(a), "[::]:80");
    EXPECT_EQ(format_listen_address({"127.0.0.1", 9100}), "127.0.0.1:9100");
}

TEST(MetricsListen, RejectsBadAddressesAsUsageErrors) {
    for (const char* bad : {"", "9100", "127.0.0.1", "127.0.0.1:", ":", "::1:9100", "[::1]9100", "[::1]", "[::1:9100",
                            "[]:80", "[127.0.0.1]:80", "host:65536", "host:-1", "host:+80", "host:80x", "host: 80",
                            "ho st:80", "host:99999999999999999999", "host:0x50", "h\nost:80", "256.1.1.1:80", "1.2.3:80",
                            "127.0.0.1.:80", "[1::2::3]:80", "[:::]:80", "[fe80::zz%eth0]:80"}) {
        SCOPED_TRACE(std::string("address \"") + bad + "\"");
        Failure f = failure_of([&] { parse_listen_address(bad); });
        EXPECT_EQ(f.code(), ExitCode::usage) << bad;
        EXPECT_NE(std::string(f.what()).find("invalid listen address"), std::string::npos) << f.what();
        EXPECT_EQ(std::string(f.what()).find('\n'), std::string::npos) << "raw newline in: " << f.what();
    }
}

// --- the HTTP endpoint ----------------------------------------------------

TEST(MetricsServer, ServesMetricsAndNotFound) {
    MetricsRegistry r;
    r.define("nfsleuth_drops_total", Kind::counter, "Drops.", {"comm"});
    r.add("nfsleuth_drops_total", {"evil\"\n{x=\"1\"}"}, 2);
    MetricsServer server("127.0.0.1:0", r);
    ASSERT_GT(server.port(), 0);
    EXPECT_EQ(server.address(), "127.0.0.1:" + std::to_string(server.port()));
    server.start();

    auto res = http_get(server.port(), "/metrics");
    EXPECT_EQ(res.status, 200);
    EXPECT_EQ(header_of(res, "Content-Type"), "text/plain; version=0.0.4; charset=utf-8");
    EXPECT_EQ(res.body, r.render());
    EXPECT_NE(res.body.find(R"(nfsleuth_drops_total{comm="evil\"\n{x=\"1\"}"} 2)"), std::string::npos);

    // Served live: an update shows in the next scrape.
    r.add("nfsleuth_drops_total", {"curl"});
    res = http_get(server.port(), "/metrics?x=1");
    EXPECT_EQ(res.status, 200);
    EXPECT_NE(res.body.find("nfsleuth_drops_total{comm=\"curl\"} 1"), std::string::npos);

    res = http_get(server.port(), "/");
    EXPECT_EQ(res.status, 200);
    EXPECT_NE(res.body.find("/metrics"), std::string::npos);

    EXPECT_EQ(http_get(server.port(), "/metrics/extra").status, 404);
    EXPECT_EQ(http_get(server.port(), "/nope").status, 404);
    res = send_request(server.port(), "POST /metrics HTTP/1.1\r\nHost: t\r\nContent-Length: 1\r\n\r\nx");
    EXPECT_EQ(res.status, 405);
    EXPECT_EQ(header_of(res, "Allow"), "GET, HEAD");
}

TEST(MetricsServer, SecondServerOnTheSamePortFails) {
    MetricsRegistry r;
    MetricsServer first("127.0.0.1:0", r);
    first.start();
    std::string where = "127.0.0.1:" + std::to_string(first.port());
    Failure f = failure_of([&] { MetricsServer second(where, r); });
    EXPECT_EQ(f.code(), ExitCode::failure);
    EXPECT_EQ(std::string(f.what()), "cannot listen on " + where + ": Address already in use");
    EXPECT_FALSE(f.remedy().empty());
    // The first one still serves.
    EXPECT_EQ(http_get(first.port(), "/metrics").status, 200);
}

TEST(MetricsServer, PortIsFreeAgainOnceDestroyed) {
    MetricsRegistry r;
    int port;
    {
        MetricsServer s("127.0.0.1:0", r);
        s.start();
        port = s.port();
        ASSERT_EQ(http_get(port, "/metrics").status, 200);
    }
    MetricsServer again("127.0.0.1:" + std::to_string(port), r);
    EXPECT_EQ(again.port(), port);
}

TEST(MetricsServer, DestroyedRightAwayDoesNotHang) {
    MetricsRegistry r;
    auto start = std::chrono::steady_clock::now();
    for (int i = 0; i < 50; ++i) MetricsServer("127.0.0.1:0", r).start();
    for (int i = 0; i < 5; ++i) MetricsServer s("127.0.0.1:0", r);  // bound, never started
    EXPECT_LT(std::chrono::steady_clock::now() - start, 10s);
}

TEST(MetricsServer, AddressNotOfThisHostFails) {
    MetricsRegistry r;
    Failure f = failure_of([&] { MetricsServer s("192.0.2.1:0", r); });  // TEST-NET-1, never local
    EXPECT_EQ(f.code(), ExitCode::failure);
    EXPECT_EQ(std::string(f.what()).rfind("cannot listen on 192.0.2.1:0: ", 0), 0u) << f.what();
}

TEST(MetricsServer, Ipv6Loopback) {
    MetricsRegistry r;
    std::unique_ptr<MetricsServer> s;
    try {
        s = std::make_unique<MetricsServer>("[::1]:0", r);
    } catch (const Failure& f) {
        GTEST_SKIP() << "no IPv6 loopback here: " << f.what();
    }
    s->start();
    EXPECT_EQ(http_get(s->port(), "/metrics", true).status, 200);
}

TEST(MetricsServer, BadAddressIsAUsageError) {
    MetricsRegistry r;
    EXPECT_EQ(failure_of([&] { MetricsServer s("::1:9100", r); }).code(), ExitCode::usage);
}

// --- promtool ---------------------------------------------------------------

TEST(MetricsPromtool, RenderedTextPassesPromtoolCheckMetrics) {
    const char* promtool = "/usr/bin/promtool";
    if (access(promtool, X_OK) != 0) GTEST_SKIP() << promtool << " is not installed";

    FakeClock clock;
    MetricsRegistry r(clock.options(2));
    r.define("nfsleuth_drops_total", Kind::counter, "Packets conntrack dropped, by cause and network namespace.",
             {"cause", "netns"});
    r.define("nfsleuth_conntrack_entries", Kind::gauge, "Conntrack entries per network namespace.", {"netns"});
    r.define("nfsleuth_events_lost_total", Kind::counter, "Events the kernel could not deliver.", {"source", "reason"});
    r.define("nfsleuth_bpf_run_time_seconds_total", Kind::counter, "Time the BPF programs ran.", {"program"});
    r.define("nfsleuth_module_loads_total", Kind::counter, "Module autoload requests, by module and process.",
             {"module", "comm"});
    r.define("nfsleuth_tracing", Kind::gauge, "1 while tracing runs.", {});
    r.define("nfsleuth_drop_rate_limit", Kind::gauge, "Special values.", {"kind"});
    r.add("nfsleuth_drops_total", {"table_full", "4026531840"}, 12);
    r.add("nfsleuth_drops_total", {"early_drop", "4026532001"});
    r.add("nfsleuth_drops_total", {"invalid", "4026532002"}, 3);  // beyond the cap: other
    r.replace_gauges("nfsleuth_conntrack_entries", {{{"4026531840"}, 100}, {{"4026532001"}, 5}, {{"4026532002"}, 7}});
    r.set_counter("nfsleuth_events_lost_total", {"ringbuf", "full"}, 4);
    r.set_counter("nfsleuth_bpf_run_time_seconds_total", {"nfs_ct_drop"}, 0.001234);
    r.add("nfsleuth_module_loads_total", {"nf_conntrack", "evil\"\n{x=\"1\"}"});
    r.add("nfsleuth_module_loads_total", {"bad\xff\x01utf8", "tab\there\\"});
    r.set("nfsleuth_tracing", {}, 1);
    r.set("nfsleuth_drop_rate_limit", {"inf"}, std::numeric_limits<double>::infinity());
    r.set("nfsleuth_drop_rate_limit", {"nan"}, std::nan(""));
    r.set("nfsleuth_drop_rate_limit", {"big"}, 1e300);
    r.set("nfsleuth_drop_rate_limit", {"small"}, -2.5e-9);  // beyond the cap: dropped

    std::string dir = ::testing::TempDir();
    std::string in = dir + "/nfsleuth-metrics.prom", out = dir + "/nfsleuth-promtool.out";
    {
        std::ofstream f(in, std::ios::binary);
        f << r.render();
    }
    std::string cmd = std::string(promtool) + " check metrics < '" + in + "' > '" + out + "' 2>&1";
    int status = std::system(cmd.c_str());
    std::ifstream result(out);
    std::string report((std::istreambuf_iterator<char>(result)), std::istreambuf_iterator<char>());
    ASSERT_TRUE(WIFEXITED(status)) << cmd;
    EXPECT_EQ(WEXITSTATUS(status), 0) << "promtool says:\n" << report << "\non:\n" << r.render();
    EXPECT_EQ(report, "") << r.render();
    std::remove(in.c_str());
    std::remove(out.c_str());
}
