// SPDX-License-Identifier: GPL-2.0-only
#include "kernel/kernel_probe.hpp"

#include <bpf/btf.h>
#include <bpf/libbpf.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "kernel/bpf_support.hpp"
#include "kernel/module_state.hpp"
#include "probe.skel.h"

namespace nfsleuth {

namespace fs = std::filesystem;

const char* to_string(Flavor f) {
    switch (f) {
        case Flavor::fentry: return "fentry";
        case Flavor::fexit: return "fexit";
        case Flavor::kprobe: return "kprobe";
        case Flavor::kretprobe: return "kretprobe";
        case Flavor::tp_btf: return "tp_btf";
        case Flavor::raw_tp: return "raw_tp";
        case Flavor::tracepoint: return "tracepoint";
    }
    return "?";
}

const char* to_string(Backend b) {
    switch (b) {
        case Backend::fentry: return "fentry";
        case Backend::kprobe: return "kprobe";
        case Backend::tracepoint: return "tracepoint";
    }
    return "?";
}

Backend backend_of(Flavor f) {
    switch (f) {
        case Flavor::fentry:
        case Flavor::fexit: return Backend::fentry;
        case Flavor::kprobe:
        case Flavor::kretprobe: return Backend::kprobe;
        default: return Backend::tracepoint;
    }
}

std::optional<Backend> parse_backend(const std::string& s) {
    if (s == "fentry") return Backend::fentry;
    if (s == "kprobe") return Backend::kprobe;
    if (s == "tracepoint") return Backend::tracepoint;
    return std::nullopt;
}

KernelProbe::KernelProbe(std::optional<std::string> btf_path) : btf_path_(std::move(btf_path)) {
    btf_ = btf_path_ ? btf__parse(btf_path_->c_str(), nullptr) : btf__load_vmlinux_btf();
    if (libbpf_get_error(btf_)) btf_ = nullptr;
}

KernelProbe::~KernelProbe() {
    if (module_btfs_) {
        for (btf* b : *module_btfs_) btf__free(b);
    }
    btf__free(btf_);
}

void KernelProbe::load_module_btfs() {
    module_btfs_.emplace();
    std::error_code ec;
    if (!btf_ || btf_path_) return;  // a custom BTF file has no module companions
    for (const auto& e : fs::directory_iterator("/sys/kernel/btf", ec)) {
        if (e.path().filename() == "vmlinux") continue;
        btf* b = btf__parse_split(e.path().c_str(), btf_);
        if (!libbpf_get_error(b)) module_btfs_->push_back(b);
    }
}

std::string KernelProbe::btf_source() const {
    if (btf_path_) return *btf_path_;
    return fs::exists("/sys/kernel/btf/vmlinux") ? "/sys/kernel/btf/vmlinux" : "";
}

bool KernelProbe::btf_has_func(const std::string& name) {
    if (!btf_) return false;
    if (btf__find_by_name_kind(btf_, name.c_str(), BTF_KIND_FUNC) > 0) return true;
    if (!module_btfs_) load_module_btfs();
    for (btf* b : *module_btfs_) {
        if (btf__find_by_name_kind(b, name.c_str(), BTF_KIND_FUNC) > 0) return true;
    }
    return false;
}

std::optional<uint64_t> KernelProbe::struct_size(const std::string& name) {
    if (!btf_) return std::nullopt;
    auto size_in = [&](const btf* b) -> std::optional<uint64_t> {
        int id = btf__find_by_name_kind(b, name.c_str(), BTF_KIND_STRUCT);
        if (id <= 0) return std::nullopt;
        long long size = btf__resolve_size(b, id);
        return size > 0 ? std::optional<uint64_t>(static_cast<uint64_t>(size)) : std::nullopt;
    };
    if (auto size = size_in(btf_)) return size;
    if (!module_btfs_) load_module_btfs();
    for (btf* b : *module_btfs_)
        if (auto size = size_in(b)) return size;
    return std::nullopt;
}

bool KernelProbe::btf_has_typedef(const std::string& name) const {
    return btf_ && btf__find_by_name_kind(btf_, name.c_str(), BTF_KIND_TYPEDEF) > 0;
}

std::optional<int> KernelProbe::tracepoint_arity(const std::string& name) const {
    if (!btf_) return std::nullopt;
    int id = btf__find_by_name_kind(btf_, ("btf_trace_" + name).c_str(), BTF_KIND_TYPEDEF);
    if (id <= 0) return std::nullopt;
    // typedef -> pointer -> function prototype (void *ctx, args...)
    const btf_type* t = btf__type_by_id(btf_, btf__type_by_id(btf_, id)->type);
    if (!t || !btf_is_ptr(t)) return std::nullopt;
    t = btf__type_by_id(btf_, t->type);
    if (!t || !btf_is_func_proto(t) || btf_vlen(t) == 0) return std::nullopt;
    return static_cast<int>(btf_vlen(t)) - 1;
}

void KernelProbe::load_kallsyms() {
    kallsyms_.emplace();
    std::ifstream in("/proc/kallsyms");
    std::string addr, type, name;
    std::string line;
    while (std::getline(in, line)) {
        std::istringstream fields(line);
        if (fields >> addr >> type >> name) kallsyms_->insert(name);
    }
}

bool KernelProbe::kallsyms_has(const std::string& name) {
    if (!kallsyms_) load_kallsyms();
    return kallsyms_->count(name) > 0;
}

std::optional<std::string> KernelProbe::tracefs_root() const {
    for (const char* root : {"/sys/kernel/tracing", "/sys/kernel/debug/tracing"}) {
        std::error_code ec;
        if (fs::exists(std::string(root) + "/events", ec)) return std::string(root);
    }
    return std::nullopt;
}

bool KernelProbe::tracefs_has_event(const std::string& category, const std::string& name) const {
    auto root = tracefs_root();
    std::error_code ec;
    return root && fs::exists(*root + "/events/" + category + "/" + name + "/id", ec);
}

bool KernelProbe::modules_supported() { return fs::exists("/proc/modules"); }

bool KernelProbe::conntrack_in_module() const {
    return modules_supported() && conntrack_state() != ModuleState::builtin;
}

bool KernelProbe::kprobe_pmu_present() { return fs::exists("/sys/bus/event_source/devices/kprobe/type"); }

namespace {

// Targets that exist on any kernel with BPF; the first one present is used.
const char* const generic_functions[] = {"bpf_fentry_test1", "do_sys_openat2", "ksys_read"};
constexpr const char* generic_tracepoint_category = "sched";
constexpr const char* generic_tracepoint = "sched_process_exec";

bpf_program* probe_program(probe_bpf* skel, Flavor f) {
    switch (f) {
        case Flavor::fentry: return skel->progs.probe_fentry;
        case Flavor::fexit: return skel->progs.probe_fexit;
        case Flavor::kprobe: return skel->progs.probe_kprobe;
        case Flavor::kretprobe: return skel->progs.probe_kretprobe;
        case Flavor::tp_btf: return skel->progs.probe_tp_btf;
        case Flavor::raw_tp: return skel->progs.probe_raw_tp;
        case Flavor::tracepoint: return skel->progs.probe_tracepoint;
    }
    return nullptr;
}

}  // namespace

ProbeResult KernelProbe::try_attach_type(Flavor f) {
    std::string target;
    if (f == Flavor::fentry || f == Flavor::fexit || f == Flavor::kprobe || f == Flavor::kretprobe) {
        for (const char* fn : generic_functions) {
            bool present = (f == Flavor::fentry || f == Flavor::fexit) ? btf_has_func(fn) : kallsyms_has(fn);
            if (present) {
                target = fn;
                break;
            }
        }
        if (target.empty()) return {false, "no probe target function found"};
    } else if (f == Flavor::tracepoint) {
        if (!tracefs_root()) return {false, "tracefs is not mounted (mount -t tracefs nodev /sys/kernel/tracing)"};
        target = std::string(generic_tracepoint_category) + "/" + generic_tracepoint;
    } else {
        target = generic_tracepoint;
    }

    QuietLibbpf quiet;
    Skeleton<probe_bpf> skel(btf_path_);
    bpf_program* prog = probe_program(skel.get(), f);
    bpf_object* obj = skel->obj;
    bpf_program* p;
    bpf_object__for_each_program(p, obj) bpf_program__set_autoload(p, p == prog);
    if (f == Flavor::fentry || f == Flavor::fexit || f == Flavor::tp_btf)
        bpf_program__set_attach_target(prog, 0, target.c_str());
    if (int err = skel.load(); err) return {false, "load failed: " + describe_errno(err)};

    bpf_link* link = nullptr;
    switch (f) {
        case Flavor::kprobe:
        case Flavor::kretprobe:
            link = bpf_program__attach_kprobe(prog, f == Flavor::kretprobe, target.c_str());
            break;
        case Flavor::tracepoint:
            link = bpf_program__attach_tracepoint(prog, generic_tracepoint_category, generic_tracepoint);
            break;
        case Flavor::raw_tp:
            link = bpf_program__attach_raw_tracepoint(prog, target.c_str());
            break;
        default:
            link = bpf_program__attach(prog);
    }
    if (!link) {
        int err = -errno;
        std::string why = "attach failed: " + describe_errno(err);
        if ((f == Flavor::kprobe || f == Flavor::kretprobe) && !kprobe_pmu_present())
            why += "; the kernel has no kprobe PMU (CONFIG_KPROBES not set?)";
        return {false, why};
    }
    bpf_link__destroy(link);
    return {true, "on " + target};
}

const ProbeResult& KernelProbe::attach_type(Flavor f) {
    auto it = attach_results_.find(f);
    if (it == attach_results_.end()) it = attach_results_.emplace(f, try_attach_type(f)).first;
    return it->second;
}

ProbeResult KernelProbe::can_attach(Flavor f, const std::string& target) {
    const ProbeResult& type = attach_type(f);
    if (!type.works) return {false, std::string(to_string(f)) + " unavailable: " + type.detail};
    bool present = false;
    std::string missing;
    switch (f) {
        case Flavor::fentry:
        case Flavor::fexit:
            present = btf_has_func(target);
            missing = "no BTF for function " + target;
            break;
        case Flavor::kprobe:
        case Flavor::kretprobe:
            present = kallsyms_has(target);
            missing = "no kernel symbol " + target;
            break;
        case Flavor::tp_btf:
            present = btf_has_typedef("btf_trace_" + target);
            missing = "no tracepoint " + target + " in BTF";
            break;
        case Flavor::raw_tp:
            present = kallsyms_has("__tracepoint_" + target);
            missing = "no tracepoint " + target;
            break;
        case Flavor::tracepoint: {
            auto slash = target.find('/');
            present = tracefs_has_event(target.substr(0, slash), target.substr(slash + 1));
            missing = "no tracepoint " + target + " in tracefs";
            break;
        }
    }
    if (!present) return {false, missing};
    return {true, std::string(to_string(f)) + ":" + target};
}

}  // namespace nfsleuth
