#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# early_drop: with the table full of unreplied UDP entries, new flows get
# in by evicting old ones. The evicted flows are casualties too: each is
# reported (cause early_drop) and their total equals the kernel's
# early_drop counter. nf_ct_delete, which names them, runs at every
# entry's end: it is hooked only while a table is at least --arm-at (50%)
# full, and unhooked below 40%, each change a ct_evictions event. Needs the
# fentry or kprobe backend (the eviction has no tracepoint), so it skips
# where neither can attach.
source "$(dirname "$0")/../lib.sh"
require_root
require_traffic
require_conntrack
run_nfsleuth doctor doctor --json
if [[ $(jq -r .drop_backend "$WORK/doctor.out") == tracepoint ]]; then
  echo "skip [$TEST_NAME]: neither fentry nor kprobe can attach here"
  exit "$SKIP"
fi
backend=${DROPS_BACKEND:-auto}
[[ $backend == tracepoint ]] && { echo "skip [$TEST_NAME]: evictions are not visible to the tracepoint backend"; exit "$SKIP"; }

N=20
ns="nfsl-early-$$"
make_netns "$ns"
nsx() { ip netns exec "$ns" "$@"; }
conntrack_on "$ns"
# early_drop() looks at 8 hash buckets only: with 16 buckets it always finds
# a victim. Global, restored on exit.
buckets=$(cat /sys/module/nf_conntrack/parameters/hashsize)
on_exit "echo $buckets > /sys/module/nf_conntrack/parameters/hashsize"
echo 16 >/sys/module/nf_conntrack/parameters/hashsize

start_nfsleuth drops drops --json --interval 0.5 --backend "$backend"
tracer=$NFSLEUTH_BG_PID
assert_contains "$WORK/drops.err" "evicted entries named while a table is at least 50.0% full (--arm-at)" \
  "banner: evicted entries named from --arm-at"
set_conntrack_max "$N"
# N unreplied flows fill the table (nobody listens on 7100).
nsx "$TRAFFIC" udp-send --dst 127.0.0.1 --port 7100 --count "$N" --flows "$N" >"$WORK/fill.out"
assert_eq "$N" "$(nsx cat /proc/sys/net/netfilter/nf_conntrack_count)" "the table is full"
# The next sample finds it full and hooks nf_ct_delete.
wait_for_json "$WORK/drops.out" '.type == "ct_evictions" and .named' "evicted entries named once the table is full"
early0=$(ct_stat_sum "$ns" early_drop)
nsx "$TRAFFIC" udp-send --dst 127.0.0.1 --port 7101 --count 10 --flows 10 >"$WORK/new.out"
early1=$(ct_stat_sum "$ns" early_drop)
# A larger limit: N of 10N (10%) unhooks it.
set_conntrack_max $((10 * N))
wait_for_json "$WORK/drops.out" '.type == "ct_evictions" and (.named | not)' "nf_ct_delete unhooked below 40%"
stop_nfsleuth "$tracer" || fail "nfsleuth drops exited with $? on SIGINT"

evicted=$((early1 - early0))
((evicted > 0)) || fail "the kernel evicted nothing"
J="$WORK/drops.out"
assert_eq "$evicted" "$(jq -s '[.[] | select(.type=="ct_drop" and .cause=="early_drop") | .count] | add' "$J")" \
  "early_drop total equals the kernel's early_drop counter"
# A victim is any unreplied flow: one that filled the table, or a newcomer
# evicted by a later newcomer.
jq -r 'select(.proto=="udp") | "\(.sport)/\(.dport)"' "$WORK/fill.out" "$WORK/new.out" | sort >"$WORK/flows"
jq -r 'select(.type=="ct_drop" and .cause=="early_drop") | .flow | "\(.sport)/\(.dport)"' "$J" | sort >"$WORK/victims"
[[ -z $(comm -13 "$WORK/flows" "$WORK/victims") ]] || fail "an evicted flow is not one this test sent: $(comm -13 "$WORK/flows" "$WORK/victims")"
pass "every evicted flow is one this test sent"
assert_eq "$evicted" "$(wc -l <"$WORK/victims")" "one record per evicted flow"
assert_eq '[{"dst":"127.0.0.1","proto":"udp","src":"127.0.0.1"}]' \
  "$(jq -sc '[.[] | select(.type=="ct_drop" and .cause=="early_drop") | .flow | {dst, proto, src}] | unique' "$J")" \
  "victims' addresses and protocol"
assert_eq "\"$backend\"" "$(jq -sc '[.[] | select(.type=="ct_drop") | .backend] | unique | .[0]' "$J")" "backend in every event"
assert_eq '[{"named":true,"arm_at_percent":50,"disarm_below_percent":40},{"named":false,"arm_at_percent":50,"disarm_below_percent":40}]' \
  "$(jq -sc '[.[] | select(.type=="ct_evictions") | {named, arm_at_percent, disarm_below_percent}]' "$J")" \
  "ct_evictions: named from 50%, no longer below 40%"
assert_eq true "$(jq -sc '.[-1].kernel_agreement.agree' "$J")" "the kernel's counters agree"

# ---- Expired entries are reaped, not evicted -------------------------------
# early_drop() also reaps the expired entries it walks past: they end, the
# kernel does not count them as evictions, and neither may nfsleuth.
# Thousands of unreplied flows with a 1 s timeout expire faster than
# conntrack's garbage collector reaps them; a full table then sends every
# newcomer through early_drop() and past them.
ns2="nfsl-early2-$$"
make_netns "$ns2"
conntrack_on "$ns2"
ip netns exec "$ns2" sysctl -qw net.netfilter.nf_conntrack_udp_timeout=1
set_conntrack_max 100000
start_nfsleuth reaped drops --json --interval 0.5 --backend "$backend" --arm-at 0
tracer=$NFSLEUTH_BG_PID
# The collector may still get to them first (it hurries when it finds many
# expired): then again, on new ports, at most 3 times.
for attempt in 1 2 3; do
  set_conntrack_max 100000
  ip netns exec "$ns2" "$TRAFFIC" udp-send --dst 127.0.0.1 --port $((7200 + attempt * 10)) --count 3000 --flows 3000 \
    >"$WORK/old.out"
  sleep 1.2 # every one of them has expired
  early0=$(ct_stat_sum "$ns2" early_drop)
  left=$(ip netns exec "$ns2" cat /proc/sys/net/netfilter/nf_conntrack_count)
  ((left > 20)) && break
  echo "attempt $attempt: conntrack's garbage collector reaped the expired entries first ($left left)"
  sleep 1.2 # the last of them gone too
done
set_conntrack_max 20
ip netns exec "$ns2" "$TRAFFIC" udp-send --dst 127.0.0.1 --port 7201 --count 200 --flows 200 >"$WORK/newer.out"
early1=$(ct_stat_sum "$ns2" early_drop)
stop_nfsleuth "$tracer" || fail "nfsleuth drops exited with $? on SIGINT"
echo "expired entries left for early_drop to reap: $left of 3000; evictions the kernel counted: $((early1 - early0))"
((left > 20)) || fail "conntrack's garbage collector reaped the expired entries first 3 times ($left left): nothing tested"
J="$WORK/reaped.out"
assert_eq "$((early1 - early0))" "$(jq -s '[.[] | select(.type=="ct_drop" and .cause=="early_drop" and .netns_name=="'"$ns2"'") | .count] | add // 0' "$J")" \
  "expired entries reaped: early_drop total still equals the kernel's early_drop counter"
assert_eq 0 "$(jq -s '[.[] | select(.type=="counter_mismatch")] | length' "$J")" "expired entries reaped: no counter_mismatch"
