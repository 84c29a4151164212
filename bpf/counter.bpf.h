/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* Bumps one slot of a per-CPU u64 array: the accounting every program keeps. */
#ifndef NFSLEUTH_COUNTER_BPF_H
#define NFSLEUTH_COUNTER_BPF_H

#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

/* Always inlined, so `counters` is a constant map reference at each call. */
static __always_inline void nfs_count(void *counters, __u32 which)
{
	__u64 *c = bpf_map_lookup_elem(counters, &which);

	if (c)
		*c += 1;
}

#endif
