// SPDX-License-Identifier: GPL-2.0-only
#include "drops/drop_aggregator.hpp"

#include <gtest/gtest.h>

#include <cstring>
#include <optional>
#include <string>
#include <vector>

using namespace nfsleuth;

namespace {

constexpr uint32_t kNetns = 4026531840u;

// A table_full drop of curl's TCP connection to 10.0.0.2; `dport` tells keys apart.
nfs_drop_key key_to_port(uint16_t dport, uint8_t cause = NFS_CAUSE_TABLE_FULL) {
    nfs_drop_key k;
    std::memset(&k, 0, sizeof k);
    k.netns_ino = kNetns;
    k.cause = cause;
    k.hook = 3;  // output
    k.flow.family = NFS_AF_INET_ABI;
    k.flow.proto = 6;
    const uint8_t src[4] = {10, 0, 0, 1};
    const uint8_t dst[4] = {10, 0, 0, 2};
    std::memcpy(k.flow.saddr, src, sizeof src);
    std::memcpy(k.flow.daddr, dst, sizeof dst);
    k.flow.sport = 5000;
    k.flow.dport = dport;
    return k;
}

nfs_drop_origin curl_origin() {
    nfs_drop_origin o;
    std::memset(&o, 0, sizeof o);
    o.flags = NFS_ORIGIN_LOCAL | NFS_ORIGIN_PROCESS;
    o.pid = 1234;
    o.tid = 1234;
    o.uid = 1000;
    o.out_ifindex = 2;
    std::memcpy(o.comm, "curl", 5);
    std::memcpy(o.out_if, "eth0", 5);
    return o;
}

FirstDrop first_drop(const nfs_drop_key& k, uint64_t ts) {
    FirstDrop d;
    d.ts_boot_ns = ts;
    d.raw_key = k;
    d.origin = decode_origin(curl_origin());
    return d;
}

DropAggregator::MapEntry entry(const nfs_drop_key& k, uint64_t count) {
    DropAggregator::MapEntry e;
    std::memset(&e, 0, sizeof e);
    e.key = k;
    e.value.count = count;
    e.value.first_ns = 1000;
    e.value.origin = curl_origin();
    return e;
}

// Feeds an aggregator and keeps every record it returns, so each test can
// check that reported() is exactly what the records add up to.
class Recorder {
public:
    std::optional<DropRecord> first(const nfs_drop_key& k, uint64_t ts = 1000) {
        auto r = aggregator.on_first_drop(first_drop(k, ts));
        if (r) sum += r->count;
        return r;
    }
    std::vector<DropRecord> sweep(const std::vector<DropAggregator::MapEntry>& entries, uint64_t at = 2000) {
        auto records = aggregator.on_sweep(entries, at);
        for (const auto& r : records) sum += r.count;
        return records;
    }

    DropAggregator aggregator;
    uint64_t sum = 0;
};

bool same_key(const nfs_drop_key& a, const nfs_drop_key& b) { return std::memcmp(&a, &b, sizeof a) == 0; }

}  // namespace

TEST(DropAggregator, FirstDropThenGrowingSweeps) {
    Recorder rec;
    const nfs_drop_key k = key_to_port(80);

    const auto first = rec.first(k);
    ASSERT_TRUE(first);
    EXPECT_EQ(first->count, 1u);
    EXPECT_TRUE(first->first);
    EXPECT_EQ(rec.aggregator.reported(), 1u);

    auto records = rec.sweep({entry(k, 5)});
    ASSERT_EQ(records.size(), 1u);
    EXPECT_EQ(records[0].count, 4u);
    EXPECT_FALSE(records[0].first);
    EXPECT_EQ(rec.aggregator.reported(), 5u);

    EXPECT_TRUE(rec.sweep({entry(k, 5)}).empty()) << "nothing grew: no record";
    EXPECT_EQ(rec.aggregator.reported(), 5u);

    records = rec.sweep({entry(k, 7)});
    ASSERT_EQ(records.size(), 1u);
    EXPECT_EQ(records[0].count, 2u);
    EXPECT_FALSE(records[0].first);
    EXPECT_EQ(rec.aggregator.reported(), 7u);
    EXPECT_EQ(rec.aggregator.reported(), rec.sum);
    EXPECT_EQ(rec.aggregator.tracked_keys(), 1u);
}

TEST(DropAggregator, SingleDropIsReportedOnce) {
    Recorder rec;
    const nfs_drop_key k = key_to_port(80);
    ASSERT_TRUE(rec.first(k));
    EXPECT_TRUE(rec.sweep({entry(k, 1)}).empty());
    EXPECT_EQ(rec.aggregator.reported(), 1u);
    EXPECT_EQ(rec.aggregator.reported(), rec.sum);
}

TEST(DropAggregator, SweepBeforeTheFirstDropRecord) {
    Recorder rec;
    const nfs_drop_key k = key_to_port(80);

    const auto records = rec.sweep({entry(k, 3)});
    ASSERT_EQ(records.size(), 1u);
    EXPECT_EQ(records[0].count, 3u);
    EXPECT_TRUE(records[0].first);

    EXPECT_EQ(rec.first(k), std::nullopt) << "the late ring-buffer record is already counted";
    EXPECT_EQ(rec.aggregator.reported(), 3u);

    const auto later = rec.sweep({entry(k, 4)});
    ASSERT_EQ(later.size(), 1u);
    EXPECT_EQ(later[0].count, 1u);
    EXPECT_EQ(rec.aggregator.reported(), 4u);
    EXPECT_EQ(rec.aggregator.reported(), rec.sum);
}

TEST(DropAggregator, SecondFirstDropRecordForAKeyIsIgnored) {
    Recorder rec;
    const nfs_drop_key k = key_to_port(80);
    ASSERT_TRUE(rec.first(k));
    EXPECT_EQ(rec.first(k), std::nullopt);
    EXPECT_EQ(rec.aggregator.reported(), 1u);
    EXPECT_EQ(rec.aggregator.tracked_keys(), 1u);
}

TEST(DropAggregator, EvictedKeyIsForgottenAndRecreatedInFull) {
    Recorder rec;
    const nfs_drop_key a = key_to_port(80);
    const nfs_drop_key b = key_to_port(443);
    ASSERT_TRUE(rec.first(a));
    ASSERT_TRUE(rec.first(b));
    rec.sweep({entry(a, 10), entry(b, 20)});
    EXPECT_EQ(rec.aggregator.tracked_keys(), 2u);
    EXPECT_EQ(rec.aggregator.reported(), 30u);

    // The LRU map evicted `a`.
    EXPECT_TRUE(rec.sweep({entry(b, 20)}).empty());
    EXPECT_EQ(rec.aggregator.tracked_keys(), 1u);

    // `a` comes back with a count smaller than what was reported for it before.
    const auto again = rec.first(a);
    ASSERT_TRUE(again);
    EXPECT_EQ(again->count, 1u);
    EXPECT_TRUE(again->first);
    const auto records = rec.sweep({entry(a, 2), entry(b, 20)});
    ASSERT_EQ(records.size(), 1u);
    EXPECT_TRUE(same_key(records[0].raw_key, a));
    EXPECT_EQ(records[0].count, 1u);
    EXPECT_EQ(rec.aggregator.reported(), 32u);
    EXPECT_EQ(rec.aggregator.reported(), rec.sum);
}

TEST(DropAggregator, EvictedKeySeenFirstBySweepIsReportedInFull) {
    Recorder rec;
    const nfs_drop_key k = key_to_port(80);
    rec.sweep({entry(k, 50)});
    rec.sweep({});
    EXPECT_EQ(rec.aggregator.tracked_keys(), 0u);

    const auto records = rec.sweep({entry(k, 3)});
    ASSERT_EQ(records.size(), 1u);
    EXPECT_EQ(records[0].count, 3u);
    EXPECT_TRUE(records[0].first);
    EXPECT_EQ(rec.aggregator.reported(), 53u);
    EXPECT_EQ(rec.aggregator.reported(), rec.sum);
}

TEST(DropAggregator, CountThatWentDownIsANewAggregate) {
    // Evicted and created again between two sweeps: the map shows a count
    // lower than what was already reported, all of it new drops.
    Recorder rec;
    const nfs_drop_key k = key_to_port(80);
    ASSERT_TRUE(rec.first(k));
    rec.sweep({entry(k, 10)});
    EXPECT_EQ(rec.aggregator.reported(), 10u);

    const auto records = rec.sweep({entry(k, 4)});
    ASSERT_EQ(records.size(), 1u);
    EXPECT_EQ(records[0].count, 4u);
    EXPECT_EQ(rec.aggregator.reported(), 14u);

    // And it grows from its new count.
    const auto later = rec.sweep({entry(k, 6)});
    ASSERT_EQ(later.size(), 1u);
    EXPECT_EQ(later[0].count, 2u);
    EXPECT_EQ(rec.aggregator.reported(), 16u);
    EXPECT_EQ(rec.aggregator.reported(), rec.sum);
}

TEST(DropAggregator, KeysDifferingOnlyInCauseAreSeparate) {
    Recorder rec;
    ASSERT_TRUE(rec.first(key_to_port(80, NFS_CAUSE_TABLE_FULL)));
    ASSERT_TRUE(rec.first(key_to_port(80, NFS_CAUSE_INSERT_FAILED)));
    EXPECT_EQ(rec.aggregator.tracked_keys(), 2u);
    EXPECT_EQ(rec.aggregator.reported(), 2u);
}

TEST(DropAggregator, ManyKeys) {
    constexpr uint16_t kKeys = 1000;
    Recorder rec;
    // The ring buffer delivered the first drop of the even keys only.
    for (uint16_t i = 0; i < kKeys; i += 2) ASSERT_TRUE(rec.first(key_to_port(i)));
    EXPECT_EQ(rec.aggregator.tracked_keys(), kKeys / 2u);

    // Key i has i + 1 drops.
    std::vector<DropAggregator::MapEntry> entries;
    for (uint16_t i = 0; i < kKeys; ++i) entries.push_back(entry(key_to_port(i), i + 1u));
    const auto records = rec.sweep(entries);

    // Every odd key in full, every even key but port 0 (still at 1) by what grew.
    EXPECT_EQ(records.size(), kKeys - 1u);
    std::size_t first_records = 0;
    for (const auto& r : records) {
        const uint16_t i = r.raw_key.flow.dport;
        if (i % 2) {
            EXPECT_TRUE(r.first);
            EXPECT_EQ(r.count, i + 1u);
            ++first_records;
        } else {
            EXPECT_FALSE(r.first);
            EXPECT_EQ(r.count, i + 0u);
        }
    }
    EXPECT_EQ(first_records, kKeys / 2u);
    EXPECT_EQ(rec.aggregator.tracked_keys(), kKeys);
    EXPECT_EQ(rec.aggregator.reported(), uint64_t{kKeys} * (kKeys + 1) / 2);
    EXPECT_EQ(rec.aggregator.reported(), rec.sum);

    // Everything but the first ten keys evicted.
    entries.resize(10);
    EXPECT_TRUE(rec.sweep(entries).empty());
    EXPECT_EQ(rec.aggregator.tracked_keys(), 10u);
}

// Walking a hash map with bpf_map_get_next_key() starts over from the first
// bucket when the previous key was evicted meanwhile (an LRU map under a drop
// storm), so one sweep can list a key twice: its growth counts once.
TEST(DropAggregator, KeyListedTwiceInOneSweepIsCountedOnce) {
    Recorder rec;
    const nfs_drop_key a = key_to_port(80);
    const nfs_drop_key b = key_to_port(443);
    ASSERT_TRUE(rec.first(a));
    rec.sweep({entry(a, 5), entry(b, 2)});
    EXPECT_EQ(rec.aggregator.reported(), 7u);

    rec.sweep({entry(a, 9), entry(b, 3), entry(a, 9), entry(b, 3)});
    EXPECT_EQ(rec.aggregator.reported(), 12u) << "a grew by 4 and b by 1";
    EXPECT_EQ(rec.aggregator.reported(), rec.sum);
    EXPECT_EQ(rec.aggregator.tracked_keys(), 2u);
}

TEST(DropAggregator, FirstDropRecordFields) {
    Recorder rec;
    const nfs_drop_key k = key_to_port(80);
    const auto r = rec.first(k, 42'000'000'000);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->ts_boot_ns, 42'000'000'000u);
    EXPECT_TRUE(same_key(r->raw_key, k));
    EXPECT_EQ(r->key.netns, kNetns);
    EXPECT_EQ(r->key.cause, DropCause::table_full);
    EXPECT_EQ(r->key.hook, std::optional<std::string>("output"));
    EXPECT_EQ(format_flow(r->key.flow), "10.0.0.1:5000 -> 10.0.0.2:80/tcp");
    ASSERT_TRUE(r->origin.pid);
    EXPECT_EQ(*r->origin.pid, 1234u);
    EXPECT_EQ(r->origin.comm, "curl");
}

TEST(DropAggregator, SweepRecordFields) {
    Recorder rec;
    const nfs_drop_key k = key_to_port(8080, NFS_CAUSE_INVALID);
    DropAggregator::MapEntry e = entry(k, 3);
    e.value.origin.flags = 0;  // received: no process
    e.value.origin.out_ifindex = 0;
    e.value.origin.in_ifindex = 4;
    std::memcpy(e.value.origin.in_if, "veth-a", 7);

    const auto records = rec.sweep({e}, 77'000'000'000);
    ASSERT_EQ(records.size(), 1u);
    const DropRecord& r = records[0];
    EXPECT_EQ(r.ts_boot_ns, 77'000'000'000u) << "a sweep record is dated by the sweep";
    EXPECT_TRUE(same_key(r.raw_key, k));
    EXPECT_EQ(r.key.netns, kNetns);
    EXPECT_EQ(r.key.cause, DropCause::invalid);
    EXPECT_EQ(format_flow(r.key.flow), "10.0.0.1:5000 -> 10.0.0.2:8080/tcp");
    EXPECT_FALSE(r.origin.local);
    EXPECT_EQ(r.origin.pid, std::nullopt);
    EXPECT_EQ(r.origin.in_if, std::optional<std::string>("veth-a"));
    EXPECT_EQ(r.origin.out_if, std::nullopt);
    EXPECT_EQ(r.count, 3u);
    EXPECT_TRUE(r.first);
}
