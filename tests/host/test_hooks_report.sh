#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# Every command reports its hooks the same way: doctor loads and attaches
# each source's real programs, and drops and watch list the hooks they do
# not trace in their JSON summary; watch also exposes a gauge per hook. The
# one hook that may be given up here is helper_drop: it needs a kprobe, and
# a kernel without kprobes (this host's) only loses the `helper` cause. The VM lab test test_modules_hooks.sh makes the kernel refuse hooks.
source "$(dirname "$0")/../lib.sh"
require_root

bpf_before=$(bpf_object_ids)
run_nfsleuth doctor doctor --json
assert_eq 0 "$(cat "$WORK/doctor.rc")" "doctor exit code"
d() { jqf "$WORK/doctor.out" "$1"; }
assert_eq 0 "$(d '[.hooks[] | select(.refused != null)] | length')" "doctor: no hook refused"
assert_eq true "$(d '.hooks[] | select(.hook=="ct_drop") | .works')" "doctor: ct_drop's real programs load and attach"
# A hook the kernel does not offer is not tried.
assert_eq 0 "$(d '[.hooks[] | select(.attach == null and .works != null)] | length')" \
  "doctor: hooks without a candidate are not tried"
assert_bpf_released "$bpf_before" "doctor leaves no program loaded"

given_up='[]'
if [[ $(d '.attach_types.kprobe.works') != true ]]; then
  given_up='[{"hook":"helper_drop","stage":"plan","required":false}]'
  assert_eq '{"attach":null,"works":null}' "$(d '.hooks[] | select(.hook=="helper_drop") | {attach, works}')" \
    "doctor: helper_drop has no candidate without kprobes"
fi
# The banner names exactly the hooks the summary lists, or says nothing.
check_given_up() { # name
  assert_eq "$given_up" "$(tail -n1 "$WORK/$1.out" | jq -c '[.not_traced[] | {hook, stage, required}]')" \
    "$1 summary: the hooks not traced"
  if [[ $given_up == '[]' ]]; then
    grep -q "not traced" "$WORK/$1.err" && fail "$1 banner: $(cat "$WORK/$1.err")"
  else
    assert_contains "$WORK/$1.err" "; not traced: helper_drop (kprobe unavailable: " "$1 banner: helper_drop given up"
  fi
  pass "$1 banner and summary agree"
}

run_nfsleuth drops drops --json --duration 1
assert_eq 0 "$(cat "$WORK/drops.rc")" "drops exit code"
check_given_up drops

start_nfsleuth watch watch --json --interval 0.2 --metrics 127.0.0.1:0
port=$(metrics_port "watch")
curl -fsS "http://127.0.0.1:$port/metrics" >"$WORK/metrics.txt"
assert_contains "$WORK/metrics.txt" "# TYPE nfsleuth_hook_attached gauge" "metrics: the hook gauge"
assert_contains "$WORK/metrics.txt" 'nfsleuth_hook_attached{hook="ct_drop",method="tp_btf"} 1' "metrics: ct_drop attached with tp_btf"
stop_nfsleuth "$NFSLEUTH_BG_PID" || fail "watch exited with $? on SIGINT"
check_given_up watch
