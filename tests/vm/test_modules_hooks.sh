#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# Runs inside the VM lab, on any of its kernels (6.1 and 6.1-rt above all:
# PREEMPT_RT lays the syscall exit record out differently): failed module
# loads through finit_module() and init_module() are reported, and a hook
# whose programs the kernel refuses is given up and reported, at load and at
# attach, by `modules`, `watch` and `doctor`, while everything else runs.
source "$(dirname "$0")/../lib.sh"
require_root
[[ -e /proc/modules ]] || fail "the VM kernel has no module support"
echo "kernel $(uname -r)"

loaded() { grep -q "^$1 " /proc/modules; }
for m in dummy veth; do
  loaded "$m" && fail "module $m is loaded before the test: the scenarios need a fresh kernel"
done
release=$(uname -r)
tracefs_dirs=()
for d in /sys/kernel/tracing /sys/kernel/debug/tracing; do
  [[ -e $d/events/syscalls/sys_exit_finit_module/id ]] && tracefs_dirs+=("$d")
done
((${#tracefs_dirs[@]})) || fail "no tracefs with syscalls/sys_exit_finit_module"
exit_format=${tracefs_dirs[0]}/events/syscalls/sys_exit_finit_module/format
cp "$exit_format" "$WORK/sys_exit_finit_module.format"
# A record's size: where its last field ends.
record_size() { awk -F'[:;\t ]+' '/offset:/ { for (i = 1; i < NF; i++) { if ($i == "offset") o = $(i + 1); if ($i == "size") s = $(i + 1) }; e = o + s; if (e > m) m = e } END { print m }' "$1"; }
assert_eq 24 "$(record_size "$exit_format")" "sys_exit_finit_module's record size"
grep -q "field:long ret;.*offset:16;" "$exit_format" || { cat "$exit_format"; fail "ret is not at offset 16"; }
pass "ret at offset 16$(grep -q common_preempt_lazy_count "$exit_format" && echo " (with PREEMPT_RT's common_preempt_lazy_count)")"

# Failed loads of each kind; records the pids of the processes that tried.
# finit_module: insmod of a module already loaded (EEXIST) and of a file
# that is no module (ENOEXEC); init_module: an image that is no module.
fail_loads() { # prefix
  local p=$1
  insmod "/lib/modules/$release/kernel/drivers/net/dummy.ko" 2>/dev/null &
  echo $! >"$WORK/$p-exists.pid"
  wait $! && fail "insmod of the loaded dummy succeeded"
  insmod "$WORK/garbage.ko" 2>/dev/null &
  echo $! >"$WORK/$p-garbage.pid"
  wait $! && fail "insmod of a file that is no module succeeded"
  python3 -c 'import ctypes, os, sys
libc = ctypes.CDLL(None, use_errno=True)
image = bytes(64)  # no ELF header
open(sys.argv[1], "w").write(str(os.getpid()))
if libc.syscall(175, image, len(image), b"") == 0: sys.exit("init_module accepted an empty image")
print("init_module:", os.strerror(ctypes.get_errno()))' "$WORK/$p-init.pid"
}
head -c 4096 /dev/zero >"$WORK/garbage.ko"
modprobe dummy

# --- 1. this kernel: every hook's real programs attach -------------------------
run_nfsleuth doctor doctor --json
assert_eq 0 "$(cat "$WORK/doctor.rc")" "doctor exit code"
d() { jqf "$WORK/doctor.out" "$1"; }
for h in module_request module_load module_free finit_module_error init_module_error; do
  assert_eq true "$(d ".hooks[] | select(.hook==\"$h\") | .works")" "doctor: $h's real programs load and attach"
done
assert_eq 0 "$(d '[.hooks[] | select(.refused != null)] | length')" "doctor: no hook refused"

start_nfsleuth ok modules --json
grep -q "not traced" "$WORK/ok.err" && fail "modules gave a hook up: $(cat "$WORK/ok.err")"
pass "modules traces every hook: $(cat "$WORK/ok.err")"
fail_loads ok
modprobe veth
sleep 1
stop_nfsleuth "$NFSLEUTH_BG_PID" || fail "modules exited with $? on SIGINT"
J=$WORK/ok.out
error_of() { jqf "$J" "select(.type==\"module_load_error\" and .pid==$(cat "$WORK/$1.pid")) | .error"; }
assert_eq '"EEXIST"' "$(error_of ok-exists)" "finit_module of a loaded module"
assert_eq '"ENOEXEC"' "$(error_of ok-garbage)" "finit_module of a file that is no module"
assert_eq '"ENOEXEC"' "$(error_of ok-init)" "init_module of an image that is no module"
assert_eq '"insmod"' "$(jqf "$J" "select(.type==\"module_load_error\" and .pid==$(cat "$WORK/ok-exists.pid")) | .comm")" \
  "the failed load names insmod"
assert_eq '"veth"' "$(jqf "$J" 'select(.type=="module_load" and .module=="veth") | .module')" "a load is reported alongside"
assert_eq '[]' "$(tail -n1 "$J" | jq -c .not_traced)" "summary: nothing not traced"

# --- 2. the kernel refuses the optional hooks' programs at load ----------------
# A copy of this kernel's BTF in which syscall_trace_exit has another name:
# the CO-RE relocation of ret finds nothing, so the verifier refuses both
# syscall exit programs, and only them.
python3 - "$WORK/renamed.btf" <<'PY'
import sys
data = bytearray(open("/sys/kernel/btf/vmlinux", "rb").read())
old, new = b"\0syscall_trace_exit\0", b"\0syscall_trace_exiX\0"
if data.count(old) != 1:
    sys.exit("syscall_trace_exit is not in this kernel's BTF strings exactly once")
at = data.index(old)
data[at:at + len(old)] = new
open(sys.argv[1], "wb").write(data)
PY
start_nfsleuth load modules --json --btf "$WORK/renamed.btf"
for h in finit_module_error init_module_error; do
  assert_contains "$WORK/load.err" "not traced: $h (the kernel refused to load its programs: " "banner: $h given up at load"
done
assert_contains "$WORK/load.err" "module_load=tp_btf" "banner: the required hooks are traced"
rmmod veth
modprobe veth
fail_loads load
sleep 1
stop_nfsleuth "$NFSLEUTH_BG_PID" || fail "modules with refused hooks exited with $? on SIGINT"
J=$WORK/load.out
assert_eq '"veth"' "$(jqf "$J" 'select(.type=="module_load" and .module=="veth") | .module')" \
  "loads are still reported without the refused hooks"
assert_eq 0 "$(jqf "$J" 'select(.type=="module_load_error")' | wc -l)" "no failed load reported without its hooks"
assert_eq '[["finit_module_error","load","tracepoint:syscalls/sys_exit_finit_module"],["init_module_error","load","tracepoint:syscalls/sys_exit_init_module"]]' \
  "$(tail -n1 "$J" | jq -c '[.not_traced[] | [.hook, .stage, .attach]]')" "summary: the hooks given up at load"

# --- 3. the kernel refuses to attach one (as 6.1-rt did) -----------------------
# The event's id in tracefs replaced by that of an event with a shorter
# record: the program reads past it, and the kernel refuses to attach it
# (EACCES), exactly as with a record laid out differently.
short=sched/sched_kthread_stop_ret
size=$(record_size "${tracefs_dirs[0]}/events/$short/format")
((size < 24)) || fail "$short's record is $size bytes, not shorter than 24"
cp "${tracefs_dirs[0]}/events/$short/id" "$WORK/short.id"
for d in "${tracefs_dirs[@]}"; do
  mount --bind "$WORK/short.id" "$d/events/syscalls/sys_exit_finit_module/id"
  on_exit "umount $d/events/syscalls/sys_exit_finit_module/id"
done
refusal="not traced: finit_module_error (cannot attach BPF program tp_finit_module_exit: Permission denied (EACCES))"

run_nfsleuth doctor-refused doctor --json
assert_eq 3 "$(cat "$WORK/doctor-refused.rc")" "doctor exits 3 when a hook's programs are refused"
d() { jqf "$WORK/doctor-refused.out" "$1"; }
assert_eq '{"works":false,"refused":"attach"}' \
  "$(d '.hooks[] | select(.hook=="finit_module_error") | {works, refused: .refused.stage}')" "doctor: finit_module_error refused at attach"
assert_eq true "$(d '.hooks[] | select(.hook=="init_module_error") | .works')" "doctor: init_module_error still attaches"
d '.notes[]' | grep -q "finit_module_error.*at attach.*commands run without it" || { d .notes; fail "doctor's note on the refusal"; }
pass "doctor notes the refusal"
run_nfsleuth doctor-human doctor
grep -Eq "^  finit_module_error +tracepoint \(tracepoint:syscalls/sys_exit_finit_module\): REFUSED at attach: .*EACCES" \
  "$WORK/doctor-human.out" || { cat "$WORK/doctor-human.out"; fail "doctor's hook line for the refusal"; }
pass "doctor's human report shows the refusal"

start_nfsleuth attach modules
assert_contains "$WORK/attach.err" "$refusal" "modules banner: finit_module_error given up at attach"
rmmod veth
modprobe veth
fail_loads attach
sleep 1
stop_nfsleuth "$NFSLEUTH_BG_PID" || fail "modules with a refused attach exited with $? on SIGINT"
grep -Eq "^[^ ]+ load +veth by modprobe" "$WORK/attach.out" || { cat "$WORK/attach.out"; fail "the veth load is reported"; }
pass "loads are still reported"
grep -Eq "failed +error=ENOEXEC by python3\[$(cat "$WORK/attach-init.pid")\]" "$WORK/attach.out" ||
  { cat "$WORK/attach.out"; fail "the failed init_module is reported"; }
pass "init_module failures are still reported"
grep -q "by insmod\[" "$WORK/attach.out" && fail "a finit_module failure was reported without its hook"
assert_contains "$WORK/attach.out" \
  "Not traced: finit_module_error (failed finit_module() loads), given up at attach of tracepoint:syscalls/sys_exit_finit_module: cannot attach BPF program tp_finit_module_exit: Permission denied (EACCES)" \
  "exit summary names the hook given up"

# The daemon: the same in its banner, metrics and summary.
start_nfsleuth watch watch --json --interval 0.5 --metrics 127.0.0.1:0
assert_contains "$WORK/watch.err" "$refusal" "watch banner: finit_module_error given up"
port=$(sed -n 's|.*metrics: http://127.0.0.1:\([0-9]*\)/metrics.*|\1|p' "$WORK/watch.err")
[[ -n $port ]] || fail "the watch banner names the metrics address"
curl -fsS "http://127.0.0.1:$port/metrics" >"$WORK/metrics.txt"
assert_contains "$WORK/metrics.txt" 'nfsleuth_hook_attached{hook="finit_module_error",method="tracepoint"} 0' "gauge: finit_module_error not attached"
assert_contains "$WORK/metrics.txt" 'nfsleuth_hook_attached{hook="init_module_error",method="tracepoint"} 1' "gauge: init_module_error attached"
assert_contains "$WORK/metrics.txt" 'nfsleuth_hook_attached{hook="module_load",method="tp_btf"} 1' "gauge: module_load attached"
assert_contains "$WORK/metrics.txt" 'nfsleuth_hook_attached{hook="ct_drop",method="tp_btf"} 1' "gauge: ct_drop attached"
stop_nfsleuth "$NFSLEUTH_BG_PID" || fail "watch exited with $? on SIGINT"
assert_eq '[{"hook":"finit_module_error","stage":"attach","required":false}]' \
  "$(tail -n1 "$WORK/watch.out" | jq -c '[.not_traced[] | {hook, stage, required}]')" "watch summary: the hook given up"
