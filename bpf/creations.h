/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* ABI of conntrack entry creations: who fills the table. */
#ifndef NFSLEUTH_CREATIONS_H
#define NFSLEUTH_CREATIONS_H

#include "family.h"
#include "proc.h"

/* An entry's ORIGINAL-direction tuple, as conntrack keeps it and conntrack
 * netlink reports it: the key that joins a netlink creation event to the
 * process the BPF side saw sending the entry's first packet. */
struct nfs_ct_tuple {
	__u32 netns_ino;
	__u16 zone;
	__u8 family;                 /* NFS_AF_INET_ABI or NFS_AF_INET6_ABI */
	__u8 proto;                  /* IPPROTO_* */
	__u8 saddr[16];              /* IPv4 in the first 4 bytes */
	__u8 daddr[16];
	__u16 sport;                 /* host order; ICMP: the echo id */
	__u16 dport;                 /* host order; ICMP: type << 8 | code */
};

/* Creations counted in the kernel, per creator and destination (on kernels
 * where conntrack's allocation function can be hooked). */
struct nfs_creator_key {
	__u32 netns_ino;
	__u32 pid;                   /* 0: not created from a process (received, forwarded) */
	__u64 cgroup_id;
	__u8 family;
	__u8 proto;
	__u16 dport;                 /* host order; ICMP: type << 8 | code */
	__u32 pad;
	__u8 daddr[16];
};

struct nfs_creator_value {
	__u64 count;                 /* updated atomically */
	__u32 uid;
	__u32 pad;
	char comm[NFS_COMM_LEN];
};

enum nfs_creation_counter {
	NFS_CREATE_CNT_SEEN = 0,          /* entries allocated (alloc path) */
	NFS_CREATE_CNT_NO_AGGREGATE = 1,  /* allocated but not kept in ct_creators */
	NFS_CREATE_CNT_OWNERS = 2,        /* first packets attributed to a process (netlink path) */
	NFS_CREATE_CNT_MAX = 4,
};

#endif
