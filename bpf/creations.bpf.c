// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Who fills the conntrack table. Userspace attaches these programs only
 * while some namespace's table is under pressure (watch --arm-at).
 *
 * Where conntrack's allocation function can be hooked (fexit or kretprobe
 * on __nf_conntrack_alloc), every new entry is counted here, per netns,
 * creating process (when allocated in its context) and destination.
 *
 * Elsewhere creations come from conntrack netlink events, which name the
 * flow but not the process. The first packet of a new entry leaves through
 * net:net_dev_queue with ctinfo IP_CT_NEW, still in the sender's context
 * for locally generated traffic: that packet's entry tuple is remembered
 * with the sending process, for userspace to join to the netlink event.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_endian.h>
#include "counter.bpf.h"
#include "conntrack.bpf.h"
#include "context.bpf.h"
#include "creations.h"
#include "wire.bpf.h"
#include "maps.bpf.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* Resized by userspace before load. */
NFS_MAP(BPF_MAP_TYPE_LRU_HASH, ct_creators, struct nfs_creator_key, struct nfs_creator_value, 16384);

NFS_MAP(BPF_MAP_TYPE_LRU_HASH, ct_owners, struct nfs_ct_tuple, struct nfs_owner, 16384);

NFS_MAP(BPF_MAP_TYPE_PERCPU_ARRAY, creation_counters, __u32, __u64, NFS_CREATE_CNT_MAX);

static __always_inline void read_tuple(struct nf_conn *ct, struct nfs_ct_tuple *t)
{
	__u16 l3num = BPF_CORE_READ(ct, tuplehash[0].tuple.src.l3num);

	t->netns_ino = BPF_CORE_READ(ct, ct_net.net, ns.inum);
	t->zone = ct_zone_id(ct);
	t->family = l3num;
	t->proto = BPF_CORE_READ(ct, tuplehash[0].tuple.dst.protonum);
	if (l3num == NFS_AF_INET6_ABI) {
		BPF_CORE_READ_INTO(&t->saddr, ct, tuplehash[0].tuple.src.u3.ip6);
		BPF_CORE_READ_INTO(&t->daddr, ct, tuplehash[0].tuple.dst.u3.ip6);
	} else {
		BPF_CORE_READ_INTO((__u32 *)t->saddr, ct, tuplehash[0].tuple.src.u3.ip);
		BPF_CORE_READ_INTO((__u32 *)t->daddr, ct, tuplehash[0].tuple.dst.u3.ip);
	}
	if (t->proto == NFS_IPPROTO_ICMP || t->proto == NFS_IPPROTO_ICMPV6) {
		t->sport = bpf_ntohs(BPF_CORE_READ(ct, tuplehash[0].tuple.src.u.icmp.id));
		t->dport = (__u16)BPF_CORE_READ(ct, tuplehash[0].tuple.dst.u.icmp.type) << 8 |
			   BPF_CORE_READ(ct, tuplehash[0].tuple.dst.u.icmp.code);
	} else {
		t->sport = bpf_ntohs(BPF_CORE_READ(ct, tuplehash[0].tuple.src.u.all));
		t->dport = bpf_ntohs(BPF_CORE_READ(ct, tuplehash[0].tuple.dst.u.all));
	}
}

/* ---- allocation path: count each new entry here ---- */

static __always_inline void count_creation(struct nf_conn *ct)
{
	struct nfs_creator_key key = {};
	struct nfs_creator_value fresh = {};
	struct nfs_creator_value *v;
	struct nfs_ct_tuple t = {};

	nfs_count(&creation_counters, NFS_CREATE_CNT_SEEN);
	read_tuple(ct, &t);
	key.netns_ino = t.netns_ino;
	key.family = t.family;
	key.proto = t.proto;
	key.dport = t.dport;
	__builtin_memcpy(key.daddr, t.daddr, sizeof(key.daddr));
	if (in_process_context()) {
		key.pid = bpf_get_current_pid_tgid() >> 32;
		key.cgroup_id = bpf_get_current_cgroup_id();
	}
	v = bpf_map_lookup_elem(&ct_creators, &key);
	if (v) {
		__sync_fetch_and_add(&v->count, 1);
		return;
	}
	fresh.count = 1;
	if (key.pid) {
		fresh.uid = (__u32)bpf_get_current_uid_gid();
		bpf_get_current_comm(fresh.comm, sizeof(fresh.comm));
	}
	if (bpf_map_update_elem(&ct_creators, &key, &fresh, BPF_NOEXIST) == 0)
		return;
	/* Another CPU created it first: fold into theirs. */
	v = bpf_map_lookup_elem(&ct_creators, &key);
	if (v)
		__sync_fetch_and_add(&v->count, 1);
	else
		nfs_count(&creation_counters, NFS_CREATE_CNT_NO_AGGREGATE);
}

static __always_inline int on_alloc_return(long ret)
{
	/* IS_ERR(): the top 4095 values are errors (table full). */
	if (!ret || (unsigned long)ret >= (unsigned long)-4095)
		return 0;
	count_creation((struct nf_conn *)ret);
	return 0;
}

SEC("fexit/__nf_conntrack_alloc")
int BPF_PROG(fexit_creation_alloc, struct net *net, const void *zone, const void *orig, const void *repl,
	     unsigned int gfp, u32 flags, struct nf_conn *ret)
{
	return on_alloc_return((long)ret);
}

SEC("kretprobe/__nf_conntrack_alloc")
int BPF_KRETPROBE(kretprobe_creation_alloc, long ret)
{
	return on_alloc_return(ret);
}

/* ---- netlink path: remember who sent each new entry's first packet ---- */

/* Attached only while a table is under pressure, it still runs for every
 * packet then: the common case (not a new entry's first packet) returns
 * after one field, read directly where the argument is typed. */
static __always_inline int on_dev_queue(struct sk_buff *skb, unsigned long nfct)
{
	struct nf_conn *ct = (struct nf_conn *)(nfct & ~NFS_NFCT_INFOMASK);
	struct nfs_ct_tuple key = {};
	struct nfs_owner owner = {};

	if (!ct || (nfct & NFS_NFCT_INFOMASK) != bpf_core_enum_value(enum ip_conntrack_info, IP_CT_NEW))
		return 0;
	if (!in_process_context())
		return 0;
	read_tuple(ct, &key);
	fill_owner_from_current(&owner);
	if (bpf_map_update_elem(&ct_owners, &key, &owner, BPF_NOEXIST) == 0)
		nfs_count(&creation_counters, NFS_CREATE_CNT_OWNERS);
	return 0;
}

SEC("tp_btf/net_dev_queue")
int BPF_PROG(btf_net_dev_queue, struct sk_buff *skb)
{
	return on_dev_queue(skb, skb->_nfct);
}

SEC("raw_tp/net_dev_queue")
int BPF_PROG(raw_net_dev_queue, struct sk_buff *skb)
{
	return on_dev_queue(skb, BPF_CORE_READ(skb, _nfct));
}
