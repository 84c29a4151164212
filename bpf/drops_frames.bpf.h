/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * State carried between conntrack's own calls on one CPU (or task): the
 * entries early_drop() evicts, and the packets a helper says it drops.
 * Used by the fentry/kprobe programs of drops.bpf.c.
 */
#ifndef NFSLEUTH_DROPS_FRAMES_BPF_H
#define NFSLEUTH_DROPS_FRAMES_BPF_H

#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_endian.h>
#include "conntrack.bpf.h"
#include "drops.h"
#include "drops_aggregate.bpf.h"
#include "wire.bpf.h"
#include "maps.bpf.h"

/* Helper drops marked at once on one CPU (a softirq may interrupt a
 * process-context hook): a power of two, for indexes the verifier bounds. */
#define NFS_MARKS 4
#define NFS_MARK_LIFETIME_NS 10000000ULL

/*
 * Conntrack's own functions, hooked with fentry or kprobes where the kernel
 * allows (the fentry and kprobe backends; the programs in drops.bpf.c);
 * each runs only on a path of drops or of a full table, never per packet:
 *  - early_drop(), entered only when the table is full, and the
 *    nf_ct_delete() calls inside it: the entries evicted to make room;
 *  - nf_ct_helper_log(): a conntrack helper dropping a packet.
 * Causes of the drops themselves come from conntrack's counters
 * (drops_classify.bpf.h).
 */
struct helper_mark {
	__u64 skb;
	__u64 ns; /* when the helper said it: a mark its drop never took expires */
};

struct cpu_state {
	struct helper_mark marks[NFS_MARKS];
	__u32 in_early_drop;
	__u32 marked; /* marks set and not taken yet: most drops need not look */
	__u64 last_evicted; /* the entry last reported in this early_drop() */
};

NFS_MAP(BPF_MAP_TYPE_PERCPU_ARRAY, cpu_states, __u32, struct cpu_state, 1);

/* PREEMPT_RT runs netfilter hooks preemptibly (softirqs in threads, local
 * output in the sender's context with only migration disabled): two tasks
 * can be inside conntrack on one CPU at once, so the state is kept per
 * task there. Set by userspace from /sys/kernel/realtime. */
const volatile bool state_per_task = false;

/* Keyed by the task_struct (pid 0 is every CPU's idle task). */
NFS_MAP(BPF_MAP_TYPE_LRU_HASH, task_states, __u64, struct cpu_state, 8192);

static __always_inline struct cpu_state *this_cpu_state(void)
{
	__u64 task = bpf_get_current_task();
	struct cpu_state *st;
	__u32 zero = 0;

	if (!state_per_task)
		return bpf_map_lookup_elem(&cpu_states, &zero);
	st = bpf_map_lookup_elem(&task_states, &task);
	if (st)
		return st;
	/* A zeroed state to start from: this CPU's slot of cpu_states, which
	 * stays unused (and zero) when the state is kept per task. */
	st = bpf_map_lookup_elem(&cpu_states, &zero);
	if (!st)
		return NULL;
	bpf_map_update_elem(&task_states, &task, st, BPF_NOEXIST);
	return bpf_map_lookup_elem(&task_states, &task);
}

/* Helper marks set and not taken yet, over all CPUs (the sum of their
 * `marked`): a drop looks at its CPU's marks only while there are any. */
__u32 helper_marks_pending = 0;

static __always_inline bool mark_fresh(const struct helper_mark *m, __u64 now)
{
	return m->skb && now - m->ns < NFS_MARK_LIFETIME_NS;
}

/* nf_ct_helper_log() is how a conntrack helper says it is dropping the
 * packet it was given ("nf_ct_ftp: dropping packet: ..."): every in-tree
 * helper calls it on the way to returning NF_DROP, and nothing else does.
 * The kfree_skb of that drop follows at once and takes the mark. */
static __always_inline void on_helper_log(struct sk_buff *skb)
{
	struct cpu_state *st = this_cpu_state();
	__u64 now = bpf_ktime_get_ns();
	int slot = 0;

	if (!st)
		return;
	for (int i = 0; i < NFS_MARKS; i++) {
		if (!mark_fresh(&st->marks[i], now)) {
			slot = i;
			break;
		}
	}
	st->marks[slot & (NFS_MARKS - 1)].skb = (__u64)(unsigned long)skb;
	st->marks[slot & (NFS_MARKS - 1)].ns = now;
	st->marked += 1;
	__sync_fetch_and_add(&helper_marks_pending, 1);
}

static __always_inline bool take_helper_mark(struct sk_buff *skb)
{
	struct cpu_state *st;
	__u64 now;

	if (!helper_marks_pending)
		return false;
	st = this_cpu_state();
	if (!st || !st->marked)
		return false;
	now = bpf_ktime_get_ns();
	for (int i = 0; i < NFS_MARKS; i++) {
		if (st->marks[i].skb == (__u64)(unsigned long)skb && mark_fresh(&st->marks[i], now)) {
			st->marks[i].skb = 0;
			st->marked -= 1;
			__sync_fetch_and_add(&helper_marks_pending, -1);
			return true;
		}
	}
	/* What is left has expired (its drop was never seen): stop looking. */
	for (int i = 0; i < NFS_MARKS; i++) {
		if (mark_fresh(&st->marks[i], now))
			return false;
	}
	__sync_fetch_and_add(&helper_marks_pending, -st->marked);
	st->marked = 0;
	return false;
}

/* An entry evicted by early_drop() to make room is a casualty of a full
 * table: its flow is reported with cause early_drop. nf_ct_delete() also
 * ends every other entry; those calls return after one load of this count
 * of early_drop() calls in progress anywhere. */
__u32 evicting = 0;

static __always_inline void on_early_drop_enter(void)
{
	struct cpu_state *st = this_cpu_state();

	__sync_fetch_and_add(&evicting, 1);
	if (st) {
		st->in_early_drop += 1;
		st->last_evicted = 0;
	}
}

static __always_inline void on_early_drop_exit(void)
{
	struct cpu_state *st = this_cpu_state();

	if (evicting)
		__sync_fetch_and_add(&evicting, -1);
	if (st && st->in_early_drop)
		st->in_early_drop -= 1;
}

static __always_inline void on_ct_delete(struct nf_conn *ct)
{
	struct nfs_drop_key key = {};
	struct nfs_drop_origin origin = {};
	struct nf_conntrack_tuple *t;
	struct cpu_state *st;
	struct net *net;

	if (!evicting)
		return;
	st = this_cpu_state();
	if (!st || !st->in_early_drop)
		return;
	/* early_drop() also reaps the expired entries it walks past
	 * (nf_ct_gc_expired()): those end, they are not evicted, and the
	 * kernel does not count them. An entry it evicts has not expired. */
	if ((__s32)(BPF_CORE_READ(ct, timeout) - (__u32)bpf_jiffies64()) <= 0)
		return;
	/* Both nf_ct_delete and its .part.0 clone are hooked where the
	 * compiler split it: a call through the first reaches the second. */
	if (st->last_evicted == (__u64)(unsigned long)ct)
		return;
	st->last_evicted = (__u64)(unsigned long)ct;
	t = &ct->tuplehash[0].tuple; /* IP_CT_DIR_ORIGINAL */
	net = BPF_CORE_READ(ct, ct_net.net);
	key.netns_ino = BPF_CORE_READ(net, ns.inum);
	key.cause = NFS_CAUSE_EARLY_DROP;
	key.hook = NFS_HOOK_UNKNOWN;
	key.zone = ct_zone_id(ct);
	key.flow.family = BPF_CORE_READ(t, src.l3num);
	key.flow.proto = BPF_CORE_READ(t, dst.protonum);
	bpf_core_read(key.flow.saddr, sizeof(key.flow.saddr), &t->src.u3);
	bpf_core_read(key.flow.daddr, sizeof(key.flow.daddr), &t->dst.u3);
	switch (key.flow.proto) {
	case NFS_IPPROTO_ICMP:
	case NFS_IPPROTO_ICMPV6:
		key.flow.icmp_type = BPF_CORE_READ(t, dst.u.icmp.type);
		key.flow.icmp_code = BPF_CORE_READ(t, dst.u.icmp.code);
		break;
	default:
		key.flow.sport = bpf_ntohs(BPF_CORE_READ(t, src.u.all));
		key.flow.dport = bpf_ntohs(BPF_CORE_READ(t, dst.u.all));
	}
	if (key.flow.family == NFS_AF_INET_ABI) {
		/* Only the first 4 bytes are the address. */
		__builtin_memset(&key.flow.saddr[4], 0, 12);
		__builtin_memset(&key.flow.daddr[4], 0, 12);
	}
	if (!count_into_aggregate(&key))
		record_first_drop(&key, &origin);
}

#endif
