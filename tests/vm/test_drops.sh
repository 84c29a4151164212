#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# Runs inside the VM lab: the host's drop scenarios (table full over TCP,
# UDP and IPv6, rule drops, forwarding through a router, a 200k storm) on
# Debian's distro kernel, where nf_conntrack is a module, on each backend,
# plus early_drop evictions (fentry and kprobe only).
source "$(dirname "$0")/../lib.sh"
require_root
host_tests=$(cd "$(dirname "$0")/../host" && pwd)

modprobe nf_conntrack
run_nfsleuth doctor doctor --json
assert_eq '"fentry"' "$(jqf "$WORK/doctor.out" .drop_backend)" "doctor: drop causes from fentry"

for backend in ${VM_DROP_BACKENDS:-fentry kprobe tracepoint}; do
  for t in test_drops test_drops_forward test_drops_storm test_drops_early; do
    echo "=== $t with --backend $backend"
    rc=0
    DROPS_BACKEND=$backend bash "$host_tests/$t.sh" "$NFSLEUTH" "$TRAFFIC" || rc=$?
    # 77: the test does not apply to this backend (early_drop on tracepoint)
    [[ $rc == 0 || $rc == "$SKIP" ]] || fail "$t with --backend $backend"
  done
done
