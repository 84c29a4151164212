// SPDX-License-Identifier: GPL-2.0-only
// Rulesets as `nft -j list ruleset`-style listings and iptables-save print
// them (why, ct_activate): their comments and names are anyone's text.
#include "conntrack/ruleset.hpp"
#include "fuzz_input.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, std::size_t size) {
    const auto text = nfsleuth_fuzz::as_text(data, size);
    (void)nfsleuth::conntrack_rules_from_nft(text);
    (void)nfsleuth::conntrack_rules_from_iptables_save(text, "iptables-legacy");
    return 0;
}
