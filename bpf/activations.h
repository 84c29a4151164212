/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * ABI of the conntrack activation events: the moment conntrack starts
 * tracking a family's packets in a network namespace because a rule (NAT,
 * a state match, ...) needs it, and the process that added that rule.
 */
#ifndef NFSLEUTH_ACTIVATIONS_H
#define NFSLEUTH_ACTIVATIONS_H

#include "proc.h"

/* Socket ABI numbers (stable UAPI) that identify a nfnetlink socket. */
#define NFS_AF_NETLINK_ABI 16
#define NFS_NETLINK_NETFILTER_ABI 12

/* Families conntrack tracks separately in a namespace. */
enum nfs_ct_family {
	NFS_CT_IPV4 = 1u << 0,
	NFS_CT_IPV6 = 1u << 1,
	NFS_CT_BRIDGE = 1u << 2,
};

enum nfs_activation_method {
	/* conntrack's prerouting hook was being registered (fentry/kprobe on
	 * nf_register_net_hook); hook_fn and pf say which */
	NFS_ACT_HOOK_REGISTERED = 1,
	/* conntrack's hooks were found after a netfilter netlink message
	 * (sock_send_length tracepoint) where they were not before */
	NFS_ACT_SEEN_AFTER_SEND = 2,
};

enum nfs_activation_counter {
	NFS_ACT_CNT_SEEN = 0,            /* activations the programs saw */
	NFS_ACT_CNT_LOST = 1,            /* ring buffer full: event not delivered */
	NFS_ACT_CNT_MAX = 2,
};

struct nfs_activation_event {
	__u64 ts_boot_ns;
	__u64 hook_fn;                   /* HOOK_REGISTERED: the hook function */
	__u32 method;                    /* enum nfs_activation_method */
	__u32 families;                  /* SEEN_AFTER_SEND: enum nfs_ct_family bits gained */
	__u32 netns_ino;                 /* namespace where conntrack became active */
	__s32 pf;                        /* HOOK_REGISTERED: nf_hook_ops.pf (NFPROTO_*) */
	struct nfs_proc proc;
};

#endif
