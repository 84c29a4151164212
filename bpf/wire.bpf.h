/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Constants of the wire and of kernel headers that are #defines, which
 * BTF (and so vmlinux.h) does not carry. Shared by the drop and creation
 * programs.
 */
#ifndef NFSLEUTH_WIRE_BPF_H
#define NFSLEUTH_WIRE_BPF_H

/* IP protocol numbers. */
#define NFS_IPPROTO_ICMP 1
#define NFS_IPPROTO_TCP 6
#define NFS_IPPROTO_UDP 17
#define NFS_IPPROTO_DCCP 33
#define NFS_IPPROTO_ICMPV6 58
#define NFS_IPPROTO_SCTP 132
#define NFS_IPPROTO_UDPLITE 136

/* include/linux/skbuff.h: low bit of _skb_refdst marks a non-refcounted dst;
 * include/linux/netfilter/nf_conntrack_common.h: low 3 bits of _nfct are
 * the ctinfo. Both are #defines, invisible to BTF. */
#define NFS_SKB_DST_NOREF 1UL
#define NFS_NFCT_INFOMASK 7UL

#endif
