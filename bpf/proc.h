/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * ABI shared by the BPF programs and the C++ consumer: who was running when
 * an event happened. Plain C, fixed-width types, no kernel headers, so the
 * same bytes are described once for both sides.
 */
#ifndef NFSLEUTH_PROC_H
#define NFSLEUTH_PROC_H

#ifndef __VMLINUX_H__
#include <linux/types.h>
#endif

#define NFS_COMM_LEN 16
/* argv is captured in the kernel because the process is often gone by the
 * time userspace could read /proc/PID/cmdline. */
#define NFS_ARGS_LEN 256
#define NFS_MAX_ANCESTORS 10

enum nfs_proc_flags {
	NFS_PROC_KTHREAD = 1u << 0,      /* task has no mm: a kernel thread */
	NFS_PROC_ARGS_TRUNCATED = 1u << 1,
	NFS_PROC_ARGS_UNREADABLE = 1u << 2, /* argv page not resident or no mm */
};

struct nfs_ancestor {
	__u32 pid;
	__u32 flags;                     /* enum nfs_proc_flags */
	char comm[NFS_COMM_LEN];
};

struct nfs_proc {
	__u32 pid;                       /* thread-group id */
	__u32 tid;
	__u32 uid;
	__u32 gid;
	__u64 cgroup_id;                 /* cgroup v2 id (inode of its directory) */
	__u32 netns_ino;
	__u32 flags;                     /* enum nfs_proc_flags */
	__u32 args_len;                  /* bytes valid in args, NUL-separated */
	__u32 n_ancestors;               /* parent first */
	char comm[NFS_COMM_LEN];
	char args[NFS_ARGS_LEN];
	struct nfs_ancestor ancestors[NFS_MAX_ANCESTORS];
};

/* A process as the owner of what it sends: remembered while it sends from
 * process context, so a packet handled later in softirq (a SYN retransmit,
 * a conntrack event) can still name it. */
struct nfs_owner {
	__u32 pid;
	__u32 tid;
	__u32 uid;
	__u32 pad;
	__u64 cgroup_id;
	char comm[NFS_COMM_LEN];
};

#endif
