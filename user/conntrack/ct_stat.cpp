// SPDX-License-Identifier: GPL-2.0-only
#include "conntrack/ct_stat.hpp"

#include <charconv>
#include <map>
#include <sstream>

namespace nfsleuth {

std::optional<std::vector<CtCpuStat>> parse_ct_stat(std::string_view text) {
    std::istringstream in{std::string(text)};
    std::string line;
    if (!std::getline(in, line)) return std::nullopt;
    // Column names are unique: with a repeated one, an index could point
    // past a row of as many values as the header has names.
    std::map<std::string, std::size_t> column;
    {
        std::istringstream header(line);
        std::string name;
        for (std::size_t i = 0; header >> name; ++i)
            if (!column.emplace(name, i).second) return std::nullopt;
    }
    for (const char* needed : {"drop", "invalid", "insert_failed", "early_drop"}) {
        if (!column.count(needed)) return std::nullopt;
    }
    std::vector<CtCpuStat> rows;
    while (std::getline(in, line)) {
        std::istringstream fields(line);
        std::vector<uint64_t> values;
        std::string hex;
        while (fields >> hex) {
            uint64_t v = 0;
            auto [end, ec] = std::from_chars(hex.data(), hex.data() + hex.size(), v, 16);
            if (ec != std::errc{} || end != hex.data() + hex.size()) return std::nullopt;
            values.push_back(v);
        }
        if (values.empty()) continue;
        if (values.size() != column.size()) return std::nullopt;
        CtCpuStat s;
        s.cpu = static_cast<uint32_t>(rows.size());
        s.drop = static_cast<uint32_t>(values[column["drop"]]);
        s.invalid = static_cast<uint32_t>(values[column["invalid"]]);
        s.insert_failed = static_cast<uint32_t>(values[column["insert_failed"]]);
        s.early_drop = static_cast<uint32_t>(values[column["early_drop"]]);
        rows.push_back(s);
    }
    return rows;
}

CtCpuStat total(const std::vector<CtCpuStat>& per_cpu) {
    CtCpuStat sum;
    for (const auto& s : per_cpu) {
        sum.drop += s.drop;
        sum.invalid += s.invalid;
        sum.insert_failed += s.insert_failed;
        sum.early_drop += s.early_drop;
    }
    return sum;
}

}  // namespace nfsleuth
