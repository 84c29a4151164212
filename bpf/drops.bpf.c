// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Conntrack drop attribution, tracepoint backend: every packet netfilter
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
 * Drops are folded per (netns, cause, hook, flow) in an LRU map; the first
 * drop of a key is also sent at once over the ring buffer, userspace reads
 * the counts every interval. Per-CPU counters account for every drop, so
 * totals add up even when records are lost or aggregates evicted.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include "counter.bpf.h"
#include "context.bpf.h"
#include <bpf/bpf_endian.h>
#include "drops.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* Protocol numbers are wire constants, not
 * kernel-internal layout: vmlinux.h carries no macros. */
#define NFS_IPPROTO_ICMP 1
#define NFS_IPPROTO_TCP 6
#define NFS_IPPROTO_UDP 17
#define NFS_IPPROTO_DCCP 33
#define NFS_IPPROTO_ICMPV6 58
#define NFS_IPPROTO_SCTP 132
#define NFS_IPPROTO_UDPLITE 136
/* include/linux/skbuff.h: low bit of _skb_refdst marks a non-refcounted dst;
 * include/linux/netfilter/nf_conntrack_common.h: low 3 bits of _nfct are
 * the ctinfo. Both are #defines, invisible to BTF. */
#define NFS_SKB_DST_NOREF 1UL
#define NFS_NFCT_INFOMASK 7UL
/* uapi/linux/netfilter.h verdict */
#define NFS_NF_DROP 0
/* Nesting of netfilter hook calls on one CPU (a softirq may interrupt a
 * process-context hook): deeper calls are not followed. A power of two, so
 * indexes can be masked into bounds the verifier sees. */
#define NFS_FRAME_DEPTH 4
#define NFS_FRAME_MASK (NFS_FRAME_DEPTH - 1)

const volatile __u32 nr_cpus = 1;
/* Set by userspace while the fentry or kprobe hooks on conntrack's own
 * functions are attached: causes then come from what those functions
 * returned, and the statistics are not needed. Not rodata: the hooks come
 * and go with the nf_conntrack module while the programs run. */
bool cause_from_hooks = false;
__u32 backend_id = 3; /* of the records: 1 fentry, 2 kprobe, 3 tracepoint */
/* Kernels before 5.17 give skb:kfree_skb no drop reason: there a netfilter
 * drop is a kfree_skb() called from nf_hook_slow(), whose text userspace
 * finds in kallsyms ([start, end)). */
const volatile __u64 nf_hook_slow_start = 0;
const volatile __u64 nf_hook_slow_end = 0;

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 1024 * 1024);
} drop_events SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384); /* resized by userspace before load */
	__type(key, struct nfs_drop_key);
	__type(value, struct nfs_drop_value);
} drop_aggregates SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, NFS_DROP_CNT_MAX);
	__type(key, __u32);
	__type(value, __u64);
} drop_counters SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, __u64);
	__type(value, struct nfs_owner);
} sock_owners SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 8192);
	__type(key, struct nfs_ct_stat_key);
	__type(value, struct nfs_ct_stat_seen);
} ct_stat_seen SEC(".maps");

/* Scratch space: the value is too large to build on the 512-byte stack
 * next to the key and the origin. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct nfs_drop_value);
} drop_scratch SEC(".maps");


static __always_inline void parse_ports(unsigned char *l4, struct nfs_flow *f)
{
	__u16 ports[2];
	__u8 icmp[2];

	switch (f->proto) {
	case NFS_IPPROTO_TCP:
	case NFS_IPPROTO_UDP:
	case NFS_IPPROTO_UDPLITE:
	case NFS_IPPROTO_SCTP:
	case NFS_IPPROTO_DCCP:
		if (bpf_probe_read_kernel(ports, sizeof(ports), l4) < 0) {
			f->flags |= NFS_FLOW_TRUNCATED;
			return;
		}
		f->sport = bpf_ntohs(ports[0]);
		f->dport = bpf_ntohs(ports[1]);
		break;
	case NFS_IPPROTO_ICMP:
	case NFS_IPPROTO_ICMPV6:
		if (bpf_probe_read_kernel(icmp, sizeof(icmp), l4) < 0) {
			f->flags |= NFS_FLOW_TRUNCATED;
			return;
		}
		f->icmp_type = icmp[0];
		f->icmp_code = icmp[1];
		break;
	}
}

/* Reads the 5-tuple from the packet headers (wire format). */
static __always_inline void parse_flow(struct sk_buff *skb, struct nfs_flow *f)
{
	unsigned char *head = BPF_CORE_READ(skb, head);
	unsigned char *l3 = head + BPF_CORE_READ(skb, network_header);
	__u8 first;

	if (bpf_probe_read_kernel(&first, 1, l3) < 0) {
		f->flags |= NFS_FLOW_TRUNCATED;
		return;
	}
	if ((first >> 4) == 4) {
		__u8 hdr[20];
		__u16 frag;

		if (bpf_probe_read_kernel(hdr, sizeof(hdr), l3) < 0) {
			f->flags |= NFS_FLOW_TRUNCATED;
			return;
		}
		f->family = NFS_AF_INET_ABI;
		f->proto = hdr[9];
		__builtin_memcpy(f->saddr, &hdr[12], 4);
		__builtin_memcpy(f->daddr, &hdr[16], 4);
		frag = ((__u16)hdr[6] << 8 | hdr[7]) & 0x1fff;
		if (frag) /* a later fragment carries no transport header */
			return;
		parse_ports(l3 + (first & 0xf) * 4, f);
	} else if ((first >> 4) == 6) {
		__u8 hdr[40];

		if (bpf_probe_read_kernel(hdr, sizeof(hdr), l3) < 0) {
			f->flags |= NFS_FLOW_TRUNCATED;
			return;
		}
		f->family = NFS_AF_INET6_ABI;
		f->proto = hdr[6]; /* extension headers are reported as the protocol */
		__builtin_memcpy(f->saddr, &hdr[8], 16);
		__builtin_memcpy(f->daddr, &hdr[24], 16);
		parse_ports(l3 + 40, f);
	} else {
		f->flags |= NFS_FLOW_TRUNCATED;
	}
}

enum stat_read { STAT_OK, STAT_NO_CONNTRACK, STAT_UNREADABLE };

static __always_inline enum stat_read read_ct_stat(struct net *net, __u32 cpu, struct nfs_ct_stat_seen *out)
{
	struct ip_conntrack_stat *stat;
	unsigned long offset;

	if (!bpf_core_field_exists(net->ct))
		return STAT_NO_CONNTRACK;
	stat = BPF_CORE_READ(net, ct.stat);
	if (!stat)
		return STAT_NO_CONNTRACK; /* nf_conntrack not loaded */
	if (!cpu_offset(cpu, &offset))
		return STAT_UNREADABLE;
	stat = (struct ip_conntrack_stat *)((unsigned long)stat + offset);
	out->drop = BPF_CORE_READ(stat, drop);
	out->invalid = BPF_CORE_READ(stat, invalid);
	out->insert_failed = BPF_CORE_READ(stat, insert_failed);
	out->early_drop = BPF_CORE_READ(stat, early_drop);
	return STAT_OK;
}

static __always_inline struct nfs_ct_stat_seen *stat_seen(__u32 netns, __u32 cpu)
{
	struct nfs_ct_stat_key k = { .netns_ino = netns, .cpu = cpu };
	struct nfs_ct_stat_seen zero = {};
	struct nfs_ct_stat_seen *seen = bpf_map_lookup_elem(&ct_stat_seen, &k);

	if (seen)
		return seen;
	/* Userspace primes existing namespaces; one created later starts at 0. */
	bpf_map_update_elem(&ct_stat_seen, &k, &zero, BPF_NOEXIST);
	return bpf_map_lookup_elem(&ct_stat_seen, &k);
}

/* Consumes one conntrack drop of (netns, cpu) if its counter moved; 0 if
 * it did not, NFS_CAUSE_UNKNOWN if the counter cannot be read. */
static __always_inline __u8 take_ct_drop(struct net *net, __u32 netns, __u32 cpu)
{
	struct nfs_ct_stat_seen cur = {};
	struct nfs_ct_stat_seen *seen;
	enum stat_read r = read_ct_stat(net, cpu, &cur);
	__u8 cause;

	if (r == STAT_UNREADABLE)
		return NFS_CAUSE_UNKNOWN;
	if (r == STAT_NO_CONNTRACK)
		return NFS_CAUSE_RULE;
	seen = stat_seen(netns, cpu);
	if (!seen)
		return 0;
	/* A counter behind what was seen was reset: nf_conntrack was unloaded
	 * and loaded again. Follow it rather than take every later drop for
	 * conntrack's. */
	if (cur.drop < seen->drop) {
		seen->drop = cur.drop;
		seen->invalid = cur.invalid;
	}
	if (cur.drop == seen->drop)
		return 0;
	cause = cur.invalid != seen->invalid ? NFS_CAUSE_INVALID : NFS_CAUSE_TABLE_FULL;
	__sync_fetch_and_add(&seen->drop, 1);
	seen->invalid = cur.invalid;
	return cause;
}

static __always_inline __u8 classify(struct net *net, __u32 netns, bool has_ct)
{
	__u32 cpu = bpf_get_smp_processor_id();
	struct nfs_ct_stat_seen cur = {};
	struct nfs_ct_stat_seen *seen;
	__u8 cause;

	if (!has_ct) {
		cause = take_ct_drop(net, netns, cpu);
		if (cause)
			return cause;
		/* The sender may have migrated between the counter and the free.
		 * A CPU whose offset is not learnt yet cannot be checked. */
		for (__u32 other = 0; other < NFS_MAX_CPUS && other < nr_cpus; other++) {
			if (other == cpu)
				continue;
			cause = take_ct_drop(net, netns, other);
			if (cause == NFS_CAUSE_TABLE_FULL || cause == NFS_CAUSE_INVALID)
				return cause;
		}
		return NFS_CAUSE_RULE;
	}
	if (read_ct_stat(net, cpu, &cur) != STAT_OK)
		return NFS_CAUSE_RULE;
	seen = stat_seen(netns, cpu);
	if (seen && cur.insert_failed < seen->insert_failed) /* reset, as above */
		seen->insert_failed = cur.insert_failed;
	if (seen && cur.insert_failed != seen->insert_failed) {
		__sync_fetch_and_add(&seen->insert_failed, 1);
		return NFS_CAUSE_INSERT_FAILED;
	}
	return NFS_CAUSE_RULE;
}

/* Names the sending process of a locally generated packet. */
static __always_inline void attribute_sender(struct sock *sk, struct nfs_drop_origin *origin)
{
	__u64 key = (__u64)(unsigned long)sk;
	struct nfs_owner owner = {};
	struct nfs_owner *known;

	if (in_process_context()) {
		fill_owner_from_current(&owner);
		bpf_map_update_elem(&sock_owners, &key, &owner, BPF_ANY);
		origin->flags |= NFS_ORIGIN_PROCESS;
	} else {
		known = bpf_map_lookup_elem(&sock_owners, &key);
		if (!known)
			return;
		owner = *known;
		origin->flags |= NFS_ORIGIN_PROCESS | NFS_ORIGIN_FROM_SOCKET;
	}
	origin->pid = owner.pid;
	origin->tid = owner.tid;
	origin->uid = owner.uid;
	origin->cgroup_id = owner.cgroup_id;
	__builtin_memcpy(origin->comm, owner.comm, sizeof(origin->comm));
}

/* Counts a drop into its flow's aggregate; false when the flow has none
 * yet. Most drops of a storm end here, before anything about their origin
 * (interfaces, sender) is read. */
static __always_inline bool count_into_aggregate(struct nfs_drop_key *key)
{
	struct nfs_drop_value *v;

	nfs_count(&drop_counters, NFS_DROP_CNT_SEEN);
	if (key->cause < NFS_CAUSE_MAX)
		nfs_count(&drop_counters, NFS_DROP_CNT_CAUSE_BASE + key->cause);
	v = bpf_map_lookup_elem(&drop_aggregates, key);
	if (!v)
		return false;
	__sync_fetch_and_add(&v->count, 1);
	v->last_ns = bpf_ktime_get_boot_ns();
	return true;
}

/* A flow's first drop: its aggregate, and a record for userspace. */
static __always_inline void record_first_drop(struct nfs_drop_key *key, struct nfs_drop_origin *origin)
{
	__u64 now = bpf_ktime_get_boot_ns();
	struct nfs_drop_event *ev;
	struct nfs_drop_value *v;
	__u32 zero = 0;

	v = bpf_map_lookup_elem(&drop_scratch, &zero);
	if (!v)
		return;
	v->count = 1;
	v->first_ns = now;
	v->last_ns = now;
	v->origin = *origin;
	if (bpf_map_update_elem(&drop_aggregates, key, v, BPF_NOEXIST) != 0) {
		/* Another CPU created it first: fold into theirs. */
		v = bpf_map_lookup_elem(&drop_aggregates, key);
		if (v)
			__sync_fetch_and_add(&v->count, 1);
		else
			nfs_count(&drop_counters, NFS_DROP_CNT_NO_AGGREGATE);
		return;
	}
	ev = bpf_ringbuf_reserve(&drop_events, sizeof(*ev), 0);
	if (!ev) {
		nfs_count(&drop_counters, NFS_DROP_CNT_LOST);
		return;
	}
	ev->ts_boot_ns = now;
	ev->backend = backend_id;
	ev->pad = 0;
	ev->key = *key;
	ev->origin = *origin;
	bpf_ringbuf_submit(ev, 0);
}

/* Conntrack creates entries at PRE_ROUTING (received) and LOCAL_OUT
 * (generated here) only, so its own drops happen there; a rule's hook is
 * not visible from the tracepoint alone. */
static __always_inline __u8 guess_hook(__u8 cause, __u32 iif)
{
	switch (cause) {
	case NFS_CAUSE_TABLE_FULL:
	case NFS_CAUSE_INVALID:
		return iif ? bpf_core_enum_value(enum nf_inet_hooks, NF_INET_PRE_ROUTING)
			   : bpf_core_enum_value(enum nf_inet_hooks, NF_INET_LOCAL_OUT);
	case NFS_CAUSE_INSERT_FAILED:
	case NFS_CAUSE_HELPER: /* both happen as conntrack confirms the entry */
		return iif ? NFS_HOOK_UNKNOWN : bpf_core_enum_value(enum nf_inet_hooks, NF_INET_POST_ROUTING);
	default:
		return NFS_HOOK_UNKNOWN;
	}
}

/*
 * fentry/kprobe backend. Calls of nf_hook_slow, nf_conntrack_in and
 * __nf_conntrack_confirm are followed on a small per-CPU stack; when
 * conntrack itself returns NF_DROP, a mark names the skb and the cause, and
 * the kfree_skb that follows consumes it (so does a helper's log call, see
 * on_helper_log). A drop without a mark is a rule's.
 */
struct ct_frame {
	__u64 skb;
	__u8 hook;
	__u8 alloc_failed;   /* __nf_conntrack_alloc returned an error inside */
	__u8 pad[2];
	__u32 invalid_before; /* this CPU's `invalid` counter at entry */
};

struct ct_frames {
	__u32 depth;
	__u32 pad;
	struct ct_frame f[NFS_FRAME_DEPTH];
};

struct drop_mark {
	__u64 skb;
	__u8 cause;
	__u8 hook;
	__u8 pad[6];
};

struct cpu_state {
	struct ct_frames hook_calls;    /* nf_hook_slow */
	struct ct_frames ct_in_calls;   /* nf_conntrack_in */
	struct ct_frames confirm_calls; /* __nf_conntrack_confirm */
	struct drop_mark marks[NFS_FRAME_DEPTH];
	__u32 in_early_drop;
	__u32 pad;
	__u64 last_evicted; /* the entry last reported in this early_drop() */
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct cpu_state);
} cpu_states SEC(".maps");

/* PREEMPT_RT runs netfilter hooks preemptibly (softirqs in threads, local
 * output in the sender's context with only migration disabled): two tasks
 * can be inside hooks on one CPU at once, so the call frames are kept per
 * task there. Set by userspace from /sys/kernel/realtime. */
const volatile bool frames_per_task = false;

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 8192);
	__type(key, __u64); /* the task_struct: pid 0 is every CPU's idle task */
	__type(value, struct cpu_state);
} task_states SEC(".maps");

static __always_inline struct cpu_state *this_cpu_state(void)
{
	__u64 task = bpf_get_current_task();
	struct cpu_state *st;
	__u32 zero = 0;

	if (!frames_per_task)
		return bpf_map_lookup_elem(&cpu_states, &zero);
	st = bpf_map_lookup_elem(&task_states, &task);
	if (st)
		return st;
	/* A zeroed state to start from: this CPU's slot of cpu_states, which
	 * stays unused (and zero) when frames are kept per task. */
	st = bpf_map_lookup_elem(&cpu_states, &zero);
	if (!st)
		return NULL;
	bpf_map_update_elem(&task_states, &task, st, BPF_NOEXIST);
	return bpf_map_lookup_elem(&task_states, &task);
}

static __always_inline struct ct_frame *frame_push(struct ct_frames *s, struct sk_buff *skb, __u8 hook)
{
	__u32 d = s->depth;

	struct ct_frame *f;

	/* Deeper than any real nesting: exits were missed (a program attached
	 * between a call's entry and its exit, a return probe that did not
	 * fire). Start over rather than stay broken. */
	if (d >= NFS_FRAME_DEPTH)
		d = 0;
	s->depth = d + 1;
	f = &s->f[d & NFS_FRAME_MASK];
	f->skb = (__u64)(unsigned long)skb;
	f->hook = hook;
	f->alloc_failed = 0;
	f->invalid_before = 0;
	return f;
}

static __always_inline struct ct_frame *frame_top(struct ct_frames *s)
{
	__u32 d = s->depth;

	if (d == 0 || d > NFS_FRAME_DEPTH)
		return NULL;
	return &s->f[(d - 1) & NFS_FRAME_MASK];
}

static __always_inline struct ct_frame *frame_pop(struct ct_frames *s)
{
	struct ct_frame *f;

	if (s->depth == 0)
		return NULL;
	f = frame_top(s);
	s->depth -= 1;
	return f;
}

/* Pops down to the frame of this skb (frames of calls whose exit was
 * missed are discarded); skb 0 (a return probe cannot see it) pops one. */
static __always_inline struct ct_frame *frame_pop_for(struct ct_frames *s, __u64 skb)
{
	for (int i = 0; i < NFS_FRAME_DEPTH; i++) {
		struct ct_frame *f = frame_pop(s);

		if (!f || !skb || f->skb == skb)
			return f;
	}
	return NULL;
}

/* The hook an skb is being run through on this CPU, if known. */
static __always_inline __u8 current_hook(struct cpu_state *st, struct sk_buff *skb)
{
	for (int i = 0; i < NFS_FRAME_DEPTH; i++) {
		if (i < st->hook_calls.depth && st->hook_calls.f[i].skb == (__u64)(unsigned long)skb)
			return st->hook_calls.f[i].hook;
	}
	return NFS_HOOK_UNKNOWN;
}

static __always_inline void set_mark(struct cpu_state *st, struct sk_buff *skb, __u8 cause, __u8 hook)
{
	int free_slot = -1;

	for (int i = 0; i < NFS_FRAME_DEPTH; i++) {
		if (st->marks[i].skb == 0 && free_slot < 0)
			free_slot = i;
	}
	if (free_slot < 0)
		free_slot = 0; /* a stale mark (its free was never seen) gives way */
	if (free_slot < NFS_FRAME_DEPTH) {
		st->marks[free_slot].skb = (__u64)(unsigned long)skb;
		st->marks[free_slot].cause = cause;
		st->marks[free_slot].hook = hook;
	}
}

static __always_inline void take_mark(struct sk_buff *skb, __u8 *cause, __u8 *hook)
{
	struct cpu_state *st = this_cpu_state();

	*cause = NFS_CAUSE_RULE;
	*hook = NFS_HOOK_UNKNOWN;
	if (!st)
		return;
	*hook = current_hook(st, skb);
	for (int i = 0; i < NFS_FRAME_DEPTH; i++) {
		if (st->marks[i].skb == (__u64)(unsigned long)skb) {
			*cause = st->marks[i].cause;
			if (st->marks[i].hook != NFS_HOOK_UNKNOWN)
				*hook = st->marks[i].hook;
			st->marks[i].skb = 0;
			return;
		}
	}
}

static __always_inline __u32 this_cpu_invalid(struct net *net)
{
	struct nfs_ct_stat_seen cur = {};

	if (read_ct_stat(net, bpf_get_smp_processor_id(), &cur) != STAT_OK)
		return 0;
	return cur.invalid;
}

static __always_inline void on_hook_slow_enter(struct sk_buff *skb, const struct nf_hook_state *state)
{
	struct cpu_state *st = this_cpu_state();

	if (st)
		frame_push(&st->hook_calls, skb, BPF_CORE_READ(state, hook));
}

static __always_inline void clear_mark(struct cpu_state *st, __u64 skb)
{
	for (int i = 0; i < NFS_FRAME_DEPTH; i++) {
		if (st->marks[i].skb == skb)
			st->marks[i].skb = 0;
	}
}

static __always_inline void on_hook_slow_exit(__u64 skb)
{
	struct cpu_state *st = this_cpu_state();
	struct ct_frame *f;

	if (!st)
		return;
	f = frame_pop_for(&st->hook_calls, skb);
	/* A drop inside this call took its mark; one left is of a packet
	 * that was let through after all, and must not outlive it. */
	if (f)
		clear_mark(st, f->skb);
}

static __always_inline void on_ct_in_enter(struct sk_buff *skb, const struct nf_hook_state *state)
{
	struct cpu_state *st = this_cpu_state();
	struct ct_frame *f;

	if (!st)
		return;
	f = frame_push(&st->ct_in_calls, skb, BPF_CORE_READ(state, hook));
	if (f)
		f->invalid_before = this_cpu_invalid(BPF_CORE_READ(state, net));
}

static __always_inline void on_alloc_exit(long ret)
{
	struct cpu_state *st = this_cpu_state();
	struct ct_frame *f;

	/* IS_ERR(): the top 4095 values are errors; -ENOMEM means table full. */
	if (!st || (unsigned long)ret < (unsigned long)-4095)
		return;
	f = frame_top(&st->ct_in_calls);
	if (f)
		f->alloc_failed = 1;
}

static __always_inline void on_ct_in_exit(__u64 exiting_skb, struct net *net, unsigned int verdict)
{
	struct cpu_state *st = this_cpu_state();
	struct ct_frame *f;
	struct sk_buff *skb;
	__u8 cause;

	if (!st)
		return;
	f = frame_pop_for(&st->ct_in_calls, exiting_skb);
	if (!f || verdict != NFS_NF_DROP)
		return;
	skb = (struct sk_buff *)(unsigned long)f->skb;
	if (f->alloc_failed)
		cause = NFS_CAUSE_TABLE_FULL;
	else if (this_cpu_invalid(net) != f->invalid_before)
		cause = NFS_CAUSE_INVALID;
	else
		cause = NFS_CAUSE_OTHER_CT;
	set_mark(st, skb, cause, f->hook);
}

static __always_inline void on_confirm_enter(struct sk_buff *skb)
{
	struct cpu_state *st = this_cpu_state();

	if (st)
		frame_push(&st->confirm_calls, skb, NFS_HOOK_UNKNOWN);
}

static __always_inline void on_confirm_exit(__u64 exiting_skb, int ret)
{
	struct cpu_state *st = this_cpu_state();
	struct ct_frame *f;
	struct sk_buff *skb;

	if (!st)
		return;
	f = frame_pop_for(&st->confirm_calls, exiting_skb);
	if (!f || ret != NFS_NF_DROP)
		return;
	skb = (struct sk_buff *)(unsigned long)f->skb;
	set_mark(st, skb, NFS_CAUSE_INSERT_FAILED, current_hook(st, skb));
}

/* nf_ct_helper_log() is how a conntrack helper says it is dropping the
 * packet it was given ("nf_ct_ftp: dropping packet: ..."): every in-tree
 * helper calls it on the way to returning NF_DROP, and nothing else does.
 * It runs per helper drop, never per packet. */
static __always_inline void on_helper_log(struct sk_buff *skb)
{
	struct cpu_state *st = this_cpu_state();

	if (st)
		set_mark(st, skb, NFS_CAUSE_HELPER, current_hook(st, skb));
}

/* Where causes come from conntrack's counters, a helper's drop (which no
 * counter shows) is still known by its mark, when the helper hook is on. */
static __always_inline bool take_helper_mark(struct sk_buff *skb, __u8 *hook)
{
	struct cpu_state *st = this_cpu_state();

	if (!st)
		return false;
	for (int i = 0; i < NFS_FRAME_DEPTH; i++) {
		if (st->marks[i].skb == (__u64)(unsigned long)skb && st->marks[i].cause == NFS_CAUSE_HELPER) {
			st->marks[i].skb = 0;
			*hook = st->marks[i].hook;
			return true;
		}
	}
	return false;
}

static __always_inline int on_netfilter_drop(struct sk_buff *skb)
{
	struct nfs_drop_key key = {};
	struct nfs_drop_origin origin = {};
	unsigned long refdst = BPF_CORE_READ(skb, _skb_refdst);
	struct dst_entry *dst = (struct dst_entry *)(refdst & ~NFS_SKB_DST_NOREF);
	struct net_device *in_dev = BPF_CORE_READ(skb, dev);
	struct net_device *out_dev = dst ? BPF_CORE_READ(dst, dev) : NULL;
	struct net_device *any_dev = in_dev ? in_dev : out_dev;
	struct sock *sk = BPF_CORE_READ(skb, sk);
	unsigned long nfct = BPF_CORE_READ(skb, _nfct);
	struct nf_conn *ct = (struct nf_conn *)(nfct & ~NFS_NFCT_INFOMASK);
	__u32 iif = BPF_CORE_READ(skb, skb_iif);
	struct net *net;

	if (any_dev)
		net = BPF_CORE_READ(any_dev, nd_net.net);
	else if (sk)
		net = BPF_CORE_READ(sk, __sk_common.skc_net.net);
	else
		return 0;
	key.netns_ino = BPF_CORE_READ(net, ns.inum);
	parse_flow(skb, &key.flow);
	if (ct && bpf_core_field_exists(ct->zone))
		key.zone = BPF_CORE_READ(ct, zone.id);
	if (cause_from_hooks) {
		take_mark(skb, &key.cause, &key.hook);
	} else if (take_helper_mark(skb, &key.hook)) {
		key.cause = NFS_CAUSE_HELPER;
		if (key.hook == NFS_HOOK_UNKNOWN)
			key.hook = guess_hook(key.cause, iif);
	} else {
		key.cause = classify(net, key.netns_ino, ct != NULL);
		key.hook = guess_hook(key.cause, iif);
	}
	if (count_into_aggregate(&key))
		return 0;

	if (iif) {
		origin.in_ifindex = iif;
		if (in_dev)
			BPF_CORE_READ_STR_INTO(&origin.in_if, in_dev, name);
	} else {
		origin.flags |= NFS_ORIGIN_LOCAL;
		if (sk)
			attribute_sender(sk, &origin);
	}
	if (out_dev) {
		origin.out_ifindex = BPF_CORE_READ(out_dev, ifindex);
		BPF_CORE_READ_STR_INTO(&origin.out_if, out_dev, name);
	}
	record_first_drop(&key, &origin);
	return 0;
}

static __always_inline bool freed_in_nf_hook_slow(void *location)
{
	__u64 at = (__u64)(unsigned long)location;

	return at >= nf_hook_slow_start && at < nf_hook_slow_end;
}

static __always_inline int on_kfree_skb(struct sk_buff *skb, void *location, int reason)
{
	/* Drop reasons arrived in 5.17, NETFILTER_DROP among them;
	 * where the enum lacks it, the call site tells. */
	if (bpf_core_enum_value_exists(enum skb_drop_reason, SKB_DROP_REASON_NETFILTER_DROP)) {
		if (reason != bpf_core_enum_value(enum skb_drop_reason, SKB_DROP_REASON_NETFILTER_DROP))
			return 0;
	} else if (!freed_in_nf_hook_slow(location)) {
		return 0;
	}
	return on_netfilter_drop(skb);
}

static __always_inline int on_kfree_skb_at(struct sk_buff *skb, void *location)
{
	if (!freed_in_nf_hook_slow(location))
		return 0;
	return on_netfilter_drop(skb);
}

/* The tracepoint's arguments since 5.17: (skb, location, reason). */
SEC("tp_btf/kfree_skb")
int BPF_PROG(btf_kfree_skb, struct sk_buff *skb, void *location, enum skb_drop_reason reason)
{
	return on_kfree_skb(skb, location, reason);
}

SEC("raw_tp/kfree_skb")
int BPF_PROG(raw_kfree_skb, struct sk_buff *skb, void *location, int reason)
{
	return on_kfree_skb(skb, location, reason);
}

/* Before 5.17: (skb, location). Reading a third argument would be refused. */
SEC("tp_btf/kfree_skb")
int BPF_PROG(btf_kfree_skb_at, struct sk_buff *skb, void *location)
{
	return on_kfree_skb_at(skb, location);
}

SEC("raw_tp/kfree_skb")
int BPF_PROG(raw_kfree_skb_at, struct sk_buff *skb, void *location)
{
	return on_kfree_skb_at(skb, location);
}

/* A TCP socket starting to connect is in its owner's context: remember the
 * owner for drops of its retransmitted SYNs, which happen in softirq. */
static __always_inline int on_sock_state(const struct sock *sk, int newstate)
{
	__u64 key = (__u64)(unsigned long)sk;
	struct nfs_owner owner = {};

	if (newstate == TCP_SYN_SENT && in_process_context()) {
		fill_owner_from_current(&owner);
		bpf_map_update_elem(&sock_owners, &key, &owner, BPF_ANY);
	} else if (newstate == TCP_CLOSE) {
		bpf_map_delete_elem(&sock_owners, &key);
	}
	return 0;
}

SEC("tp_btf/inet_sock_set_state")
int BPF_PROG(btf_inet_sock_set_state, const struct sock *sk, const int oldstate, const int newstate)
{
	return on_sock_state(sk, newstate);
}

SEC("raw_tp/inet_sock_set_state")
int BPF_PROG(raw_inet_sock_set_state, const struct sock *sk, const int oldstate, const int newstate)
{
	return on_sock_state(sk, newstate);
}

/* An entry evicted by early_drop() to make room is a casualty of a full
 * table: its flow is reported with cause early_drop. */
static __always_inline void on_early_drop_enter(void)
{
	struct cpu_state *st = this_cpu_state();

	if (st) {
		st->in_early_drop += 1;
		st->last_evicted = 0;
	}
}

static __always_inline void on_early_drop_exit(void)
{
	struct cpu_state *st = this_cpu_state();

	if (st && st->in_early_drop)
		st->in_early_drop -= 1;
}

static __always_inline void on_ct_delete(struct nf_conn *ct)
{
	struct cpu_state *st = this_cpu_state();
	struct nfs_drop_key key = {};
	struct nfs_drop_origin origin = {};
	struct nf_conntrack_tuple *t;
	struct net *net;

	if (!st || !st->in_early_drop)
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
	if (bpf_core_field_exists(ct->zone))
		key.zone = BPF_CORE_READ(ct, zone.id);
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

/* fentry/fexit twins (BTF trampolines: arguments at exit too). */
SEC("fentry/nf_hook_slow")
int BPF_PROG(fentry_nf_hook_slow, struct sk_buff *skb, struct nf_hook_state *state)
{
	on_hook_slow_enter(skb, state);
	return 0;
}

SEC("fexit/nf_hook_slow")
int BPF_PROG(fexit_nf_hook_slow, struct sk_buff *skb, struct nf_hook_state *state, const void *e, unsigned int i,
	     int ret)
{
	on_hook_slow_exit((__u64)(unsigned long)skb);
	return 0;
}

SEC("fentry/nf_conntrack_in")
int BPF_PROG(fentry_nf_conntrack_in, struct sk_buff *skb, const struct nf_hook_state *state)
{
	on_ct_in_enter(skb, state);
	return 0;
}

SEC("fexit/nf_conntrack_in")
int BPF_PROG(fexit_nf_conntrack_in, struct sk_buff *skb, const struct nf_hook_state *state, unsigned int ret)
{
	on_ct_in_exit((__u64)(unsigned long)skb, BPF_CORE_READ(state, net), ret);
	return 0;
}

SEC("fexit/__nf_conntrack_alloc")
int BPF_PROG(fexit_nf_conntrack_alloc, struct net *net, const void *zone, const void *orig, const void *repl,
	     unsigned int gfp, __u32 hash, struct nf_conn *ret)
{
	on_alloc_exit((long)ret);
	return 0;
}

SEC("fentry/__nf_conntrack_confirm")
int BPF_PROG(fentry_nf_conntrack_confirm, struct sk_buff *skb)
{
	on_confirm_enter(skb);
	return 0;
}

SEC("fexit/__nf_conntrack_confirm")
int BPF_PROG(fexit_nf_conntrack_confirm, struct sk_buff *skb, int ret)
{
	on_confirm_exit((__u64)(unsigned long)skb, ret);
	return 0;
}

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

/* kprobe/kretprobe twins: a return probe sees only the return value, which
 * is why the entry side keeps the arguments on the per-CPU stacks. */
SEC("kprobe/nf_hook_slow")
int BPF_KPROBE(kprobe_nf_hook_slow, struct sk_buff *skb, struct nf_hook_state *state)
{
	on_hook_slow_enter(skb, state);
	return 0;
}

SEC("kretprobe/nf_hook_slow")
int BPF_KRETPROBE(kretprobe_nf_hook_slow)
{
	on_hook_slow_exit(0);
	return 0;
}

SEC("kprobe/nf_conntrack_in")
int BPF_KPROBE(kprobe_nf_conntrack_in, struct sk_buff *skb, const struct nf_hook_state *state)
{
	on_ct_in_enter(skb, state);
	return 0;
}

SEC("kretprobe/nf_conntrack_in")
int BPF_KRETPROBE(kretprobe_nf_conntrack_in, unsigned int ret)
{
	struct cpu_state *st = this_cpu_state();
	struct ct_frame *f = st ? frame_top(&st->ct_in_calls) : NULL;
	struct sk_buff *skb = f ? (struct sk_buff *)(unsigned long)f->skb : NULL;
	struct net_device *dev = skb ? BPF_CORE_READ(skb, dev) : NULL;
	struct net *net = NULL;

	if (dev)
		net = BPF_CORE_READ(dev, nd_net.net);
	else if (skb)
		net = BPF_CORE_READ(skb, sk, __sk_common.skc_net.net);
	on_ct_in_exit(0, net, ret);
	return 0;
}

SEC("kretprobe/__nf_conntrack_alloc")
int BPF_KRETPROBE(kretprobe_nf_conntrack_alloc, struct nf_conn *ret)
{
	on_alloc_exit((long)ret);
	return 0;
}

SEC("kprobe/__nf_conntrack_confirm")
int BPF_KPROBE(kprobe_nf_conntrack_confirm, struct sk_buff *skb)
{
	on_confirm_enter(skb);
	return 0;
}

SEC("kretprobe/__nf_conntrack_confirm")
int BPF_KRETPROBE(kretprobe_nf_conntrack_confirm, int ret)
{
	on_confirm_exit(0, ret);
	return 0;
}

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
