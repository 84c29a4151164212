#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# `watch` as a daemon: a namespace's table half full arms creation
# tracking (ct_tracking); filled on by a known process, it raises
# ct_pressure naming that process before anything drops; the drops
# that follow, the creations and the accounting are exact; the journal is
# reopened on SIGHUP and every line of it parses; capabilities are reduced
# in every thread; a second instance on the same journal is refused; SIGTERM
# detaches everything and exits 0.
source "$(dirname "$0")/../lib.sh"
require_root
require_traffic
require_conntrack

ns="nfsl-watch-$$"
make_netns "$ns"
nsx() { ip netns exec "$ns" "$@"; }
# Any rule that needs conntrack makes the namespace track its flows.
nsx iptables -A OUTPUT -m conntrack --ctstate NEW -j ACCEPT

bpf_before=$(bpf_object_ids)
journal="$WORK/events.jsonl"
start_nfsleuth watch watch --json --interval 0.2 --threshold 90 --full-within 0 --journal "$journal" --metrics 127.0.0.1:0 \
  --backend "${DROPS_BACKEND:-auto}"
daemon=$NFSLEUTH_BG_PID
banner=$(grep "^nfsleuth: tracing" "$WORK/watch.err")
echo "$banner"
port=$(metrics_port "watch")

# Capabilities: the same reduced set in every thread (the HTTP server's too):
# cap_dac_read_search and cap_sys_ptrace for /proc; where the eviction hooks follow
# nf_conntrack as a module, cap_bpf and cap_perfmon (cap_sys_admin before
# 5.8) to attach its kprobes, whose perf events the netns broker opens.
# Namespaces are entered by the netns broker (test_watch_privileges).
expected=0000000000080004
if grep -q "; evictions and helper drops named by kprobes" <<<"$banner"; then
  expected=000000c000080004
  (($(cat /proc/sys/kernel/cap_last_cap) >= 39)) || expected=0000000000280004
fi
# Each interval the daemon reads every namespace's conntrack state from a
# short-lived thread: one may end between the listing and the reading.
for status in /proc/"$daemon"/task/*/status; do
  caps=$(cat "$status" 2>/dev/null) || continue
  thread=$(basename "$(dirname "$status")")
  assert_eq "$expected" "$(awk '/^CapEff:/ {print $2}' <<<"$caps")" "CapEff of thread $thread"
  assert_eq "$expected" "$(awk '/^CapBnd:/ {print $2}' <<<"$caps")" "CapBnd of thread $thread"
  assert_eq 1 "$(awk '/^NoNewPrivs:/ {print $2}' <<<"$caps")" "NoNewPrivs"
done

# A second instance on the same journal is refused before loading anything.
run_nfsleuth second watch --journal "$journal" --duration 1
assert_eq 1 "$(cat "$WORK/second.rc")" "a second watch on the same journal exits 1"
assert_contains "$WORK/second.err" "is in use by another nfsleuth (pid $daemon)" "the refusal names the holder"

start_in_netns "$ns" "$WORK/listen.out" "$TRAFFIC" tcp-listen --addr 127.0.0.1 --port 7001 --duration-ms 120000
until [[ -s $WORK/listen.out ]]; do sleep 0.05; done
set_conntrack_max 20
# 10 connections: half the table, where creators start being counted
# (--arm-at 50 by default). Until then nothing ran per connection.
nsx "$TRAFFIC" tcp-connect --dst 127.0.0.1 --port 7001 --count 10 >"$WORK/early.out"
wait_for_json "$WORK/watch.out" '.type == "ct_tracking"' "ct_tracking" 10
tracking=$(jqf "$WORK/watch.out" 'select(.type=="ct_tracking")')
echo "$tracking"
assert_eq "{\"state\":\"armed\",\"netns_name\":\"$ns\",\"count\":10,\"max\":20,\"fill_percent\":50,\"arm_at_percent\":50,\"disarm_below_percent\":40}" \
  "$(jq -c '{state, netns_name, count, max, fill_percent, arm_at_percent, disarm_below_percent}' <<<"$tracking")" \
  "creation tracking armed at half the table"
# 8 more from another process: 90% of the table, and nothing dropped yet.
# Established connections are assured, and early_drop() never evicts
# those: the drops below are exact.
nsx "$TRAFFIC" tcp-connect --dst 127.0.0.1 --port 7001 --count 8 >"$WORK/fill.out"
wait_for_json "$WORK/watch.out" '.type == "ct_pressure"' "ct_pressure" 10
sender=$(jqf "$WORK/fill.out" 'select(.event=="summary") | .pid')
pressure=$(jqf "$WORK/watch.out" 'select(.type=="ct_pressure")' | head -1)
echo "$pressure"
assert_eq '"high"' "$(jq -c .state <<<"$pressure")" "pressure state"
assert_eq "\"$ns\"" "$(jq -c .netns_name <<<"$pressure")" "pressure names the namespace"
assert_eq 18 "$(jq -c .count <<<"$pressure")" "entries at the warning"
assert_eq 20 "$(jq -c .max <<<"$pressure")" "table size at the warning"
assert_eq 8 "$(jq -c .creators.created <<<"$pressure")" "creations counted since tracking was armed"
assert_eq "[{\"pid\":$sender,\"comm\":\"nfsl-traffic\",\"entries\":8}]" \
  "$(jq -c .creators.processes <<<"$pressure")" "the top creator is the sender after arming"
assert_eq '[{"destination":"127.0.0.1:7001/tcp","entries":8}]' \
  "$(jq -c .creators.destinations <<<"$pressure")" "the top destination"
assert_eq 0 "$(jqf "$WORK/watch.out" 'select(.type=="ct_drop")' | wc -l)" "no drop before the warning"

# logrotate: move the journal away and send SIGHUP; later events go to a new file.
mv "$journal" "$journal.1"
kill -HUP "$daemon"
sleep 0.5
[[ -f $journal ]] || fail "SIGHUP reopened the journal at its path"

# 5 more connections: 2 fit, the SYNs of 3 are dropped because the table is
# full (given up after 300 ms, before the first retransmission).
drop0=$(ct_stat_sum "$ns" drop)
nsx "$TRAFFIC" tcp-connect --dst 127.0.0.1 --port 7001 --count 5 --timeout-ms 300 >"$WORK/over.out"
drop1=$(ct_stat_sum "$ns" drop)
assert_eq 3 "$((drop1 - drop0))" "the kernel dropped 3"
sleep 1

metrics=$(curl -fsS "http://127.0.0.1:$port/metrics")
grep -F "nfsleuth_drops_total{cause=\"table_full\",netns=\"$ns\"} 3" <<<"$metrics" || fail "drops metric"
grep -F "nfsleuth_conntrack_created_total{netns=\"$ns\"} 10" <<<"$metrics" || fail "creations metric (8 + 2, while armed)"
grep -F "nfsleuth_creation_tracking_armed{netns=\"$ns\"} 1" <<<"$metrics" || fail "armed gauge"
grep -F "nfsleuth_conntrack_entries{netns=\"$ns\"} 20" <<<"$metrics" || fail "entries gauge"
grep -F "nfsleuth_conntrack_max{netns=\"$ns\"} 20" <<<"$metrics" || fail "max gauge"
grep -F "nfsleuth_conntrack_pressure_events_total{netns=\"$ns\"} 1" <<<"$metrics" || fail "pressure counter"
pass "metrics: drops, creations, fill and pressure of the namespace"

kill -TERM "$daemon"
rc=0
wait "$daemon" || rc=$?
assert_eq 0 "$rc" "SIGTERM: exit status"
assert_bpf_released "$bpf_before" "no BPF program or link of nfsleuth left after exit"

summary=$(jqf "$WORK/watch.out" 'select(.type=="summary")')
assert_eq 3 "$(jq -c '.drops.by_cause.table_full' <<<"$summary")" "summary: table-full drops"
for key in seen reported; do
  assert_eq 3 "$(jq -c ".drops.$key" <<<"$summary")" "summary: drops $key"
done
assert_eq 0 "$(jq -c '.drops.lost_records' <<<"$summary")" "summary: drop records lost"
assert_eq 10 "$(jq -c '[.creations.seen, .creations.reported] | min' <<<"$summary")" "summary: creations seen and reported"
assert_eq '{"arm_at_percent":50,"armed_episodes":1,"armed_now":1}' \
  "$(jq -c '.creations | {arm_at_percent, armed_episodes, armed_now}' <<<"$summary")" "summary: one armed episode"
assert_eq 0 "$(jq -c '.creations.lost' <<<"$summary")" "summary: creations lost"

# The journal: every line of both files is one JSON object; together they
# hold the pressure warning, the 3 drops and the summary.
for f in "$journal.1" "$journal"; do
  jq -e -c . "$f" >/dev/null || fail "$f has a line that is not JSON"
  [[ $(tail -c 1 "$f" | od -An -c | tr -d ' ') == '\n' ]] || fail "$f ends in the middle of a line"
done
pass "every journal line parses"
assert_eq 1 "$(jqf "$journal.1" 'select(.type=="ct_pressure")' | wc -l)" "the warning is in the rotated journal"
assert_eq 3 "$(cat "$journal" | jq -s '[.[] | select(.type=="ct_drop") | .count] | add')" "the drops are in the new journal"
assert_eq 1 "$(jqf "$journal" 'select(.type=="summary")' | wc -l)" "the summary ends the new journal"
