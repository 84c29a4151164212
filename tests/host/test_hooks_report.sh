#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# Every command reports its hooks the same way: doctor loads and attaches
# each source's real programs, and drops and watch list the hooks they do
# not trace (none here) in their JSON summary; watch also exposes a gauge per
# hook. The VM lab test test_modules_hooks.sh makes the kernel refuse hooks.
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

run_nfsleuth drops drops --json --duration 1
assert_eq 0 "$(cat "$WORK/drops.rc")" "drops exit code"
assert_eq '[]' "$(tail -n1 "$WORK/drops.out" | jq -c .not_traced)" "drops summary: nothing not traced"
grep -q "not traced" "$WORK/drops.err" && fail "drops banner: $(cat "$WORK/drops.err")"
pass "drops banner gives no hook up"

start_nfsleuth watch watch --json --interval 0.2 --metrics 127.0.0.1:0
port=$(sed -n 's|.*metrics: http://127.0.0.1:\([0-9]*\)/metrics.*|\1|p' "$WORK/watch.err")
[[ -n $port ]] || fail "the watch banner names the metrics address"
curl -fsS "http://127.0.0.1:$port/metrics" >"$WORK/metrics.txt"
assert_contains "$WORK/metrics.txt" "# TYPE nfsleuth_hook_attached gauge" "metrics: the hook gauge"
assert_contains "$WORK/metrics.txt" 'nfsleuth_hook_attached{hook="ct_drop",method="tp_btf"} 1' "metrics: ct_drop attached with tp_btf"
stop_nfsleuth "$NFSLEUTH_BG_PID" || fail "watch exited with $? on SIGINT"
grep -q "not traced" "$WORK/watch.err" && fail "watch banner: $(cat "$WORK/watch.err")"
pass "watch banner gives no hook up"
assert_eq '[]' "$(tail -n1 "$WORK/watch.out" | jq -c .not_traced)" "watch summary: nothing not traced"
