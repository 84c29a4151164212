// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Conntrack activation per network namespace. On current kernels conntrack
 * hooks into a namespace's packet path only once a rule needs it; that
 * moment, and the process whose rule caused it, is what these programs see.
 *
 * Two ways, one per backend:
 * - fentry/kprobe on nf_register_net_hook (always built in, so it can be
 *   hooked before nf_conntrack is even loaded): a prerouting hook registered
 *   at conntrack's priority. Userspace confirms from the hook function's
 *   symbol that it is conntrack's. This sees every path (nftables,
 *   iptables-nft, iptables-legacy's setsockopt, an openvswitch ct action).
 * - the sock_send_length tracepoint, where nothing can be hooked: after a
 *   process sends to a nfnetlink socket (nftables and iptables-nft apply
 *   their rules synchronously inside that send), the namespace's prerouting
 *   hooks are compared with what they were at its previous send. Changes
 *   made otherwise (iptables-legacy's setsockopt) are not seen this way.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include "activations.h"
#include "counter.bpf.h"
#include "proc_capture.bpf.h"
#include "maps.bpf.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* Addresses of conntrack's prerouting hook functions (from kallsyms), for
 * the sock_send_length way; 0 when unknown. */
const volatile __u64 ct_hook_ipv4 = 0;
const volatile __u64 ct_hook_ipv6 = 0;
const volatile __u64 ct_hook_bridge = 0;
/* nfsleuth's own process: at start it sends an empty message to nfnetlink
 * in every namespace it can see, so their state is known before anyone
 * else's message; a namespace first seen later is new and began without
 * conntrack. */
const volatile __u32 self_tgid = 0;

/* Conntrack's hooks sit near the front (it runs at priority -200); a
 * namespace rarely has more than a handful of prerouting hooks. */
#define MAX_HOOKS_SCANNED 16

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 64 * 1024);
} activation_events SEC(".maps");

NFS_MAP(BPF_MAP_TYPE_PERCPU_ARRAY, activation_counters, __u32, __u64, NFS_ACT_CNT_MAX);

/* Families with conntrack active, by namespace cookie (never reused, unlike
 * inode numbers), as of the namespace's last nfnetlink message. */
NFS_MAP(BPF_MAP_TYPE_LRU_HASH, netns_ct_families, __u64, __u32, 16384);

static __always_inline struct nfs_activation_event *begin(__u32 method, struct net *net)
{
	struct nfs_activation_event *ev;

	nfs_count(&activation_counters, NFS_ACT_CNT_SEEN);
	ev = bpf_ringbuf_reserve(&activation_events, sizeof(*ev), 0);
	if (!ev) {
		nfs_count(&activation_counters, NFS_ACT_CNT_LOST);
		return NULL;
	}
	ev->ts_boot_ns = bpf_ktime_get_boot_ns();
	ev->method = method;
	ev->hook_fn = 0;
	ev->families = 0;
	ev->pf = -1;
	ev->netns_ino = BPF_CORE_READ(net, ns.inum);
	nfs_capture_proc(&ev->proc);
	return ev;
}

static __always_inline int on_hook_register(struct net *net, const struct nf_hook_ops *reg)
{
	int prerouting = bpf_core_enum_value(enum nf_inet_hooks, NF_INET_PRE_ROUTING);
	int priority = bpf_core_enum_value(enum nf_ip_hook_priorities, NF_IP_PRI_CONNTRACK);
	struct nfs_activation_event *ev;

	if (BPF_CORE_READ(reg, hooknum) != prerouting || BPF_CORE_READ(reg, priority) != priority)
		return 0;
	ev = begin(NFS_ACT_HOOK_REGISTERED, net);
	if (!ev)
		return 0;
	ev->hook_fn = (__u64)BPF_CORE_READ(reg, hook);
	ev->pf = BPF_CORE_READ(reg, pf);
	bpf_ringbuf_submit(ev, 0);
	return 0;
}

SEC("fentry/nf_register_net_hook")
int BPF_PROG(fentry_nf_register_net_hook, struct net *net, const struct nf_hook_ops *reg)
{
	return on_hook_register(net, reg);
}

SEC("kprobe/nf_register_net_hook")
int BPF_KPROBE(kprobe_nf_register_net_hook, struct net *net, const struct nf_hook_ops *reg)
{
	return on_hook_register(net, reg);
}

/* Whether the hook list holds the function at `fn`. */
static __always_inline bool has_hook(struct nf_hook_entries *entries, __u64 fn)
{
	__u32 hooks_offset = bpf_core_field_offset(struct nf_hook_entries, hooks);
	__u32 entry_size = bpf_core_type_size(struct nf_hook_entry);
	__u32 fn_offset = bpf_core_field_offset(struct nf_hook_entry, hook);
	__u16 n;

	if (!entries || !fn)
		return false;
	n = BPF_CORE_READ(entries, num_hook_entries);
	for (int i = 0; i < MAX_HOOKS_SCANNED; i++) {
		__u64 hook = 0;

		if (i >= n)
			break;
		bpf_probe_read_kernel(&hook, sizeof(hook),
				      (void *)entries + hooks_offset + i * entry_size + fn_offset);
		if (hook == fn)
			return true;
	}
	return false;
}

/* The prerouting hook list of one family's array in struct netns_nf. */
static __always_inline struct nf_hook_entries *prerouting_hooks(void *family_hooks)
{
	int prerouting = bpf_core_enum_value(enum nf_inet_hooks, NF_INET_PRE_ROUTING);
	struct nf_hook_entries *entries = NULL;

	bpf_probe_read_kernel(&entries, sizeof(entries), family_hooks + prerouting * sizeof(entries));
	return entries;
}

static __always_inline __u32 ct_families(struct net *net)
{
	__u32 families = 0;

	if (has_hook(prerouting_hooks(__builtin_preserve_access_index(&net->nf.hooks_ipv4)), ct_hook_ipv4))
		families |= NFS_CT_IPV4;
	if (has_hook(prerouting_hooks(__builtin_preserve_access_index(&net->nf.hooks_ipv6)), ct_hook_ipv6))
		families |= NFS_CT_IPV6;
	/* netns_nf has hooks_bridge only with CONFIG_NETFILTER_FAMILY_BRIDGE (a
	 * build option, on every kernel with per-family hook arrays). */
	if (bpf_core_field_exists(net->nf.hooks_bridge) &&
	    has_hook(prerouting_hooks(__builtin_preserve_access_index(&net->nf.hooks_bridge)), ct_hook_bridge))
		families |= NFS_CT_BRIDGE;
	return families;
}

/* After a process's message to nfnetlink on `sk`. */
static __always_inline int on_nfnetlink_send(struct sock *sk)
{
	struct nfs_activation_event *ev;
	__u32 before, now, *known;
	struct net *net;
	__u64 cookie;

	net = BPF_CORE_READ(sk, __sk_common.skc_net.net);
	cookie = BPF_CORE_READ(net, net_cookie);
	now = ct_families(net);
	known = bpf_map_lookup_elem(&netns_ct_families, &cookie);
	before = known ? *known : 0;
	if (!known || *known != now)
		bpf_map_update_elem(&netns_ct_families, &cookie, &now, BPF_ANY);
	if (!(now & ~before) || bpf_get_current_pid_tgid() >> 32 == self_tgid)
		return 0;
	ev = begin(NFS_ACT_SEEN_AFTER_SEND, net);
	if (!ev)
		return 0;
	ev->families = now & ~before;
	bpf_ringbuf_submit(ev, 0);
	return 0;
}

/* This runs after every send on every socket: the typed twin tests the
 * socket with direct loads, which cost a fraction of probe-read calls. */
SEC("tp_btf/sock_send_length")
int BPF_PROG(btf_sock_send_length, struct sock *sk, int ret, int flags)
{
	if (ret <= 0 || sk->__sk_common.skc_family != NFS_AF_NETLINK_ABI ||
	    sk->sk_protocol != NFS_NETLINK_NETFILTER_ABI)
		return 0;
	return on_nfnetlink_send(sk);
}

SEC("raw_tp/sock_send_length")
int BPF_PROG(raw_sock_send_length, struct sock *sk, int ret, int flags)
{
	if (ret <= 0 || BPF_CORE_READ(sk, __sk_common.skc_family) != NFS_AF_NETLINK_ABI ||
	    BPF_CORE_READ(sk, sk_protocol) != NFS_NETLINK_NETFILTER_ABI)
		return 0;
	return on_nfnetlink_send(sk);
}
