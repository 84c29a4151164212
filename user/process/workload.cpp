// SPDX-License-Identifier: GPL-2.0-only
#include "process/workload.hpp"

#include <algorithm>
#include <array>
#include <vector>

namespace nfsleuth {

namespace {

bool is_container_id(std::string_view s) {
    return s.size() == 64 &&
           std::all_of(s.begin(), s.end(), [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
}

// "<prefix><id><suffix>" with a container id in the middle.
bool take_id(std::string_view component, std::string_view prefix, std::string_view suffix, std::string& id) {
    if (component.size() < prefix.size() + suffix.size() || !component.starts_with(prefix) ||
        !component.ends_with(suffix))
        return false;
    std::string_view middle = component.substr(prefix.size(), component.size() - prefix.size() - suffix.size());
    if (!is_container_id(middle)) return false;
    id = middle;
    return true;
}

// The scope names runtimes give a container's cgroup under systemd, and
// under cgroupfs where they keep the prefix. The conmon monitors run in
// their container's name too.
struct ScopeForm {
    std::string_view prefix, suffix, runtime;
};
constexpr std::array kScopeForms{
    ScopeForm{"docker-", ".scope", "docker"},
    ScopeForm{"cri-containerd-", ".scope", "containerd"},
    ScopeForm{"nerdctl-", ".scope", "containerd"},
    ScopeForm{"crio-conmon-", ".scope", "cri-o"},
    ScopeForm{"crio-", ".scope", "cri-o"},
    ScopeForm{"crio-conmon-", "", "cri-o"},
    ScopeForm{"crio-", "", "cri-o"},
    ScopeForm{"libpod-conmon-", ".scope", "podman"},
    ScopeForm{"libpod-", ".scope", "podman"},
    ScopeForm{"libpod-", "", "podman"},
};

bool valid_pod_uid(std::string_view uid) {
    return uid.size() >= 8 && uid.size() <= 64 && std::all_of(uid.begin(), uid.end(), [](char c) {
               return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || c == '-';
           });
}

// A kubelet in a container (kind) names its slices "kubelet-kubepods...".
std::string_view without_kubelet_prefix(std::string_view component) {
    if (component.starts_with("kubelet-kubepods")) component.remove_prefix(8);
    return component;
}

// "kubepods-burstable-pod<uid>.slice" (systemd driver: dashes of the uid
// become underscores) or "pod<uid>" (cgroupfs driver).
bool take_pod_uid(std::string_view component, std::string& uid) {
    component = without_kubelet_prefix(component);
    std::string candidate;
    if (component.starts_with("kubepods") && component.ends_with(".slice")) {
        auto at = component.rfind("-pod");
        if (at == std::string_view::npos) return false;
        candidate = component.substr(at + 4, component.size() - at - 4 - 6);
        std::replace(candidate.begin(), candidate.end(), '_', '-');
    } else if (component.starts_with("pod")) {
        candidate = component.substr(3);
    } else {
        return false;
    }
    if (!valid_pod_uid(candidate)) return false;
    uid = std::move(candidate);
    return true;
}

std::string qos_of(std::string_view component) {
    component = without_kubelet_prefix(component);
    for (std::string_view q : {"burstable", "besteffort"}) {
        if (component == q) return std::string(q);
        if (component.starts_with("kubepods-") && component.ends_with(".slice") &&
            component.substr(9, component.size() - 15) == q)
            return std::string(q);
    }
    return {};
}

// The fields of s between separators, empty ones included.
std::vector<std::string_view> fields(std::string_view s, char separator) {
    std::vector<std::string_view> out;
    std::size_t start = 0;
    for (std::size_t i = 0; i <= s.size(); ++i) {
        if (i == s.size() || s[i] == separator) {
            out.push_back(s.substr(start, i - start));
            start = i + 1;
        }
    }
    return out;
}

std::vector<std::string_view> components(std::string_view path) {
    auto out = fields(path, '/');
    std::erase(out, std::string_view{});
    return out;
}

bool is_kubepods(std::string_view component) {
    component = without_kubelet_prefix(component);
    return component == "kubepods" || (component.starts_with("kubepods") && component.ends_with(".slice"));
}

}  // namespace

Workload parse_cgroup_path(std::string_view path) noexcept {
    Workload w;
    try {
        const auto parts = components(path);
        bool under_kubepods = false;
        for (std::size_t i = 0; i < parts.size(); ++i) {
            std::string_view c = parts[i];
            std::string id;
            if (is_kubepods(c)) under_kubepods = true;
            if (under_kubepods) {
                if (auto q = qos_of(c); !q.empty()) w.qos = q;
                std::string uid;
                if (take_pod_uid(c, uid)) {
                    w.pod_uid = uid;
                    if (w.qos.empty()) w.qos = "guaranteed";
                    w.runtime.clear();
                    w.container_id.clear();
                    continue;
                }
            }
            for (const auto& form : kScopeForms) {
                if (take_id(c, form.prefix, form.suffix, id)) {
                    w.runtime = form.runtime;
                    w.container_id = id;
                    break;
                }
            }
            if (!id.empty()) continue;
            if (is_container_id(c)) {
                // Bare ids: docker's cgroupfs driver ("/docker/<id>"), and
                // containers of a pod under the cgroupfs driver.
                if (i > 0 && parts[i - 1] == "docker") {
                    w.runtime = "docker";
                } else if (!w.pod_uid.empty() && i > 0 && parts[i - 1] == "pod" + w.pod_uid) {
                    w.runtime = "cri";
                } else {
                    continue;
                }
                w.container_id = std::string(c);
            }
        }
        if (!w.in_container() && !parts.empty()) {
            std::string_view last = parts.back();
            if (last.ends_with(".service") || last.ends_with(".scope")) w.unit = last;
        }
    } catch (...) {
        return Workload{};
    }
    return w;
}

std::string short_container_id(const Workload& w) {
    const std::size_t n = (w.runtime == "docker" || w.runtime == "podman") ? 12 : 13;
    return w.container_id.substr(0, n);
}

std::string pod_label(const Workload& w) {
    if (w.pod_named()) return w.pod_namespace + "/" + w.pod_name;
    if (w.in_pod()) return "pod:" + w.pod_uid;
    return {};
}

std::string container_label(const Workload& w) {
    if (!w.container_name.empty()) return w.container_name;
    if (w.in_container()) return w.runtime + ":" + short_container_id(w);
    return {};
}

std::string container_key(const Workload& w) {
    if (!w.in_container()) return {};
    if (!w.pod_named()) return w.runtime + ":" + short_container_id(w);
    return pod_label(w) + "/" + (w.container_name.empty() ? short_container_id(w) : w.container_name);
}

namespace {

// Kubernetes names (DNS labels and subdomains) have no underscores: they
// separate the parts of the kubelet's directory names.
std::vector<std::string_view> underscore_parts(std::string_view s) {
    return fields(s, '_');
}

bool valid_k8s_name(std::string_view s) {
    return !s.empty() && s.size() <= 253 && std::all_of(s.begin(), s.end(), [](char c) {
        return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.';
    });
}

}  // namespace

bool parse_pod_dir_name(std::string_view name, PodDirName& out) {
    auto parts = underscore_parts(name);
    if (parts.size() != 3 || !valid_k8s_name(parts[0]) || !valid_k8s_name(parts[1]) || !valid_pod_uid(parts[2]))
        return false;
    out = {std::string(parts[0]), std::string(parts[1]), std::string(parts[2])};
    return true;
}

bool parse_container_log_name(std::string_view name, ContainerLogName& out) {
    if (!name.ends_with(".log")) return false;
    name.remove_suffix(4);
    auto dash = name.rfind('-');
    if (dash == std::string_view::npos || !is_container_id(name.substr(dash + 1))) return false;
    auto parts = underscore_parts(name.substr(0, dash));
    if (parts.size() != 3 || !valid_k8s_name(parts[0]) || !valid_k8s_name(parts[1]) || !valid_k8s_name(parts[2]))
        return false;
    out = {std::string(parts[0]), std::string(parts[1]), std::string(parts[2]), std::string(name.substr(dash + 1))};
    return true;
}

}  // namespace nfsleuth
