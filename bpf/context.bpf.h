/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Where a program runs: this CPU's per-CPU area, process context or not,
 * and the current task as the owner of what it sends. Shared by the
 * programs that attribute packets to processes.
 */
#ifndef NFSLEUTH_CONTEXT_BPF_H
#define NFSLEUTH_CONTEXT_BPF_H

#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include "proc.h"
#include "maps.bpf.h"

/* include/linux/preempt.h: preempt_count bits for serving a softirq, hard
 * irq and NMI. */
#define NFS_SOFTIRQ_OFFSET (1U << 8)
#define NFS_HARDIRQ_MASK (0xfU << 16)
#define NFS_NMI_MASK (0xfU << 20)
#define NFS_MAX_CPUS 256

/*
 * Offsets of per-CPU variables inside the per-CPU area, read by userspace
 * from the kernel's BTF (DATASEC .data..percpu). Typed __ksym access would
 * need the data symbols in kallsyms, which kernels without
 * CONFIG_KALLSYMS_ALL do not have. 0 means unknown.
 */
const volatile __u64 pcpu_runqueues = 0;
const volatile __u64 pcpu_this_cpu_off = 0;
const volatile __u64 pcpu_preempt_count = 0;

/* Per-CPU offsets learnt so far (each CPU teaches its own). */
NFS_MAP(BPF_MAP_TYPE_ARRAY, cpu_offsets, __u32, __u64, NFS_MAX_CPUS);

/*
 * Start of this CPU's per-CPU area: the current task's run queue is this
 * CPU's copy of the per-CPU `runqueues`, so its address minus that
 * variable's offset in the area is the area itself. 0 if unknown.
 */
static __always_inline unsigned long this_cpu_area(void)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	struct rq *rq;

	/* sched_entity has cfs_rq only with CONFIG_FAIR_GROUP_SCHED (any version). */
	if (!pcpu_runqueues || !bpf_core_field_exists(task->se.cfs_rq))
		return 0;
	rq = BPF_CORE_READ(task, se.cfs_rq, rq);
	if (!rq || BPF_CORE_READ(rq, cpu) != (int)bpf_get_smp_processor_id())
		return 0;
	return (unsigned long)rq - pcpu_runqueues;
}

/* __per_cpu_offset[cpu]: what turns a per-CPU pointer into that CPU's copy. */
static __always_inline bool cpu_offset(__u32 cpu, unsigned long *offset)
{
	__u32 self = bpf_get_smp_processor_id();
	unsigned long area;
	__u64 *cached;

	if (cpu >= NFS_MAX_CPUS)
		return false;
	cached = bpf_map_lookup_elem(&cpu_offsets, &cpu);
	if (!cached)
		return false;
	if (*cached) {
		*offset = *cached;
		return true;
	}
	if (cpu != self || !pcpu_this_cpu_off)
		return false;
	area = this_cpu_area();
	if (!area || bpf_probe_read_kernel(offset, sizeof(*offset), (void *)(area + pcpu_this_cpu_off)) < 0)
		return false;
	*cached = *offset;
	return true;
}

static __always_inline bool in_process_context(void)
{
	unsigned long area = this_cpu_area();
	int pc;

	if (!area || !pcpu_preempt_count)
		return false; /* cannot tell: do not blame current */
	if (bpf_probe_read_kernel(&pc, sizeof(pc), (void *)(area + pcpu_preempt_count)) < 0)
		return false;
	return (pc & (NFS_SOFTIRQ_OFFSET | NFS_HARDIRQ_MASK | NFS_NMI_MASK)) == 0;
}

static __always_inline void fill_owner_from_current(struct nfs_owner *o)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();

	o->pid = pid_tgid >> 32;
	o->tid = (__u32)pid_tgid;
	o->uid = (__u32)bpf_get_current_uid_gid();
	o->cgroup_id = bpf_get_current_cgroup_id();
	bpf_get_current_comm(o->comm, sizeof(o->comm));
}

#endif
