// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Module events: autoload requests (request_module), loads, failed loads and
 * unloads, each attributed to the process that was running when it happened.
 *
 * The requested name exists only as the formatted argument of the
 * module_request tracepoint (__request_module() is variadic), so these hooks
 * are tracepoints by nature. Each has a tp_btf twin (typed arguments, needs
 * kernel BTF) and a raw_tp twin (same arguments, no BTF needed); userspace
 * keeps one of each pair.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include "counter.bpf.h"
#include "modules.h"
#include "proc_capture.bpf.h"
#include "maps.bpf.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

const volatile bool capture_kstack = true;

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 256 * 1024);
} module_events SEC(".maps");

NFS_MAP(BPF_MAP_TYPE_PERCPU_ARRAY, module_counters, __u32, __u64, NFS_MOD_CNT_MAX);

static __always_inline struct nfs_module_event *begin(__u32 type)
{
	struct nfs_module_event *ev;

	nfs_count(&module_counters, NFS_MOD_CNT_SEEN);
	ev = bpf_ringbuf_reserve(&module_events, sizeof(*ev), 0);
	if (!ev) {
		nfs_count(&module_counters, NFS_MOD_CNT_LOST);
		return NULL;
	}
	ev->ts_boot_ns = bpf_ktime_get_boot_ns();
	ev->type = type;
	ev->wait = 0;
	ev->error = 0;
	ev->kstack_bytes = 0;
	ev->module[0] = '\0';
	nfs_capture_proc(&ev->proc);
	return ev;
}

static __always_inline int on_request(void *ctx, const char *name, bool wait)
{
	struct nfs_module_event *ev = begin(NFS_MOD_REQUEST);

	if (!ev)
		return 0;
	ev->wait = wait;
	bpf_probe_read_kernel_str(ev->module, sizeof(ev->module), name);
	/* The stack says which syscall path asked for the module. */
	if (capture_kstack)
		ev->kstack_bytes = bpf_get_stack(ctx, ev->kstack, sizeof(ev->kstack), 0);
	bpf_ringbuf_submit(ev, 0);
	return 0;
}

static __always_inline int on_module(__u32 type, struct module *mod)
{
	struct nfs_module_event *ev = begin(type);

	if (!ev)
		return 0;
	BPF_CORE_READ_STR_INTO(&ev->module, mod, name);
	bpf_ringbuf_submit(ev, 0);
	return 0;
}

SEC("tp_btf/module_request")
int BPF_PROG(btf_module_request, char *name, bool wait, unsigned long ip)
{
	return on_request(ctx, name, wait);
}

SEC("raw_tp/module_request")
int BPF_PROG(raw_module_request, char *name, bool wait, unsigned long ip)
{
	return on_request(ctx, name, wait);
}

SEC("tp_btf/module_load")
int BPF_PROG(btf_module_load, struct module *mod)
{
	return on_module(NFS_MOD_LOAD, mod);
}

SEC("raw_tp/module_load")
int BPF_PROG(raw_module_load, struct module *mod)
{
	return on_module(NFS_MOD_LOAD, mod);
}

SEC("tp_btf/module_free")
int BPF_PROG(btf_module_free, struct module *mod)
{
	return on_module(NFS_MOD_FREE, mod);
}

SEC("raw_tp/module_free")
int BPF_PROG(raw_module_free, struct module *mod)
{
	return on_module(NFS_MOD_FREE, mod);
}

/*
 * A failed init_module/finit_module (bad signature, unknown symbol, already
 * loaded) produces no module_load; the syscall exit tracepoints catch it.
 *
 * Their record is the kernel's struct syscall_trace_exit {struct trace_entry
 * ent; int nr; long ret;}, 24 bytes, not trace_event_raw_sys_exit (the
 * raw_syscalls:sys_exit record, whose `long id` takes nr's place). The two
 * agree only while struct trace_entry is 8 bytes: PREEMPT_RT kernels (6.1-rt)
 * add common_preempt_lazy_count to it, which moves trace_event_raw_sys_exit's
 * ret to 24, past the record, and the kernel then refuses to attach the
 * program (EACCES), while syscall_trace_exit's ret stays at 16 (nr moves to
 * 12). Declaring only ret lets CO-RE take its offset from the running
 * kernel's own syscall_trace_exit.
 */
struct syscall_trace_exit___nfs {
	long ret;
} __attribute__((preserve_access_index));

static __always_inline int on_load_syscall_exit(long ret)
{
	struct nfs_module_event *ev;

	if (ret >= 0)
		return 0;
	ev = begin(NFS_MOD_LOAD_ERROR);
	if (!ev)
		return 0;
	ev->error = (__s32)ret;
	bpf_ringbuf_submit(ev, 0);
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_finit_module")
int tp_finit_module_exit(struct syscall_trace_exit___nfs *ctx)
{
	return on_load_syscall_exit(ctx->ret);
}

SEC("tracepoint/syscalls/sys_exit_init_module")
int tp_init_module_exit(struct syscall_trace_exit___nfs *ctx)
{
	return on_load_syscall_exit(ctx->ret);
}
