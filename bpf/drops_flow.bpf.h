/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * A dropped packet's flow (addresses, protocol, ports or ICMP type and
 * code) from its headers, with as few reads as the header layout allows.
 */
#ifndef NFSLEUTH_DROPS_FLOW_BPF_H
#define NFSLEUTH_DROPS_FLOW_BPF_H

#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include "drops.h"
#include "wire.bpf.h"

/* A field of a kernel struct, CO-RE relocated either way: loaded directly
 * where the program's arguments are typed (tp_btf: a load the kernel
 * checks, a fraction of the cost of a helper call), through
 * bpf_probe_read_kernel() otherwise (raw_tp). `typed` is a constant at
 * every call, so only one of the two is compiled. */
#define NFS_FIELD(typed, src, path) ((typed) ? (src)->path : BPF_CORE_READ(src, path))

/* The transport ports (or ICMP type and code) from bytes already read. */
static __always_inline void ports_from(const __u8 *l4, struct nfs_flow *f)
{
	switch (f->proto) {
	case NFS_IPPROTO_TCP:
	case NFS_IPPROTO_UDP:
	case NFS_IPPROTO_UDPLITE:
	case NFS_IPPROTO_SCTP:
	case NFS_IPPROTO_DCCP:
		f->sport = (__u16)l4[0] << 8 | l4[1];
		f->dport = (__u16)l4[2] << 8 | l4[3];
		break;
	case NFS_IPPROTO_ICMP:
	case NFS_IPPROTO_ICMPV6:
		f->icmp_type = l4[0];
		f->icmp_code = l4[1];
		break;
	}
}

/* The same, past an IPv4 header with options: one more read. */
static __always_inline void parse_ports(unsigned char *l4, struct nfs_flow *f)
{
	__u8 first[4];

	if (bpf_probe_read_kernel(first, sizeof(first), l4) < 0) {
		f->flags |= NFS_FLOW_TRUNCATED;
		return;
	}
	ports_from(first, f);
}

/* One read covers an IPv6 header or an IPv4 header without options, and
 * the first 4 bytes after it. (An skb's buffer always extends well past
 * its network header: reading this much from there stays inside it.) */
#define NFS_L3_READ 44

/* Reads the 5-tuple from the packet headers (wire format). */
static __always_inline void parse_flow(struct sk_buff *skb, struct nfs_flow *f, bool typed)
{
	unsigned char *l3 = NFS_FIELD(typed, skb, head) + NFS_FIELD(typed, skb, network_header);
	__u8 hdr[NFS_L3_READ];

	if (bpf_probe_read_kernel(hdr, sizeof(hdr), l3) < 0) {
		f->flags |= NFS_FLOW_TRUNCATED;
		return;
	}
	if ((hdr[0] >> 4) == 4) {
		__u8 ihl = hdr[0] & 0xf;
		__u16 frag = ((__u16)hdr[6] << 8 | hdr[7]) & 0x1fff;

		f->family = NFS_AF_INET_ABI;
		f->proto = hdr[9];
		__builtin_memcpy(f->saddr, &hdr[12], 4);
		__builtin_memcpy(f->daddr, &hdr[16], 4);
		if (frag) /* a later fragment carries no transport header */
			return;
		if (ihl == 5)
			ports_from(&hdr[20], f);
		else
			parse_ports(l3 + ihl * 4, f);
	} else if ((hdr[0] >> 4) == 6) {
		f->family = NFS_AF_INET6_ABI;
		f->proto = hdr[6]; /* extension headers are reported as the protocol */
		__builtin_memcpy(f->saddr, &hdr[8], 16);
		__builtin_memcpy(f->daddr, &hdr[24], 16);
		ports_from(&hdr[40], f);
	} else {
		f->flags |= NFS_FLOW_TRUNCATED;
	}
}

#endif
