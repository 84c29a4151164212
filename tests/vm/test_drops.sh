#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# Runs inside the VM lab: the host's drop scenarios (table full over TCP,
# UDP and IPv6, rule drops, forwarding through a router, a 200k storm) on
# Debian's distro kernel, where nf_conntrack is a module.
source "$(dirname "$0")/../lib.sh"
require_root
host_tests=$(cd "$(dirname "$0")/../host" && pwd)

modprobe nf_conntrack
run_nfsleuth doctor doctor --json
jqf "$WORK/doctor.out" '.hooks[] | select(.hook=="ct_drop")'

for backend in ${VM_DROP_BACKENDS:-tracepoint}; do
  for t in test_drops test_drops_forward test_drops_storm; do
    echo "=== $t with --backend $backend"
    DROPS_BACKEND=$backend bash "$host_tests/$t.sh" "$NFSLEUTH" "$TRAFFIC" || fail "$t with --backend $backend"
  done
done
