// SPDX-License-Identifier: GPL-2.0-only
// Small /proc files: net/stat/nf_conntrack, /proc/modules and a process's
// cmdline (written by the process itself: attacker-controlled), each also
// escaped the way every output prints it; cgroup paths and the kubelet's
// log directory names (chosen by whoever names containers and pods).
#include <string>

#include "common/text.hpp"
#include "conntrack/ct_stat.hpp"
#include "fuzz_input.hpp"
#include "modules/module_hooks.hpp"
#include "modules/module_tree.hpp"
#include "process/workload.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, std::size_t size) {
    const auto text = nfsleuth_fuzz::as_text(data, size);
    (void)nfsleuth::parse_ct_stat(text);
    (void)nfsleuth::module_instance(text, "nf_conntrack");
    (void)nfsleuth::module_name_from_path(std::string(text));
    for (const auto& arg : nfsleuth::split_args(text)) (void)nfsleuth::escape_for_terminal(arg);
    (void)nfsleuth::join_args(nfsleuth::split_args(text));
    (void)nfsleuth::path_basename(text);
    const nfsleuth::Workload w = nfsleuth::parse_cgroup_path(text);
    (void)nfsleuth::container_key(w);
    (void)nfsleuth::pod_label(w);
    nfsleuth::PodDirName pod;
    if (nfsleuth::parse_pod_dir_name(text, pod) && pod.uid.empty()) __builtin_trap();
    nfsleuth::ContainerLogName log;
    if (nfsleuth::parse_container_log_name(text, log) && log.container_id.size() != 64) __builtin_trap();
    return 0;
}
