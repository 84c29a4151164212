// SPDX-License-Identifier: GPL-2.0-only
// Which container, pod or systemd unit a cgroup v2 path belongs to, named
// the way crictl, kubectl and systemctl name them.
#pragma once
#include <string>
#include <string_view>

namespace nfsleuth {

struct Workload {
    // From the cgroup path. runtime: "docker", "containerd", "cri-o",
    // "podman", or "cri" for a bare id under a pod (containerd and
    // dockershim name them alike with the cgroupfs driver); empty when the
    // path names no container.
    std::string runtime;
    std::string container_id;  // as in the path (64 hex digits)
    std::string pod_uid;       // Kubernetes pod uid, with dashes
    std::string qos;           // "guaranteed", "burstable", "besteffort" (pods only)
    std::string unit;          // the systemd unit of a process outside containers
    // From the kubelet's log directories, when the pod is found there.
    std::string pod_namespace;
    std::string pod_name;
    std::string container_name;

    bool in_container() const { return !container_id.empty(); }
    bool in_pod() const { return !pod_uid.empty(); }
    bool pod_named() const { return !pod_name.empty(); }
};

// What a cgroup path (relative to the v2 root, "/kubepods.slice/...") says.
// The innermost container and pod win: a kubelet running in a container
// (kind) shows the pod's container, not the node's. Never throws.
Workload parse_cgroup_path(std::string_view path) noexcept;

// The id as the runtime's own tool shows it: 13 characters for CRI
// runtimes (crictl), 12 for docker and podman.
std::string short_container_id(const Workload& w);

// "namespace/name" when the pod's names are known, "pod:<uid>" when only
// its uid is; empty outside pods.
std::string pod_label(const Workload& w);
// The container's name when known ("nginx"), else "<runtime>:<short id>";
// empty outside containers.
std::string container_label(const Workload& w);
// A container in rankings: "namespace/pod/container" in a named pod (the
// short id for the container's name when it is unknown), otherwise
// "<runtime>:<short id>"; empty outside containers.
std::string container_key(const Workload& w);

// The kubelet's log directories: what a node has that names pods and
// containers without credentials (a DaemonSet mounts them read-only).
struct PodDirectories {
    std::string pods = "/var/log/pods";
    std::string containers = "/var/log/containers";
};

// kubelet log layouts (/var/log/pods/<namespace>_<name>_<uid>/ and
// /var/log/containers/<pod>_<namespace>_<container>-<id>.log). Each
// returns false, leaving the output alone, for a name of another shape.
struct PodDirName {
    std::string pod_namespace, pod_name, uid;
};
bool parse_pod_dir_name(std::string_view name, PodDirName& out);
struct ContainerLogName {
    std::string pod_name, pod_namespace, container_name, container_id;
};
bool parse_container_log_name(std::string_view name, ContainerLogName& out);

}  // namespace nfsleuth
