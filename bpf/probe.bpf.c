// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Empty programs, one per attach type, that `nfsleuth doctor` loads and
 * attaches one at a time: whether a kernel can really use an attach type is
 * only known by trying it (lockdown, missing trampolines, CONFIG_KPROBES=n
 * all look the same from the config's point of view).
 *
 * Attach targets are set from userspace, so the section names carry none.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

char LICENSE[] SEC("license") = "Dual BSD/GPL";

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 4096);
} probe_ringbuf SEC(".maps");

SEC("fentry")
int BPF_PROG(probe_fentry)
{
	return 0;
}

SEC("fexit")
int BPF_PROG(probe_fexit)
{
	return 0;
}

SEC("kprobe")
int probe_kprobe(void *ctx)
{
	return 0;
}

SEC("kretprobe")
int probe_kretprobe(void *ctx)
{
	return 0;
}

SEC("tracepoint")
int probe_tracepoint(void *ctx)
{
	return 0;
}

SEC("raw_tp")
int probe_raw_tp(void *ctx)
{
	return 0;
}

SEC("tp_btf")
int BPF_PROG(probe_tp_btf)
{
	return 0;
}
