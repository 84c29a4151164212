#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# Runs inside the VM lab: the host's drop scenarios (table full over TCP,
# UDP and IPv6, rule drops, forwarding through a router over both
# families, a 200k storm, conntrack helper drops) on Debian's distro
# kernel, where nf_conntrack is a module, on each backend, plus early_drop
# evictions (fentry and kprobe only), and --pcap's packet capture (drops
# only: its watch part is the host's). ICMP and SCTP, whose drops are
# classified like UDP's, run on kprobes only, and with a backend list (the
# third argument) only for a backend written with a trailing "+".
source "$(dirname "$0")/../lib.sh"
require_root
host_tests=$(cd "$(dirname "$0")/../host" && pwd)

modprobe nf_conntrack
run_nfsleuth doctor doctor --json
# nf_conntrack is a module: kprobes follow it (fentry would keep it from
# being unloaded); fentry only when forced.
assert_eq '{"backend":"kprobe","follows":true}' "$(jqf "$WORK/doctor.out" '{backend: .drop_backend, follows: .drop_causes_follow_module}')" \
  "doctor: drop causes from kprobes that follow nf_conntrack"

# Every backend this kernel offers, or those named by the third argument;
# one it refuses (fentry on kernels whose modules carry no BTF, before
# 5.11) must say why and exit 3.
for backend in ${3:-fentry kprobe+ tracepoint}; do
  all_protocols=false
  [[ $backend == *+ ]] && { all_protocols=true; backend=${backend%+}; }
  run_nfsleuth try-$backend drops --backend "$backend" --duration 0.5
  if [[ $(cat "$WORK/try-$backend.rc") == 3 ]]; then
    assert_contains "$WORK/try-$backend.err" "the $backend backend cannot be used here" "--backend $backend refused with a reason"
    echo "=== $(uname -r): backend $backend unsupported: $(head -n1 "$WORK/try-$backend.err")"
    continue
  fi
  assert_eq 0 "$(cat "$WORK/try-$backend.rc")" "drops --backend $backend runs"
  scenarios="test_drops test_drops_forward test_drops_storm test_drops_early test_drops_helper test_drops_pcap"
  $all_protocols && scenarios+=" test_drops_icmp test_drops_sctp"
  for t in $scenarios; do
    echo "=== $(date +%T) $t with --backend $backend"
    rc=0
    DROPS_BACKEND=$backend PCAP_BACKEND_ONLY=1 bash "$host_tests/$t.sh" "$NFSLEUTH" "$TRAFFIC" || rc=$?
    # 77: the test does not apply to this backend (early_drop on tracepoint)
    [[ $rc == 0 || $rc == "$SKIP" ]] || fail "$t with --backend $backend"
  done
done
