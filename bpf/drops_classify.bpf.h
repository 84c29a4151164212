/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * A drop's cause from conntrack's own per-CPU statistics of the packet's
 * namespace: which counter moved since the last drop classified there
 * (drop: table full, with invalid: invalid; insert_failed: a clash).
 */
#ifndef NFSLEUTH_DROPS_CLASSIFY_BPF_H
#define NFSLEUTH_DROPS_CLASSIFY_BPF_H

#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include "context.bpf.h"
#include "drops.h"
#include "maps.bpf.h"

const volatile __u32 nr_cpus = 1;

NFS_MAP(BPF_MAP_TYPE_LRU_HASH, ct_stat_seen, struct nfs_ct_stat_key, struct nfs_ct_stat_seen, 8192);

enum stat_read { STAT_OK, STAT_NO_CONNTRACK, STAT_UNREADABLE };

/* struct ip_conntrack_stat: 13 counters in 6.1, 17 in 4.x; room to spare. */
#define NFS_CT_STAT_MAX 128

static __always_inline enum stat_read read_ct_stat(struct net *net, __u32 cpu, struct nfs_ct_stat_seen *out)
{
	struct ip_conntrack_stat *stat;
	unsigned long offset;
	__u8 buf[NFS_CT_STAT_MAX] __attribute__((aligned(4)));

	/* struct net has `ct` only with CONFIG_NF_CONNTRACK (any version). */
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

#endif
