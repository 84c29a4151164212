#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# A drop storm: 200,000 UDP datagrams over 1,000 new flows into a full
# table. Every one is dropped, and nfsleuth's total equals the kernel's
# counter and the sender's error count exactly, with nothing missed. The
# consumer's CPU time is printed (BENCHMARKS.md measures it properly).
source "$(dirname "$0")/../lib.sh"
require_root
require_traffic
require_conntrack

COUNT=200000
FLOWS=1000
ns="nfsl-storm-$$"
make_netns "$ns"
nsx() { ip netns exec "$ns" "$@"; }
conntrack_on "$ns"

start_in_netns "$ns" "$WORK/listen.out" "$TRAFFIC" tcp-listen --addr 127.0.0.1 --port 7000 --duration-ms 60000
until [[ -s $WORK/listen.out ]]; do sleep 0.05; done

start_nfsleuth drops drops --json --interval 0.5 --backend "${DROPS_BACKEND:-auto}"
tracer=$NFSLEUTH_BG_PID
set_conntrack_max 1
# One TCP connection takes the only entry. Once answered it is assured, and
# early_drop() never evicts an assured entry: every flow after it is refused.
nsx "$TRAFFIC" tcp-connect --dst 127.0.0.1 --port 7000 --count 1 >"$WORK/seed.out"
assert_eq 1 "$(ip netns exec "$ns" cat /proc/sys/net/netfilter/nf_conntrack_count)" "the table holds one entry"

drop0=$(ct_stat_sum "$ns" drop)
cpu0=$(awk '{print $14 + $15}' "/proc/$tracer/stat")
nsx "$TRAFFIC" udp-send --dst 127.0.0.1 --port 7001 --count "$COUNT" --flows "$FLOWS" --max-ms 60000 >"$WORK/storm.out"
drop1=$(ct_stat_sum "$ns" drop)
sleep 1
cpu1=$(awk '{print $14 + $15}' "/proc/$tracer/stat")
stop_nfsleuth "$tracer" || fail "nfsleuth drops exited with $? on SIGINT"

summary=$(jqf "$WORK/storm.out" 'select(.event=="summary")')
assert_eq "$COUNT" "$(jq -c .errors <<<"$summary")" "every datagram was refused"
assert_eq "$COUNT" "$((drop1 - drop0))" "kernel drop counter"
J="$WORK/drops.out"
assert_eq "$COUNT" "$(jq -s '[.[] | select(.type=="ct_drop" and .cause=="table_full" and .flow.dport==7001) | .count] | add' "$J")" \
  "nfsleuth's table_full total"
assert_eq "$FLOWS" "$(jq -s '[.[] | select(.type=="ct_drop" and .flow.dport==7001 and .first) ] | length' "$J")" \
  "one new-flow record per flow"
last=$(tail -n1 "$J")
assert_eq 0 "$(jq -c .missed <<<"$last")" "nothing missed"
assert_eq 0 "$(jq -c .lost_records <<<"$last")" "no ring-buffer record lost"
ticks=$(getconf CLK_TCK)
elapsed=$(jq -c .elapsed_ms <<<"$summary")
pass "storm at $((COUNT * 1000 / (elapsed > 0 ? elapsed : 1))) drops/s; consumer CPU $(((cpu1 - cpu0) * 1000 / ticks)) ms over ${elapsed} ms + 1 s"
