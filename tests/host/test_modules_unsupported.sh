#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# On a kernel without loadable modules, `modules` exits 3 and says why, in
# one sentence, with nothing on stdout (so --json consumers see no garbage).
source "$(dirname "$0")/../lib.sh"
require_root
if [[ -e /proc/modules ]]; then
  echo "skip [$TEST_NAME]: this kernel supports modules (the VM lab tests that case)"
  exit "$SKIP"
fi

for mode in human json; do
  args=(modules --duration 1)
  [[ $mode == json ]] && args+=(--json)
  run_nfsleuth "$mode" "${args[@]}"
  assert_eq 3 "$(cat "$WORK/$mode.rc")" "$mode: exit code"
  assert_eq 0 "$(wc -c <"$WORK/$mode.out")" "$mode: stdout bytes"
  assert_contains "$WORK/$mode.err" "no loadable-module support" "$mode: says the kernel has no module support"
  assert_contains "$WORK/$mode.err" "nothing can be autoloaded" "$mode: says nothing can be autoloaded"
  if [[ -e /proc/sys/net/netfilter/nf_conntrack_max ]]; then
    assert_contains "$WORK/$mode.err" "nf_conntrack is built in" "$mode: says nf_conntrack is built in"
  fi
done
