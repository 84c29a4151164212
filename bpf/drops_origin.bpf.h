/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Where and from whom, for a flow's first drop: the netfilter hook (from
 * the callers on the kernel stack, or from the cause) and the sending
 * process of a locally generated packet.
 */
#ifndef NFSLEUTH_DROPS_ORIGIN_BPF_H
#define NFSLEUTH_DROPS_ORIGIN_BPF_H

#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include "context.bpf.h"
#include "drops.h"
#include "maps.bpf.h"

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

NFS_MAP(BPF_MAP_TYPE_LRU_HASH, sock_owners, struct sock_flow, struct nfs_owner, 16384);

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

NFS_MAP(BPF_MAP_TYPE_PERCPU_ARRAY, stack_scratch, __u32, __u64[NFS_STACK_FRAMES], 1);

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

#endif
