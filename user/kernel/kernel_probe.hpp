// SPDX-License-Identifier: GPL-2.0-only
// What the running kernel can do, found by looking and by trying, never by
// assuming: BTF contents, symbols, tracefs, loadable modules, and whether
// each BPF attach type really loads and attaches.
#pragma once
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

struct btf;

namespace nfsleuth {

// The attach flavours nfsleuth knows; each belongs to one backend.
enum class Flavor { fentry, fexit, kprobe, kretprobe, tp_btf, raw_tp, tracepoint };
inline constexpr Flavor kAllFlavors[] = {Flavor::fentry, Flavor::fexit,  Flavor::kprobe,    Flavor::kretprobe,
                                         Flavor::tp_btf, Flavor::raw_tp, Flavor::tracepoint};
enum class Backend { fentry, kprobe, tracepoint };

const char* to_string(Flavor f);
const char* to_string(Backend b);
Backend backend_of(Flavor f);
std::optional<Backend> parse_backend(const std::string& s);  // "fentry" ... ; "auto" -> nullopt

struct ProbeResult {
    bool works = false;
    std::string detail;  // target used, or why it does not work
};

// What hook planning asks of the kernel (hooks.hpp): an interface so that
// the choice of attach methods can be tested against a made-up kernel.
class AttachProbe {
public:
    virtual ~AttachProbe() = default;
    // Loads and attaches an empty program of this flavour (cached).
    virtual const ProbeResult& attach_type(Flavor f) = 0;
    // Whether a hook of this flavour on this target can be attached here.
    virtual ProbeResult can_attach(Flavor f, const std::string& target) = 0;
    virtual bool kallsyms_has(const std::string& name) = 0;
    // Arguments of tracepoint NAME as BPF sees them (its BTF typedef
    // btf_trace_NAME, without the context pointer); nullopt without BTF.
    virtual std::optional<int> tracepoint_arity(const std::string& name) const = 0;
    // Whether nf_conntrack's functions live in a loadable module (loaded now
    // or not) rather than in the kernel image.
    virtual bool conntrack_in_module() const = 0;
};

class KernelProbe final : public AttachProbe {
public:
    explicit KernelProbe(std::optional<std::string> btf_path = std::nullopt);
    ~KernelProbe();
    KernelProbe(const KernelProbe&) = delete;
    KernelProbe& operator=(const KernelProbe&) = delete;

    const std::optional<std::string>& btf_path() const { return btf_path_; }
    bool has_btf() const { return btf_ != nullptr; }
    // Size of `struct NAME` from the kernel's BTF or its modules' BTF.
    std::optional<uint64_t> struct_size(const std::string& name);
    const btf* kernel_btf() const { return btf_; }
    std::string btf_source() const;
    // In the kernel's BTF or a loaded module's (fentry can attach to both).
    bool btf_has_func(const std::string& name);
    bool btf_has_typedef(const std::string& name) const;
    std::optional<int> tracepoint_arity(const std::string& name) const override;
    bool kallsyms_has(const std::string& name) override;
    std::optional<std::string> tracefs_root() const;  // ".../tracing" whose events/ is readable
    bool tracefs_has_event(const std::string& category, const std::string& name) const;
    static bool modules_supported();  // CONFIG_MODULES
    static bool kprobe_pmu_present();

    const ProbeResult& attach_type(Flavor f) override;
    ProbeResult can_attach(Flavor f, const std::string& target) override;
    bool conntrack_in_module() const override;

private:
    ProbeResult try_attach_type(Flavor f);
    void load_kallsyms();

    void load_module_btfs();

    std::optional<std::string> btf_path_;
    btf* btf_ = nullptr;
    std::optional<std::vector<btf*>> module_btfs_;  // /sys/kernel/btf/<module>, split on btf_
    std::optional<std::set<std::string>> kallsyms_;
    std::map<Flavor, ProbeResult> attach_results_;
};

}  // namespace nfsleuth
