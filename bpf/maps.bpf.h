/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* A BTF-defined map with a key and a value, declared in one line. */
#ifndef NFSLEUTH_MAPS_BPF_H
#define NFSLEUTH_MAPS_BPF_H

#include <bpf/bpf_helpers.h>

#define NFS_MAP(map_type, name, key_type, value_type, entries) \
	struct {                                               \
		__uint(type, map_type);                        \
		__uint(max_entries, entries);                  \
		__type(key, key_type);                         \
		__type(value, value_type);                     \
	} name SEC(".maps")

#endif
