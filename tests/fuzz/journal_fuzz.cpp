// SPDX-License-Identifier: GPL-2.0-only
// A `watch` journal as `why` and `doctor` read it back: after a crash, a
// full disk or an attacker's edit it may hold anything.
#include <set>
#include <sstream>
#include <string>

#include "fuzz_input.hpp"
#include "why/journal_findings.hpp"
#include "why/why_report.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, std::size_t size) {
    const std::string text(nfsleuth_fuzz::as_text(data, size));
    std::istringstream history(text);
    (void)nfsleuth::module_history(history, {"nf_conntrack", "nf_nat", "iptable_nat"});
    std::istringstream mismatches(text);
    nfsleuth::MismatchHistory found;
    nfsleuth::read_mismatches(mismatches, found);
    for (const auto& ev : found.last) (void)nfsleuth::describe_mismatch(ev);
    return 0;
}
