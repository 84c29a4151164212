// SPDX-License-Identifier: GPL-2.0-only
// Turns the kernel's drop aggregates into counted records, exactly once.
//
// The BPF side folds drops per key into an LRU map and sends the first drop
// of each key over the ring buffer. The aggregator remembers how much of
// each key's count it has already reported: a first-drop record reports 1,
// each sweep of the map reports what grew since. A key evicted from the map
// and created again starts from 0, which the aggregator recognises.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "drops/drop_event.hpp"

namespace nfsleuth {

struct DropRecord {
    uint64_t ts_boot_ns = 0;
    nfs_drop_key raw_key{};
    DropKey key;
    Origin origin;
    uint64_t count = 0;   // drops this record adds
    bool first = false;   // the first report of this key
};

struct DropKeyHash {
    std::size_t operator()(const DropKeyBytes& k) const noexcept;
};

class DropAggregator {
public:
    struct MapEntry {
        nfs_drop_key key;
        nfs_drop_value value;
    };

    // A ring-buffer first drop; nullopt when a sweep already reported the key.
    std::optional<DropRecord> on_first_drop(const FirstDrop& d);
    // The map's current content: records for every key that grew.
    // swept_at_boot_ns dates the records: within an interval of each key's
    // latest drop (the kernel keeps no time per drop).
    std::vector<DropRecord> on_sweep(const std::vector<MapEntry>& entries, uint64_t swept_at_boot_ns);

    uint64_t reported() const { return reported_total_; }
    std::size_t tracked_keys() const { return reported_.size(); }

private:
    std::unordered_map<DropKeyBytes, uint64_t, DropKeyHash> reported_;
    uint64_t reported_total_ = 0;
};

}  // namespace nfsleuth
