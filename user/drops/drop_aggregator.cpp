// SPDX-License-Identifier: GPL-2.0-only
#include "drops/drop_aggregator.hpp"

#include <string_view>
#include <unordered_set>

namespace nfsleuth {

std::size_t DropKeyHash::operator()(const DropKeyBytes& k) const noexcept {
    return std::hash<std::string_view>{}(std::string_view(reinterpret_cast<const char*>(k.data()), k.size()));
}

std::optional<DropRecord> DropAggregator::on_first_drop(const FirstDrop& d) {
    auto [it, inserted] = reported_.emplace(key_bytes(d.raw_key), 1);
    if (!inserted) return std::nullopt;
    ++reported_total_;
    return DropRecord{d.ts_boot_ns, d.raw_key, decode_key(d.raw_key), d.origin, 1, true};
}

std::vector<DropRecord> DropAggregator::on_sweep(const std::vector<MapEntry>& entries, uint64_t swept_at_boot_ns) {
    std::vector<DropRecord> out;
    std::unordered_map<DropKeyBytes, uint64_t, DropKeyHash> next;
    next.reserve(entries.size());
    for (const auto& e : entries) {
        auto bytes = key_bytes(e.key);
        // A map walk restarts when the key it stood on is evicted meanwhile,
        // so a key can be listed twice: count it once.
        if (next.count(bytes)) continue;
        auto it = reported_.find(bytes);
        uint64_t before = it == reported_.end() ? 0 : it->second;
        // Fewer than reported: evicted and created again since the last sweep.
        uint64_t delta = e.value.count >= before ? e.value.count - before : e.value.count;
        if (delta) {
            out.push_back({swept_at_boot_ns, e.key, decode_key(e.key), decode_origin(e.value.origin), delta,
                           it == reported_.end()});
            reported_total_ += delta;
        }
        next.emplace(bytes, e.value.count);
    }
    // Keys no longer in the map were evicted: forget them, memory stays bounded.
    reported_ = std::move(next);
    return out;
}

}  // namespace nfsleuth
