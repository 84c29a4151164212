/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * --pcap: the first bytes of the first few dropped packets of each key,
 * from the network header, sent on a ring buffer of their own (a burst of
 * captures must never take the room of first-drop records). Userspace
 * writes them to a pcapng file with the drop's context as each packet's
 * comment.
 *
 * Only the *_pcap twins of the kfree_skb programs (drops.bpf.c) call
 * this, and userspace loads them instead of the others with --pcap only:
 * without it not one instruction of the capture runs, and the ring buffer
 * is left at one page. Only packets the drop programs already handle are
 * looked at; the skb is the one skb:kfree_skb hands every backend (tp_btf
 * or raw_tp), so all backends capture alike. Evictions (early_drop) are
 * entries, not packets: they have nothing to capture.
 */
#ifndef NFSLEUTH_DROPS_CAPTURE_BPF_H
#define NFSLEUTH_DROPS_CAPTURE_BPF_H

#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include "counter.bpf.h"
#include "drops.h"
#include "drops_aggregate.bpf.h"
#include "drops_flow.bpf.h"
#include "maps.bpf.h"

/* Set by userspace from --pcap-snaplen (at most NFS_CAPTURE_MAX) and
 * --pcap-per-flow. */
const volatile __u32 capture_snaplen = 0;
const volatile __u32 capture_per_flow = 0;

/* Resized by userspace with --pcap; a page otherwise. */
struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 4096);
} capture_events SEC(".maps");

NFS_MAP(BPF_MAP_TYPE_PERCPU_ARRAY, capture_counters, __u32, __u64, NFS_CAPTURE_CNT_MAX);

/* Takes one of the key's capture_per_flow slots. The check and the add are
 * not one atomic step (a fetching add needs BPF ISA v3): CPUs dropping the
 * same key at the same instant may each take one more, which userspace's
 * own per-flow limit then holds back. */
static __always_inline bool claim_capture(struct nfs_drop_value *v)
{
	if (v->captured >= capture_per_flow) {
		nfs_count(&capture_counters, NFS_CAPTURE_CNT_PAST_FLOW);
		return false;
	}
	__sync_fetch_and_add(&v->captured, 1);
	return true;
}

/* Sends a capture record of the packet: its length from the network header
 * and up to capture_snaplen of its bytes from there. Only the linear part
 * of the skb is read (headers are always there; paged payload is not
 * reachable with a probe read). */
static __always_inline void capture_packet(struct sk_buff *skb, bool typed, const struct nfs_drop_key *key,
					   const struct nfs_drop_origin *origin)
{
	unsigned char *head = NFS_FIELD(typed, skb, head);
	unsigned char *data = NFS_FIELD(typed, skb, data);
	__u16 network_header = NFS_FIELD(typed, skb, network_header);
	__u32 len = NFS_FIELD(typed, skb, len);
	__u32 data_len = NFS_FIELD(typed, skb, data_len);
	struct nfs_capture_event *ev;
	__s64 l3_from_data, packet, linear;
	__u64 n; /* 64-bit: a 32-bit one is compared through a zero-extended copy, not itself */

	ev = bpf_ringbuf_reserve(&capture_events, sizeof(*ev), 0);
	if (!ev) {
		nfs_count(&capture_counters, NFS_CAPTURE_CNT_LOST);
		return;
	}
	ev->ts_boot_ns = bpf_ktime_get_boot_ns();
	ev->key = *key;
	ev->origin = *origin;
	ev->flags = 0;
	ev->pad = 0;
	/* skb->len counts from skb->data, which is the network header at every
	 * netfilter hook; measured from the offsets all the same. */
	l3_from_data = (__s64)(head + network_header - data);
	packet = (__s64)len - l3_from_data;
	linear = (__s64)(len - data_len) - l3_from_data;
	if (packet <= 0 || packet > 0xffffffffLL || linear <= 0) {
		ev->flags = NFS_CAPTURE_UNREADABLE;
		ev->packet_len = 0;
		ev->captured_len = 0;
		goto submit;
	}
	n = capture_snaplen;
	if (n > (__u64)linear)
		n = linear;
	if (n > (__u64)packet)
		n = packet;
	/* Bounded on the register the helper gets, whatever the compiler made
	 * of the comparisons above. */
	barrier_var(n);
	if (n > NFS_CAPTURE_MAX)
		n = NFS_CAPTURE_MAX;
	barrier_var(n);
	ev->packet_len = packet;
	ev->captured_len = n;
	if (bpf_probe_read_kernel(ev->data, n, head + network_header) < 0) {
		ev->flags = NFS_CAPTURE_UNREADABLE;
		ev->captured_len = 0;
	}
submit:
	bpf_ringbuf_submit(ev, 0);
}

/* A drop counted into an existing aggregate `v`: captured while the key has
 * slots left. */
static __always_inline void capture_later_drop(struct sk_buff *skb, bool typed, const struct nfs_drop_key *key,
					       struct nfs_drop_value *v)
{
	if (claim_capture(v))
		capture_packet(skb, typed, key, &v->origin);
}

/* A key's first drop, after record_first_drop(): captured with the origin
 * just read, into whichever aggregate counted it (this CPU's new one, or
 * the one another CPU created a moment before; none: not captured). */
static __always_inline void capture_first_drop(struct sk_buff *skb, bool typed, const struct nfs_drop_key *key,
					       const struct nfs_drop_origin *origin)
{
	struct nfs_drop_value *v;

	v = bpf_map_lookup_elem(&drop_aggregates, key);
	if (v && claim_capture(v))
		capture_packet(skb, typed, key, origin);
}

#endif
