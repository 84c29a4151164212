// SPDX-License-Identifier: GPL-2.0-only
#include "kernel/hook_report.hpp"

namespace nfsleuth {

namespace {

std::string attach_of(const HookOutcome& o) {
    return std::string(to_string(o.chosen->flavor)) + ":" + o.chosen->target;
}

}  // namespace

std::vector<HookOutcome> setup_failed(const std::vector<HookSpec>& specs, const std::string& reason) {
    std::vector<HookOutcome> out;
    for (const auto& spec : specs) {
        HookOutcome o;
        o.hook = spec.name;
        o.purpose = spec.purpose;
        o.required = spec.required;
        o.failed_at = HookStage::setup;
        o.reason = reason;
        out.push_back(std::move(o));
    }
    return out;
}

std::string not_traced_clauses(const std::vector<HookOutcome>& outcomes) {
    std::string s;
    for (const auto& o : outcomes) {
        if (o.failed_at) s += "; not traced: " + o.hook + " (" + o.reason + ")";
    }
    return s;
}

std::vector<std::string> not_traced_lines(const std::vector<HookOutcome>& outcomes) {
    std::vector<std::string> lines;
    for (const auto& o : outcomes) {
        if (!o.failed_at) continue;
        std::string line = "Not traced: " + o.hook + " (" + o.purpose + "), given up at " + to_string(*o.failed_at);
        if (o.chosen) line += " of " + attach_of(o);
        lines.push_back(line + ": " + o.reason);
    }
    return lines;
}

nlohmann::ordered_json not_traced_json(const std::vector<HookOutcome>& outcomes) {
    auto out = nlohmann::ordered_json::array();
    for (const auto& o : outcomes) {
        if (!o.failed_at) continue;
        out.push_back({{"hook", o.hook},
                       {"purpose", o.purpose},
                       {"required", o.required},
                       {"stage", to_string(*o.failed_at)},
                       {"attach", o.chosen ? nlohmann::ordered_json(attach_of(o)) : nlohmann::ordered_json(nullptr)},
                       {"reason", o.reason}});
    }
    return out;
}

}  // namespace nfsleuth
