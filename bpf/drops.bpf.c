// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Conntrack drop attribution, on every backend: every packet netfilter
 * drops passes skb:kfree_skb, with reason NETFILTER_DROP (5.17 and later)
 * or freed from nf_hook_slow (before). Which of those were
 * conntrack's doing is decided from kernel state at that moment:
 *
 *  - no conntrack entry on the skb, and this CPU's conntrack `drop` counter
 *    of the packet's netns moved since the last drop we classified:
 *    conntrack refused to create an entry (table full), or, if the
 *    `invalid` counter moved with it, judged the packet invalid;
 *  - an entry on the skb and the `insert_failed` counter moved: a clash on
 *    confirm;
 *  - otherwise a netfilter rule or verdict dropped it.
 *
 * Nothing here runs for a packet that is not dropped. One object, one
 * skeleton; its parts, one concern each:
 *   drops_flow.bpf.h      the flow from the packet's headers
 *   drops_classify.bpf.h  the cause from conntrack's per-CPU statistics
 *   drops_aggregate.bpf.h per-flow counts, first-drop records, accounting
 *   drops_origin.bpf.h    the hook and the sending process of a first drop
 *   drops_frames.bpf.h    state between conntrack's own calls (evictions,
 *                         helper drops), for the fentry/kprobe programs
 *   drops_capture.bpf.h   the first bytes of a flow's first dropped packets
 *                         (--pcap: only in the *_pcap twins of the programs)
 * This file: the kfree_skb entry points and the programs on conntrack's
 * functions.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include "conntrack.bpf.h"
#include "drops.h"
#include "wire.bpf.h"
#include "drops_flow.bpf.h"
#include "drops_classify.bpf.h"
#include "drops_aggregate.bpf.h"
#include "drops_origin.bpf.h"
#include "drops_frames.bpf.h"
#include "drops_capture.bpf.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* Kernels before 5.17 give skb:kfree_skb no drop reason: there a netfilter
 * drop is a kfree_skb() called from nf_hook_slow(), whose text userspace
 * finds in kallsyms ([start, end)). */
const volatile __u64 nf_hook_slow_start = 0;
const volatile __u64 nf_hook_slow_end = 0;

/* `capture`: a constant at every call, true only in the --pcap twins of
 * the programs below: the others hold no instruction of the capture. */
static __always_inline int on_netfilter_drop(void *ctx, struct sk_buff *skb, bool typed, bool capture)
{
	struct nfs_drop_key key = {};
	struct nfs_drop_origin origin;
	struct nfs_drop_value *counted;
	struct net_device *in_dev = NFS_FIELD(typed, skb, dev);
	struct sock *sk = NFS_FIELD(typed, skb, sk);
	unsigned long nfct = NFS_FIELD(typed, skb, _nfct);
	struct nf_conn *ct = (struct nf_conn *)(nfct & ~NFS_NFCT_INFOMASK);
	__u32 iif = NFS_FIELD(typed, skb, skb_iif);
	struct net_device *out_dev = NULL;
	struct dst_entry *dst;
	struct net *net;

	/* The packet's namespace: its device's, or for one not yet given a
	 * device (local output), its socket's; else its route's. */
	if (in_dev) {
		net = NFS_FIELD(typed, in_dev, nd_net.net);
		key.netns_ino = NFS_FIELD(typed, net, ns.inum);
	} else if (sk) {
		net = NFS_FIELD(typed, sk, __sk_common.skc_net.net);
		key.netns_ino = NFS_FIELD(typed, net, ns.inum);
	} else {
		/* An untyped pointer (the low bit of _skb_refdst is a flag). */
		dst = (struct dst_entry *)(NFS_FIELD(typed, skb, _skb_refdst) & ~NFS_SKB_DST_NOREF);
		out_dev = dst ? BPF_CORE_READ(dst, dev) : NULL;
		if (!out_dev)
			return 0;
		net = BPF_CORE_READ(out_dev, nd_net.net);
		key.netns_ino = BPF_CORE_READ(net, ns.inum);
	}
	parse_flow(skb, &key.flow, typed);
	if (ct)
		key.zone = ct_zone_id(ct);
	key.cause = take_helper_mark(skb) ? NFS_CAUSE_HELPER : classify(net, key.netns_ino, ct != NULL);
	key.hook = guess_hook(key.cause, iif);
	counted = count_into_aggregate(&key);
	if (counted) {
		if (capture)
			capture_later_drop(skb, typed, &key, counted);
		return 0;
	}

	/* Only a flow's first drop gets this far. */
	__builtin_memset(&origin, 0, sizeof(origin));
	if (key.hook == NFS_HOOK_UNKNOWN) {
		__u8 hook = hook_from_stack(ctx);

		origin.stack_hook = hook == NFS_HOOK_UNKNOWN ? 0 : hook + 1;
	}
	if (iif) {
		origin.in_ifindex = iif;
		if (in_dev)
			BPF_CORE_READ_STR_INTO(&origin.in_if, in_dev, name);
	} else {
		origin.flags |= NFS_ORIGIN_LOCAL;
		if (sk)
			attribute_sender(sk, &key.flow, &origin);
	}
	if (!out_dev) {
		dst = (struct dst_entry *)(NFS_FIELD(typed, skb, _skb_refdst) & ~NFS_SKB_DST_NOREF);
		out_dev = dst ? BPF_CORE_READ(dst, dev) : NULL;
	}
	if (out_dev) {
		origin.out_ifindex = BPF_CORE_READ(out_dev, ifindex);
		BPF_CORE_READ_STR_INTO(&origin.out_if, out_dev, name);
	}
	record_first_drop(&key, &origin);
	if (capture)
		capture_first_drop(skb, typed, &key, &origin);
	return 0;
}

static __always_inline bool freed_in_nf_hook_slow(void *location)
{
	__u64 at = (__u64)(unsigned long)location;

	return at >= nf_hook_slow_start && at < nf_hook_slow_end;
}

static __always_inline int on_kfree_skb(void *ctx, struct sk_buff *skb, void *location, int reason, bool typed,
					bool capture)
{
	/* Drop reasons arrived in 5.17, NETFILTER_DROP among them;
	 * where the enum lacks it, the call site tells. */
	if (bpf_core_enum_value_exists(enum skb_drop_reason, SKB_DROP_REASON_NETFILTER_DROP)) {
		if (reason != bpf_core_enum_value(enum skb_drop_reason, SKB_DROP_REASON_NETFILTER_DROP))
			return 0;
	} else if (!freed_in_nf_hook_slow(location)) {
		return 0;
	}
	return on_netfilter_drop(ctx, skb, typed, capture);
}

static __always_inline int on_kfree_skb_at(void *ctx, struct sk_buff *skb, void *location, bool typed, bool capture)
{
	if (!freed_in_nf_hook_slow(location))
		return 0;
	return on_netfilter_drop(ctx, skb, typed, capture);
}

/* The tracepoint's arguments since 5.17: (skb, location, reason). */
SEC("tp_btf/kfree_skb")
int BPF_PROG(btf_kfree_skb, struct sk_buff *skb, void *location, enum skb_drop_reason reason)
{
	return on_kfree_skb(ctx, skb, location, reason, true, false);
}

SEC("raw_tp/kfree_skb")
int BPF_PROG(raw_kfree_skb, struct sk_buff *skb, void *location, int reason)
{
	return on_kfree_skb(ctx, skb, location, reason, false, false);
}

/* Before 5.17: (skb, location). Reading a third argument would be refused. */
SEC("tp_btf/kfree_skb")
int BPF_PROG(btf_kfree_skb_at, struct sk_buff *skb, void *location)
{
	return on_kfree_skb_at(ctx, skb, location, true, false);
}

SEC("raw_tp/kfree_skb")
int BPF_PROG(raw_kfree_skb_at, struct sk_buff *skb, void *location)
{
	return on_kfree_skb_at(ctx, skb, location, false, false);
}

/* The same four with --pcap: userspace loads these instead. */
SEC("tp_btf/kfree_skb")
int BPF_PROG(btf_kfree_skb_pcap, struct sk_buff *skb, void *location, enum skb_drop_reason reason)
{
	return on_kfree_skb(ctx, skb, location, reason, true, true);
}

SEC("raw_tp/kfree_skb")
int BPF_PROG(raw_kfree_skb_pcap, struct sk_buff *skb, void *location, int reason)
{
	return on_kfree_skb(ctx, skb, location, reason, false, true);
}

SEC("tp_btf/kfree_skb")
int BPF_PROG(btf_kfree_skb_pcap_at, struct sk_buff *skb, void *location)
{
	return on_kfree_skb_at(ctx, skb, location, true, true);
}

SEC("raw_tp/kfree_skb")
int BPF_PROG(raw_kfree_skb_pcap_at, struct sk_buff *skb, void *location)
{
	return on_kfree_skb_at(ctx, skb, location, false, true);
}

/* fentry/fexit twins. */
SEC("fentry/early_drop")
int BPF_PROG(fentry_early_drop)
{
	on_early_drop_enter();
	return 0;
}

SEC("fexit/early_drop")
int BPF_PROG(fexit_early_drop)
{
	on_early_drop_exit();
	return 0;
}

SEC("fentry/nf_ct_delete")
int BPF_PROG(fentry_nf_ct_delete, struct nf_conn *ct)
{
	on_ct_delete(ct);
	return 0;
}

/* kprobe/kretprobe twins. */
SEC("kprobe/early_drop")
int BPF_KPROBE(kprobe_early_drop)
{
	on_early_drop_enter();
	return 0;
}

SEC("kretprobe/early_drop")
int BPF_KRETPROBE(kretprobe_early_drop)
{
	on_early_drop_exit();
	return 0;
}

SEC("kprobe/nf_ct_delete")
int BPF_KPROBE(kprobe_nf_ct_delete, struct nf_conn *ct)
{
	on_ct_delete(ct);
	return 0;
}

/* GCC may split nf_ct_delete() and have early_drop() call the split-off
 * part directly (Debian's 5.10: nf_ct_delete.part.0(ct, 0, 0)), bypassing
 * the exported function. A clone has no BTF: kprobe only, where it exists. */
SEC("kprobe/nf_ct_delete.part.0")
int BPF_KPROBE(kprobe_nf_ct_delete_part, struct nf_conn *ct)
{
	on_ct_delete(ct);
	return 0;
}

/* Variadic: no fentry (trampolines refuse variadic functions), kprobe on
 * every backend. */
SEC("kprobe/nf_ct_helper_log")
int BPF_KPROBE(kprobe_nf_ct_helper_log, struct sk_buff *skb)
{
	on_helper_log(skb);
	return 0;
}
