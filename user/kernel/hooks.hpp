// SPDX-License-Identifier: GPL-2.0-only
// nfsleuth's hooks, each with its attach candidates in order of preference,
// and the choice among them for the running kernel.
#pragma once
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "kernel/bpf_support.hpp"
#include "kernel/kernel_probe.hpp"

namespace nfsleuth {

struct AttachCandidate {
    Flavor flavor;
    std::string target;                 // function, "category/name" (tracepoint) or tracepoint name
    std::vector<std::string> programs;  // BPF programs implementing it (entry and exit twins)
};

struct HookSpec {
    std::string name;
    std::string purpose;
    bool required;  // the command cannot work without it
    std::vector<AttachCandidate> candidates;
    // A hook every backend uses as it is (e.g. the kfree_skb tracepoint that
    // sees each drop): --backend does not restrict it.
    bool neutral = false;
};

struct HookPlan {
    const HookSpec* spec = nullptr;
    std::optional<AttachCandidate> chosen;
    std::vector<std::string> rejected;  // why each better candidate was not used
};

// Picks the first candidate the kernel can attach (restricted to one backend
// when forced, unless the hook is neutral).
HookPlan plan_hook(const HookSpec& spec, AttachProbe& probe, std::optional<Backend> forced);

const std::vector<HookSpec>& module_hooks();
// How skb:kfree_skb shows a netfilter drop: with reason NETFILTER_DROP
// (5.17 and later), or only by its call site inside nf_hook_slow (before).
enum class KfreeSkbArgs { reason, location };
KfreeSkbArgs kfree_skb_args(const AttachProbe& probe);
// Hooks that see every netfilter drop, whatever the backend; `capture`:
// the twins of their programs that also capture packets (--pcap).
std::vector<HookSpec> drop_hooks(KfreeSkbArgs args, bool capture = false);
// The log call of a conntrack helper dropping a packet: a kprobe on every
// backend (the function is variadic, fentry cannot attach to it). Without
// it, helper drops are reported as rule drops.
const HookSpec& helper_drop_hook();
// Hooks on conntrack's own functions that name the entries early_drop()
// evicts; they are used together, all with one backend, or not at all.
const std::vector<HookSpec>& drop_cause_hooks();
// The one of them that runs at every entry's end, not only in a full
// table: attached only while a table is filling (--arm-at).
inline const std::string kEvictedEntriesHook = "ct_delete";

// The moment conntrack becomes active in a namespace: its hook being
// registered (fentry, kprobe), else nfnetlink sends (tracepoint).
const std::vector<HookSpec>& activation_hooks();

// Which backend hooks conntrack's own functions (the cause hooks, and the
// allocation for creations): none (backend nullopt) on the tracepoint
// backend. Drop causes come from conntrack's counters at kfree_skb on
// every backend.
struct CausePlan {
    std::optional<Backend> backend;
    // conntrack's functions live in the nf_conntrack module: the hooks are
    // kprobes (which, unlike fentry, leave the module free to be unloaded),
    // attached whenever the module is loaded, from the moment it loads.
    bool follows_module = false;
};

// The backend all cause hooks can use: where conntrack is a module,
// kprobes that follow it; otherwise fentry, else kprobe (only the forced
// one when forced); no backend when none can, or tracepoint is forced.
// Throws Failure(unsupported) naming what is missing when a forced fentry
// or kprobe backend cannot be used.
CausePlan plan_cause_hooks(AttachProbe& probe, std::optional<Backend> forced);
// The cause hooks' programs of one backend (of one hook when named), exit
// programs first.
std::vector<std::string> cause_programs(Backend b, const std::optional<std::string>& hook = std::nullopt);

// Where a hook was given up: no candidate the kernel offers (plan), the
// kernel refused its programs (load) or to attach them (attach), or the
// source it belongs to could not start (setup).
enum class HookStage { plan, load, attach, setup };
const char* to_string(HookStage s);

// One hook of a selection: how it is traced, or why it is not.
struct HookOutcome {
    std::string hook;
    std::string purpose;
    bool required = false;
    std::optional<AttachCandidate> chosen;  // the candidate planned for it
    bool traced = false;                    // its programs are attached
    std::optional<HookStage> failed_at;     // set when it is not traced
    std::string reason;                     // why not
};

// Which optional hooks to load with the required ones after the kernel
// refused a BPF object with all of them (an object is loaded as a whole;
// programs are verified one by one, so a refused program is refused with
// any company). The required hooks are tried alone first, then each
// optional hook added in turn, keeping those that load; when all but the
// last loaded, the last is the refused one without trying. At most one load
// per optional hook plus two; the last successful load is always of kept().
class LoadRetryPlan {
public:
    // optional: the optional hooks of the refused load, in order;
    // first_error: its negative errno.
    LoadRetryPlan(std::vector<std::string> optional, int first_error);
    // The optional hooks to load with the required ones next; nullopt once
    // decided.
    const std::optional<std::vector<std::string>>& next() const { return next_; }
    // The outcome (0 or a negative errno) of loading what next() named.
    void record(int err);
    // Set when the required hooks are refused even alone.
    std::optional<int> required_error() const { return required_error_; }
    const std::vector<std::string>& kept() const { return kept_; }
    // Optional hooks refused, with the error of the load that showed it.
    const std::vector<std::pair<std::string, int>>& refused() const { return refused_; }

private:
    void advance();

    enum class Step { required_alone, adding, reloading_kept };
    std::vector<std::string> optional_;
    int first_error_;
    Step step_ = Step::required_alone;
    std::size_t position_ = 0;  // the optional hook being tried
    bool last_failed_ = false;
    std::optional<std::vector<std::string>> next_;
    std::vector<std::string> kept_;
    std::vector<std::pair<std::string, int>> refused_;
    std::optional<int> required_error_;
};

// A required hook the kernel refused: what() says which and why; outcomes()
// are the selection's hooks as they stood (doctor reports them).
class HookRefused : public Failure {
public:
    HookRefused(const std::string& what, std::vector<HookOutcome> outcomes);
    const std::vector<HookOutcome>& outcomes() const { return outcomes_; }

private:
    std::vector<HookOutcome> outcomes_;
};

// What a source sets on a BPF object between open and load (its .rodata and
// .bss values, map sizes, the programs to load), to be given to the same
// object opened again.
class ObjectSettings {
public:
    explicit ObjectSettings(const bpf_object* obj);
    // Throws Failure when obj is not the object the settings came from.
    void apply_to(bpf_object* obj) const;

private:
    struct Map {
        std::string name;
        uint32_t max_entries;
        std::vector<unsigned char> initial_value;
    };
    std::vector<Map> maps_;
    std::vector<std::pair<std::string, bool>> autoload_;  // program name, loaded
};

// The hooks chosen for one BPF object: only their programs are loaded. An
// optional hook the kernel refuses (at load or at attach) is reported and
// left out while the others run; a required one ends the command (exit 3).
class HookSelection {
public:
    // Plans every hook and sets each program's autoload accordingly. Throws
    // Failure(unsupported) when a required hook has no usable candidate.
    HookSelection(bpf_object* obj, const std::vector<HookSpec>& specs, KernelProbe& probe,
                  std::optional<Backend> forced);
    // Loads `skel`, the object this selection was made on, as its source
    // configured it. An object is loaded once, failed or not: when the
    // kernel refuses it while optional hooks are part of it, the skeleton is
    // opened again, given the same configuration, and loaded without them as
    // LoadRetryPlan says; the optional hooks it refuses are given up. Throws
    // HookRefused when the required hooks are refused.
    template <class Skel>
    void load(Skeleton<Skel>& skel, const std::string& what);
    // After the object is loaded: attaches the chosen programs. Throws
    // HookRefused when a required hook's programs cannot be attached.
    void attach();
    void detach();
    // The same for one hook of the selection (by HookSpec name), for hooks
    // attached only while they are needed: its outcome says whether it is
    // attached now. attach(hook) does nothing when it is attached already
    // or was given up.
    void attach(const std::string& hook);
    void detach(const std::string& hook);
    // "module_request=tp_btf, module_load=tp_btf, ..." (hooks not given up)
    std::string describe() const;
    // Every hook of the specs, in their order.
    const std::vector<HookOutcome>& outcomes() const { return outcomes_; }
    // The attached programs (for their run-time statistics).
    std::vector<bpf_program*> programs() const;
    // The backend of the hooks not given up, e.g. "tracepoint".
    std::string backend() const;
    // The line printed once attached: "nfsleuth: tracing WHAT (backend B:
    // hooks); not traced: HOOK (why); Ctrl-C to stop".
    std::string banner(const std::string& what, const std::string& backend_name, bool timed) const;

private:
    struct Chosen {
        std::size_t outcome;  // index in outcomes_
        std::vector<bpf_program*> progs;  // empty while not enabled
        std::vector<Link> links;
    };
    // Sets the autoload of the chosen hooks' programs: the required hooks'
    // and the optional ones named are loaded. Programs of no chosen hook
    // are left as they are.
    void enable(bpf_object* obj, const std::vector<std::string>& optional);
    std::vector<std::string> enabled_optional() const;
    void attach_chosen(Chosen& c);
    // Records what a retried load found, or throws for the required hooks.
    void settle(const LoadRetryPlan& plan, const std::string& what);

    std::optional<std::string> btf_path_;
    std::vector<HookOutcome> outcomes_;
    std::vector<Chosen> chosen_;
};

template <class Skel>
void HookSelection::load(Skeleton<Skel>& skel, const std::string& what) {
    const ObjectSettings settings(skel->obj);
    int err = skel.load();
    if (err == 0) return;
    LoadRetryPlan plan(enabled_optional(), err);
    // The first refusal's log was shown; the search would repeat it.
    QuietLibbpf quiet;
    while (const auto& attempt = plan.next()) {
        skel = Skeleton<Skel>(btf_path_);
        settings.apply_to(skel->obj);
        enable(skel->obj, *attempt);
        plan.record(skel.load());
    }
    settle(plan, what);
}

}  // namespace nfsleuth
