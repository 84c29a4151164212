/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* ABI of the module events: autoload requests, loads, failed loads, unloads. */
#ifndef NFSLEUTH_MODULES_H
#define NFSLEUTH_MODULES_H

#include "proc.h"

/* Large enough for the longest request_module() name (MODULE_NAME_LEN is 56,
 * aliases such as "net-pf-2-proto-132-type-1" are shorter). */
#define NFS_MODNAME_LEN 64
#define NFS_KSTACK_DEPTH 32

enum nfs_module_event_type {
	NFS_MOD_REQUEST = 1,             /* request_module(): an autoload */
	NFS_MOD_LOAD = 2,                /* a module finished loading */
	NFS_MOD_LOAD_ERROR = 3,          /* init_module/finit_module failed */
	NFS_MOD_FREE = 4,                /* a module was unloaded */
};

/* Indexes into the per-CPU counter array every module program updates. */
enum nfs_module_counter {
	NFS_MOD_CNT_SEEN = 0,            /* events the programs saw */
	NFS_MOD_CNT_LOST = 1,            /* ring buffer full: event not delivered */
	NFS_MOD_CNT_MAX = 2,
};

struct nfs_module_event {
	__u64 ts_boot_ns;                /* bpf_ktime_get_boot_ns() */
	__u32 type;                      /* enum nfs_module_event_type */
	__u32 wait;                      /* request: caller waits for modprobe */
	__s32 error;                     /* load error: negative errno */
	__s32 kstack_bytes;              /* bytes valid in kstack, or -errno */
	char module[NFS_MODNAME_LEN];
	__u64 kstack[NFS_KSTACK_DEPTH];
	struct nfs_proc proc;
};

#endif
