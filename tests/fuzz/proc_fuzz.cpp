// SPDX-License-Identifier: GPL-2.0-only
// Small /proc files: net/stat/nf_conntrack, /proc/modules and a process's
// cmdline (written by the process itself: attacker-controlled), each also
// escaped the way every output prints it.
#include <string>

#include "common/text.hpp"
#include "conntrack/ct_stat.hpp"
#include "fuzz_input.hpp"
#include "modules/module_hooks.hpp"
#include "modules/module_tree.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, std::size_t size) {
    const auto text = nfsleuth_fuzz::as_text(data, size);
    (void)nfsleuth::parse_ct_stat(text);
    (void)nfsleuth::module_instance(text, "nf_conntrack");
    (void)nfsleuth::module_name_from_path(std::string(text));
    for (const auto& arg : nfsleuth::split_args(text)) (void)nfsleuth::escape_for_terminal(arg);
    (void)nfsleuth::join_args(nfsleuth::split_args(text));
    (void)nfsleuth::path_basename(text);
    return 0;
}
