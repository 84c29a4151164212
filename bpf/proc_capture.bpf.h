/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Fills struct nfs_proc for the current task. Shared by every program that
 * attributes an event to a process; the capture happens in the kernel at the
 * moment of the event because short-lived processes (iptables, modprobe) are
 * gone before userspace could look at them.
 */
#ifndef NFSLEUTH_PROC_CAPTURE_BPF_H
#define NFSLEUTH_PROC_CAPTURE_BPF_H

#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include "proc.h"

/* Each capture step can be switched off to measure its cost. */
const volatile bool capture_args = true;
const volatile bool capture_ancestors = true;

static __always_inline __u32 nfs_task_flags(struct task_struct *task)
{
	/* Kernel threads have no mm; PF_KTHREAD is a #define BTF cannot relocate. */
	return BPF_CORE_READ(task, mm) ? 0 : NFS_PROC_KTHREAD;
}

static __always_inline void nfs_capture_args(struct nfs_proc *p, struct task_struct *task)
{
	struct mm_struct *mm = BPF_CORE_READ(task, mm);
	unsigned long start, end, len;

	if (!mm) {
		p->flags |= NFS_PROC_ARGS_UNREADABLE;
		return;
	}
	start = BPF_CORE_READ(mm, arg_start);
	end = BPF_CORE_READ(mm, arg_end);
	if (end <= start) {
		p->flags |= NFS_PROC_ARGS_UNREADABLE;
		return;
	}
	len = end - start;
	if (len > NFS_ARGS_LEN) {
		len = NFS_ARGS_LEN;
		p->flags |= NFS_PROC_ARGS_TRUNCATED;
	}
	/* A sleepable-free read may fault if the page is swapped out. */
	if (bpf_probe_read_user(p->args, len, (const void *)start) < 0) {
		p->flags |= NFS_PROC_ARGS_UNREADABLE;
		return;
	}
	p->args_len = len;
}

static __always_inline void nfs_capture_ancestors(struct nfs_proc *p, struct task_struct *task)
{
	struct task_struct *t = BPF_CORE_READ(task, real_parent);
	__u32 n = 0;

	for (int i = 0; i < NFS_MAX_ANCESTORS; i++) {
		struct task_struct *leader;
		__u32 pid;

		if (!t)
			break;
		pid = BPF_CORE_READ(t, tgid);
		if (pid == 0) /* the idle task: above init and kthreadd */
			break;
		leader = BPF_CORE_READ(t, group_leader);
		p->ancestors[i].pid = pid;
		p->ancestors[i].flags = nfs_task_flags(t);
		BPF_CORE_READ_STR_INTO(&p->ancestors[i].comm, leader, comm);
		n = i + 1;
		if (pid == 1)
			break;
		t = BPF_CORE_READ(t, real_parent);
	}
	p->n_ancestors = n;
}

static __always_inline void nfs_capture_proc(struct nfs_proc *p)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	__u64 uid_gid = bpf_get_current_uid_gid();

	p->pid = pid_tgid >> 32;
	p->tid = (__u32)pid_tgid;
	p->uid = (__u32)uid_gid;
	p->gid = uid_gid >> 32;
	p->cgroup_id = bpf_get_current_cgroup_id();
	p->netns_ino = BPF_CORE_READ(task, nsproxy, net_ns, ns.inum);
	p->flags = nfs_task_flags(task);
	p->args_len = 0;
	p->n_ancestors = 0;
	bpf_get_current_comm(p->comm, sizeof(p->comm));
	if (capture_args)
		nfs_capture_args(p, task);
	if (capture_ancestors)
		nfs_capture_ancestors(p, task);
}

#endif
