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
 * Drops are folded per (netns, cause, hook, flow) in an LRU map; the first
 * drop of a key is also sent at once over the ring buffer, userspace reads
 * the counts every interval. Per-CPU counters account for every drop, so
 * totals add up even when records are lost or aggregates evicted. Nothing
 * here runs for a packet that is not dropped.
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
/* Helper drops marked at once on one CPU (a softirq may interrupt a
 * process-context hook): a power of two, for indexes the verifier bounds. */
#define NFS_MARKS 4
#define NFS_MARK_LIFETIME_NS 10000000ULL

/* A field of a kernel struct, CO-RE relocated either way: loaded directly
 * where the program's arguments are typed (tp_btf: a load the kernel
 * checks, a fraction of the cost of a helper call), through
 * bpf_probe_read_kernel() otherwise (raw_tp). `typed` is a constant at
 * every call, so only one of the two is compiled. */
#define NFS_FIELD(typed, src, path) ((typed) ? (src)->path : BPF_CORE_READ(src, path))

const volatile __u32 nr_cpus = 1;
/* Of the records: how conntrack's own functions are hooked (1 fentry, 2
 * kprobe, 3 not at all). Not rodata: kprobes come and go with the
 * nf_conntrack module while the programs run. */
__u32 backend_id = 3;
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

/* A local socket's sender, learnt at a drop in its owner's context, for
 * its later drops in softirq (a retransmitted SYN). The flow is part of the
 * key: a socket freed and reused for another connection does not inherit
 * the owner. */
struct sock_flow {
	__u64 sk;
	__u16 sport;
	__u16 dport;
	__u32 pad;
	__u8 daddr[16];
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, struct sock_flow);
	__type(value, struct nfs_owner);
} sock_owners SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 8192);
	__type(key, struct nfs_ct_stat_key);
	__type(value, struct nfs_ct_stat_seen);
} ct_stat_seen SEC(".maps");

/* Text ranges [start, end) of the functions that run netfilter hooks
 * (ip_rcv runs prerouting, ip_local_deliver input, ...), with the hook
 * each runs, from kallsyms: the first of them on a drop's stack is where
 * it was dropped. Only a flow's first drop looks. */
const volatile __u64 hook_caller_start[NFS_HOOK_CALLERS] = {};
const volatile __u64 hook_caller_end[NFS_HOOK_CALLERS] = {};
const volatile __u8 hook_caller_hook[NFS_HOOK_CALLERS] = {};
const volatile __u32 hook_callers = 0;
/* From the tracepoint down to the hook's caller: kfree_skb's own frames,
 * nf_hook_slow, nf_hook_slow_list for lists, and the caller. */
#define NFS_STACK_FRAMES 12

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64[NFS_STACK_FRAMES]);
} stack_scratch SEC(".maps");

/* Scratch space: the value is too large to build on the 512-byte stack
 * next to the key and the origin. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct nfs_drop_value);
} drop_scratch SEC(".maps");


/* The transport ports (or ICMP type and code) from bytes already read. */
static __always_inline void ports_from(const __u8 *l4, struct nfs_flow *f)
{
	switch (f->proto) {
	case NFS_IPPROTO_TCP:
	case NFS_IPPROTO_UDP:
	case NFS_IPPROTO_UDPLITE:
	case NFS_IPPROTO_SCTP:
	case NFS_IPPROTO_DCCP:
		f->sport = (__u16)l4[0] << 8 | l4[1];
		f->dport = (__u16)l4[2] << 8 | l4[3];
		break;
	case NFS_IPPROTO_ICMP:
	case NFS_IPPROTO_ICMPV6:
		f->icmp_type = l4[0];
		f->icmp_code = l4[1];
		break;
	}
}

/* The same, past an IPv4 header with options: one more read. */
static __always_inline void parse_ports(unsigned char *l4, struct nfs_flow *f)
{
	__u8 first[4];

	if (bpf_probe_read_kernel(first, sizeof(first), l4) < 0) {
		f->flags |= NFS_FLOW_TRUNCATED;
		return;
	}
	ports_from(first, f);
}

/* One read covers an IPv6 header or an IPv4 header without options, and
 * the first 4 bytes after it. (An skb's buffer always extends well past
 * its network header: reading this much from there stays inside it.) */
#define NFS_L3_READ 44

/* Reads the 5-tuple from the packet headers (wire format). */
static __always_inline void parse_flow(struct sk_buff *skb, struct nfs_flow *f, bool typed)
{
	unsigned char *l3 = NFS_FIELD(typed, skb, head) + NFS_FIELD(typed, skb, network_header);
	__u8 hdr[NFS_L3_READ];

	if (bpf_probe_read_kernel(hdr, sizeof(hdr), l3) < 0) {
		f->flags |= NFS_FLOW_TRUNCATED;
		return;
	}
	if ((hdr[0] >> 4) == 4) {
		__u8 ihl = hdr[0] & 0xf;
		__u16 frag = ((__u16)hdr[6] << 8 | hdr[7]) & 0x1fff;

		f->family = NFS_AF_INET_ABI;
		f->proto = hdr[9];
		__builtin_memcpy(f->saddr, &hdr[12], 4);
		__builtin_memcpy(f->daddr, &hdr[16], 4);
		if (frag) /* a later fragment carries no transport header */
			return;
		if (ihl == 5)
			ports_from(&hdr[20], f);
		else
			parse_ports(l3 + ihl * 4, f);
	} else if ((hdr[0] >> 4) == 6) {
		f->family = NFS_AF_INET6_ABI;
		f->proto = hdr[6]; /* extension headers are reported as the protocol */
		__builtin_memcpy(f->saddr, &hdr[8], 16);
		__builtin_memcpy(f->daddr, &hdr[24], 16);
		ports_from(&hdr[40], f);
	} else {
		f->flags |= NFS_FLOW_TRUNCATED;
	}
}

enum stat_read { STAT_OK, STAT_NO_CONNTRACK, STAT_UNREADABLE };

/* struct ip_conntrack_stat: 13 counters in 6.1, 17 in 4.x; room to spare. */
#define NFS_CT_STAT_MAX 128

static __always_inline enum stat_read read_ct_stat(struct net *net, __u32 cpu, struct nfs_ct_stat_seen *out)
{
	struct ip_conntrack_stat *stat;
	unsigned long offset;
	__u8 buf[NFS_CT_STAT_MAX] __attribute__((aligned(4)));

	if (!bpf_core_field_exists(net->ct))
		return STAT_NO_CONNTRACK;
	stat = BPF_CORE_READ(net, ct.stat);
	if (!stat)
		return STAT_NO_CONNTRACK; /* nf_conntrack not loaded */
	if (!cpu_offset(cpu, &offset))
		return STAT_UNREADABLE;
	stat = (struct ip_conntrack_stat *)((unsigned long)stat + offset);
	/* One read of the whole struct (its size and the fields' offsets as
	 * this kernel has them) costs a quarter of four. */
	if (bpf_core_type_size(struct ip_conntrack_stat) > sizeof(buf) ||
	    bpf_probe_read_kernel(buf, bpf_core_type_size(struct ip_conntrack_stat), stat) < 0)
		return STAT_UNREADABLE;
	out->drop = *(__u32 *)(buf + bpf_core_field_offset(struct ip_conntrack_stat, drop));
	out->invalid = *(__u32 *)(buf + bpf_core_field_offset(struct ip_conntrack_stat, invalid));
	out->insert_failed = *(__u32 *)(buf + bpf_core_field_offset(struct ip_conntrack_stat, insert_failed));
	out->early_drop = *(__u32 *)(buf + bpf_core_field_offset(struct ip_conntrack_stat, early_drop));
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
	 * and loaded again, and every drop since passed here. */
	if (cur.drop < seen->drop) {
		seen->drop = 0;
		seen->invalid = 0;
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
		seen->insert_failed = 0;
	if (seen && cur.insert_failed != seen->insert_failed) {
		__sync_fetch_and_add(&seen->insert_failed, 1);
		return NFS_CAUSE_INSERT_FAILED;
	}
	return NFS_CAUSE_RULE;
}

/* Names the sending process of a locally generated packet. */
static __always_inline void attribute_sender(struct sock *sk, const struct nfs_flow *flow,
					     struct nfs_drop_origin *origin)
{
	struct sock_flow key = { .sk = (__u64)(unsigned long)sk, .sport = flow->sport, .dport = flow->dport };
	struct nfs_owner owner = {};
	struct nfs_owner *known;

	__builtin_memcpy(key.daddr, flow->daddr, sizeof(key.daddr));
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
	v = bpf_map_lookup_elem(&drop_aggregates, key);
	if (!v)
		return false;
	/* No clock read here: on some hypervisors it costs more than all the
	 * rest. Userspace dates later counts by the sweep that reads them. */
	__sync_fetch_and_add(&v->count, 1);
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

/* The hook a packet being dropped is in, from the calling functions on
 * the kernel stack; NFS_HOOK_UNKNOWN when none is recognised. */
static __always_inline __u8 hook_from_stack(void *ctx)
{
	__u32 zero = 0;
	__u64 *frames = bpf_map_lookup_elem(&stack_scratch, &zero);
	long bytes;

	if (!frames || !hook_callers)
		return NFS_HOOK_UNKNOWN;
	bytes = bpf_get_stack(ctx, frames, NFS_STACK_FRAMES * sizeof(__u64), 0);
	for (int i = 0; i < NFS_STACK_FRAMES; i++) {
		if ((long)(i * sizeof(__u64)) >= bytes)
			break;
		for (__u32 c = 0; c < NFS_HOOK_CALLERS && c < hook_callers; c++) {
			if (frames[i] >= hook_caller_start[c] && frames[i] < hook_caller_end[c])
				return hook_caller_hook[c];
		}
	}
	return NFS_HOOK_UNKNOWN;
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
 * Conntrack's own functions, hooked with fentry or kprobes where the kernel
 * allows (the fentry and kprobe backends); each runs only on a path of
 * drops or of a full table, never per packet:
 *  - early_drop(), entered only when the table is full, and the
 *    nf_ct_delete() calls inside it: the entries evicted to make room;
 *  - nf_ct_helper_log(): a conntrack helper dropping a packet.
 * Causes of the drops themselves come from conntrack's counters (above).
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

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct cpu_state);
} cpu_states SEC(".maps");

/* PREEMPT_RT runs netfilter hooks preemptibly (softirqs in threads, local
 * output in the sender's context with only migration disabled): two tasks
 * can be inside conntrack on one CPU at once, so the state is kept per
 * task there. Set by userspace from /sys/kernel/realtime. */
const volatile bool state_per_task = false;

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

static __always_inline int on_netfilter_drop(void *ctx, struct sk_buff *skb, bool typed)
{
	struct nfs_drop_key key = {};
	struct nfs_drop_origin origin;
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
	if (ct && bpf_core_field_exists(ct->zone))
		key.zone = BPF_CORE_READ(ct, zone.id);
	key.cause = take_helper_mark(skb) ? NFS_CAUSE_HELPER : classify(net, key.netns_ino, ct != NULL);
	key.hook = guess_hook(key.cause, iif);
	if (count_into_aggregate(&key))
		return 0;

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
	return 0;
}

static __always_inline bool freed_in_nf_hook_slow(void *location)
{
	__u64 at = (__u64)(unsigned long)location;

	return at >= nf_hook_slow_start && at < nf_hook_slow_end;
}

static __always_inline int on_kfree_skb(void *ctx, struct sk_buff *skb, void *location, int reason, bool typed)
{
	/* Drop reasons arrived in 5.17, NETFILTER_DROP among them;
	 * where the enum lacks it, the call site tells. */
	if (bpf_core_enum_value_exists(enum skb_drop_reason, SKB_DROP_REASON_NETFILTER_DROP)) {
		if (reason != bpf_core_enum_value(enum skb_drop_reason, SKB_DROP_REASON_NETFILTER_DROP))
			return 0;
	} else if (!freed_in_nf_hook_slow(location)) {
		return 0;
	}
	return on_netfilter_drop(ctx, skb, typed);
}

static __always_inline int on_kfree_skb_at(void *ctx, struct sk_buff *skb, void *location, bool typed)
{
	if (!freed_in_nf_hook_slow(location))
		return 0;
	return on_netfilter_drop(ctx, skb, typed);
}

/* The tracepoint's arguments since 5.17: (skb, location, reason). */
SEC("tp_btf/kfree_skb")
int BPF_PROG(btf_kfree_skb, struct sk_buff *skb, void *location, enum skb_drop_reason reason)
{
	return on_kfree_skb(ctx, skb, location, reason, true);
}

SEC("raw_tp/kfree_skb")
int BPF_PROG(raw_kfree_skb, struct sk_buff *skb, void *location, int reason)
{
	return on_kfree_skb(ctx, skb, location, reason, false);
}

/* Before 5.17: (skb, location). Reading a third argument would be refused. */
SEC("tp_btf/kfree_skb")
int BPF_PROG(btf_kfree_skb_at, struct sk_buff *skb, void *location)
{
	return on_kfree_skb_at(ctx, skb, location, true);
}

SEC("raw_tp/kfree_skb")
int BPF_PROG(raw_kfree_skb_at, struct sk_buff *skb, void *location)
{
	return on_kfree_skb_at(ctx, skb, location, false);
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
