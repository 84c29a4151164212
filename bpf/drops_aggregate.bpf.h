/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Drops folded per (netns, cause, hook, zone, flow) in an LRU map that
 * userspace sweeps; a flow's first drop also goes out at once over the ring
 * buffer. Per-CPU counters account for every drop, so totals add up even
 * when records are lost or aggregates cannot be created.
 */
#ifndef NFSLEUTH_DROPS_AGGREGATE_BPF_H
#define NFSLEUTH_DROPS_AGGREGATE_BPF_H

#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include "counter.bpf.h"
#include "drops.h"
#include "maps.bpf.h"

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 1024 * 1024);
} drop_events SEC(".maps");

/* Resized by userspace before load. */
NFS_MAP(BPF_MAP_TYPE_LRU_HASH, drop_aggregates, struct nfs_drop_key, struct nfs_drop_value, 16384);

NFS_MAP(BPF_MAP_TYPE_PERCPU_ARRAY, drop_counters, __u32, __u64, NFS_DROP_CNT_MAX);

/* Scratch space: the value is too large to build on the 512-byte stack
 * next to the key and the origin. */
NFS_MAP(BPF_MAP_TYPE_PERCPU_ARRAY, drop_scratch, __u32, struct nfs_drop_value, 1);

/* Counts a drop into its flow's aggregate, which it returns; NULL when the
 * flow has none yet. Most drops of a storm end here, before anything about
 * their origin (interfaces, sender) is read. */
static __always_inline struct nfs_drop_value *count_into_aggregate(struct nfs_drop_key *key)
{
	struct nfs_drop_value *v;

	nfs_count(&drop_counters, NFS_DROP_CNT_SEEN);
	v = bpf_map_lookup_elem(&drop_aggregates, key);
	if (!v)
		return NULL;
	/* No clock read here: on some hypervisors it costs more than all the
	 * rest. Userspace dates later counts by the sweep that reads them. */
	__sync_fetch_and_add(&v->count, 1);
	return v;
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
	/* v->captured stays 0 here: only the map's copies count captures. */
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
	ev->key = *key;
	ev->origin = *origin;
	bpf_ringbuf_submit(ev, 0);
}

#endif
