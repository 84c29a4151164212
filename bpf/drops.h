/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* ABI of the conntrack drop events and their in-kernel aggregation. */
#ifndef NFSLEUTH_DROPS_H
#define NFSLEUTH_DROPS_H

#include "family.h"
#include "proc.h"

#define NFS_IFNAME_LEN 16

enum nfs_drop_cause {
	NFS_CAUSE_TABLE_FULL = 1,    /* no entry could be allocated */
	NFS_CAUSE_EARLY_DROP = 2,    /* an unreplied entry was evicted to make room */
	NFS_CAUSE_INSERT_FAILED = 3, /* clash when confirming the entry */
	NFS_CAUSE_INVALID = 4,       /* conntrack judged the packet invalid and dropped it */
	NFS_CAUSE_RULE = 5,          /* a netfilter rule or verdict, not conntrack */
	NFS_CAUSE_OTHER_CT = 6,      /* conntrack dropped it for another reason */
	NFS_CAUSE_UNKNOWN = 7,       /* no conntrack entry, and its statistics unreadable */
	NFS_CAUSE_HELPER = 8,        /* a conntrack helper refused the packet */
	NFS_CAUSE_MAX = 9,
};

/* Where the packet was dropped; values of enum nf_inet_hooks, plus unknown. */
#define NFS_HOOK_UNKNOWN 0xff

/* Per-CPU counters of the drop programs: lossless accounting. */
enum nfs_drop_counter {
	NFS_DROP_CNT_SEEN = 0,        /* netfilter drops seen (any cause) */
	NFS_DROP_CNT_LOST = 1,        /* first-drop records lost: ring buffer full */
	NFS_DROP_CNT_NO_AGGREGATE = 2,/* aggregate could not be created: drop only counted */
	NFS_DROP_CNT_MAX = 3,
};

enum nfs_flow_flags {
	NFS_FLOW_TRUNCATED = 1u << 0, /* headers not readable: ports/ICMP missing */
};

struct nfs_flow {
	__u8 saddr[16];              /* IPv4 in the first 4 bytes */
	__u8 daddr[16];
	__u16 sport;                 /* host byte order */
	__u16 dport;
	__u8 family;                 /* NFS_AF_INET_ABI or NFS_AF_INET6_ABI */
	__u8 proto;                  /* IPPROTO_* */
	__u8 icmp_type;
	__u8 icmp_code;
	__u32 flags;                 /* enum nfs_flow_flags */
};

/* Drops are folded per key in an LRU map. */
struct nfs_drop_key {
	__u32 netns_ino;
	__u8 cause;                  /* enum nfs_drop_cause */
	__u8 hook;                   /* enum nf_inet_hooks or NFS_HOOK_UNKNOWN */
	__u16 zone;
	struct nfs_flow flow;
};

enum nfs_origin_flags {
	NFS_ORIGIN_LOCAL = 1u << 0,       /* generated on this host */
	NFS_ORIGIN_PROCESS = 1u << 1,     /* pid/comm/cgroup are valid */
	NFS_ORIGIN_FROM_SOCKET = 1u << 2, /* process known from the socket's owner, not current */
};

/* Where and from whom, as seen at the first drop of the key. */
struct nfs_drop_origin {
	__u32 flags;                 /* enum nfs_origin_flags */
	__u32 pid;
	__u32 tid;
	__u32 uid;
	__u64 cgroup_id;
	__u32 in_ifindex;
	__u32 out_ifindex;
	char comm[NFS_COMM_LEN];
	char in_if[NFS_IFNAME_LEN];
	char out_if[NFS_IFNAME_LEN];
	__u8 stack_hook;             /* where the key has none: 1 + the hook found on the stack; 0 none */
	__u8 pad[7];
};

/* Functions that run netfilter hooks, by the hook they run, for telling a
 * rule drop's hook from its stack. */
#define NFS_HOOK_CALLERS 32

struct nfs_drop_value {
	__u64 count;                 /* drops folded in, updated atomically */
	__u64 first_ns;              /* bpf_ktime_get_boot_ns() */
	struct nfs_drop_origin origin;
	__u32 captured;              /* capture records sent for the key (--pcap) */
	__u32 pad;
};

/* The ring-buffer record sent at the first drop of a key. */
struct nfs_drop_event {
	__u64 ts_boot_ns;
	struct nfs_drop_key key;
	struct nfs_drop_origin origin;
};

/* --pcap: the first bytes of a flow's first dropped packets, on a ring
 * buffer of their own so that they never crowd out first-drop records. */
#define NFS_CAPTURE_MAX 256          /* bytes a capture record holds at most */

/* Per-CPU counters of the capture records (all 0 without --pcap). */
enum nfs_capture_counter {
	NFS_CAPTURE_CNT_LOST = 0,     /* capture records lost: ring buffer full */
	NFS_CAPTURE_CNT_PAST_FLOW = 1,/* drops of a key past its first capture_per_flow */
	NFS_CAPTURE_CNT_MAX = 2,
};

enum nfs_capture_flags {
	NFS_CAPTURE_UNREADABLE = 1u << 0, /* the packet's bytes could not be read */
};

/* A capture record: one dropped packet of a key, from its network header. */
struct nfs_capture_event {
	__u64 ts_boot_ns;
	struct nfs_drop_key key;      /* as in the first-drop record: cause, netns, hook, flow */
	struct nfs_drop_origin origin;/* the key's first drop's (sender, interfaces) */
	__u32 packet_len;             /* from the network header to the packet's end */
	__u32 captured_len;           /* valid bytes of data */
	__u32 flags;                  /* enum nfs_capture_flags */
	__u32 pad;
	__u8 data[NFS_CAPTURE_MAX];
};

/* The conntrack statistics a drop is classified with, per (netns, cpu). */
struct nfs_ct_stat_key {
	__u32 netns_ino;
	__u32 cpu;
};

struct nfs_ct_stat_seen {
	__u32 drop;
	__u32 invalid;
	__u32 insert_failed;
	__u32 early_drop;
};

#endif
