// SPDX-License-Identifier: GPL-2.0-only
// How disagreements between nfsleuth's drop counts and the kernel's
// conntrack counters are shown: a warning line, a `counter_mismatch` JSON
// event, and the summary's "Kernel counters" section.
#pragma once
#include <functional>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "drops/kernel_agreement.hpp"

namespace nfsleuth {

using NetnsNamer = std::function<std::optional<std::string>(uint32_t)>;

nlohmann::ordered_json to_json(const Disagreement& d, const std::optional<std::string>& netns_name,
                               const std::string& ts);
// "nfsleuth: WARNING: netns 4026532177 (ctfull): the kernel counted ...".
std::string to_warning_line(const Disagreement& d, const std::optional<std::string>& netns_name);

// The summary's lines: agreement, or every disagreement; what was not compared.
std::vector<std::string> agreement_lines(const KernelAgreement& a, const NetnsNamer& name);
nlohmann::ordered_json agreement_json(const KernelAgreement& a, const NetnsNamer& name);

}  // namespace nfsleuth
