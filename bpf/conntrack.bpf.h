/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* Reading a conntrack entry the same way in every program. */
#ifndef NFSLEUTH_CONNTRACK_BPF_H
#define NFSLEUTH_CONNTRACK_BPF_H

#include "vmlinux.h"
#include <bpf/bpf_core_read.h>

/* The entry's zone id; 0 where struct nf_conn has no zone (built without
 * CONFIG_NF_CONNTRACK_ZONES, any kernel version). */
static __always_inline __u16 ct_zone_id(struct nf_conn *ct)
{
	return bpf_core_field_exists(ct->zone) ? BPF_CORE_READ(ct, zone.id) : 0;
}

#endif
