#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# Never silently wrong: when nfsleuth's drop counts fall short of the
# kernel's own conntrack counters, every output says so. A flow aggregation
# map far too small for the traffic (--max-flows 64 for 1,000 dropping
# flows) makes nfsleuth lose counts of evicted aggregates: `drops` and
# `watch` must then print a warning, emit a counter_mismatch event, count it
# in the metrics and flag the namespace in their summaries, with the
# kernel's exact number beside nfsleuth's.
source "$(dirname "$0")/../lib.sh"
require_root
require_traffic
require_conntrack

COUNT=20000
FLOWS=1000
ns="nfsl-mismatch-$$"
make_netns "$ns"
nsx() { ip netns exec "$ns" "$@"; }
conntrack_on "$ns"
inode=$(stat -L -c %i "/run/netns/$ns")

start_in_netns "$ns" "$WORK/listen.out" "$TRAFFIC" tcp-listen --addr 127.0.0.1 --port 7000 --duration-ms 60000
until [[ -s $WORK/listen.out ]]; do sleep 0.05; done

start_nfsleuth drops drops --json --interval 0.3 --max-flows 64 --backend "${DROPS_BACKEND:-auto}"
drops_pid=$NFSLEUTH_BG_PID
start_nfsleuth watch watch --json --interval 0.3 --max-flows 64 --metrics 127.0.0.1:0 --backend "${DROPS_BACKEND:-auto}" \
  --journal "$WORK/journal.jsonl"
watch_pid=$NFSLEUTH_BG_PID
port=$(metrics_port "watch")

set_conntrack_max 1
nsx "$TRAFFIC" tcp-connect --dst 127.0.0.1 --port 7000 --count 1 >"$WORK/seed.out"
drop0=$(ct_stat_sum "$ns" drop)
nsx "$TRAFFIC" udp-send --dst 127.0.0.1 --port 7001 --count "$COUNT" --flows "$FLOWS" --max-ms 60000 >"$WORK/storm.out"
drop1=$(ct_stat_sum "$ns" drop)
assert_eq "$COUNT" "$((drop1 - drop0))" "kernel drop counter"
sleep 1 # a few intervals: the live check runs
curl -sf "http://127.0.0.1:$port/metrics" >"$WORK/metrics.txt" || fail "scrape failed"
stop_nfsleuth "$drops_pid" || fail "nfsleuth drops exited with $? on SIGINT"
stop_nfsleuth "$watch_pid" || fail "nfsleuth watch exited with $? on SIGINT"

for tool in drops watch; do
  J="$WORK/$tool.out"
  jq -e . "$J" >/dev/null || fail "$tool: a JSON line does not parse"
  if [[ $tool == drops ]]; then summary=$(tail -n1 "$J"); else summary=$(tail -n1 "$J" | jq -c .drops); fi
  reported=$(jq -s "[.[] | select(.type==\"ct_drop\" and .netns==$inode and .cause==\"table_full\") | .count] | add" "$J")
  ((reported < COUNT)) || fail "$tool: expected evictions to lose counts, but all $reported were reported"
  pass "$tool reported $reported of $COUNT drops (the rest lost with evicted aggregates)"
  # The summary: the namespace flagged, the kernel's exact count beside ours.
  assert_eq "{\"kernel\":$COUNT,\"nfsleuth\":$reported,\"counter\":\"drop\",\"direction\":\"unseen\"}" \
    "$(jq -c ".kernel_agreement.namespaces[] | select(.netns==$inode) | {kernel: .kernel.drop, nfsleuth: .nfsleuth.conntrack_drops, counter: .mismatches[0].counter, direction: .mismatches[0].direction}" <<<"$summary")" \
    "$tool: summary flags the namespace"
  assert_eq false "$(jq -c .kernel_agreement.agree <<<"$summary")" "$tool: summary says the counts disagree"
  ((  $(jq -c .missed <<<"$summary") > 0 )) || fail "$tool: accounting shows nothing missed"
  # Live: at least one event while tracing, each with the kernel's count
  # above what nfsleuth had seen.
  events=$(jq -s "[.[] | select(.type==\"counter_mismatch\" and .netns==$inode)]" "$J")
  (( $(jq length <<<"$events") >= 1 )) || fail "$tool: no counter_mismatch event"
  jq -e 'all(.[]; .counter=="drop" and .direction=="unseen" and .nfsleuth < .kernel_min and .kernel_max <= '"$COUNT"')' \
    <<<"$events" >/dev/null || fail "$tool: a counter_mismatch event is inconsistent: $events"
  pass "$tool: $(jq length <<<"$events") counter_mismatch events"
  assert_contains "$WORK/$tool.err" "WARNING: netns $inode ($ns): the kernel counted" "$tool: warning on stderr"
done

grep -q '^nfsleuth_counter_mismatches_total{counter="drop"} [1-9]' "$WORK/metrics.txt" ||
  fail "metrics: no nfsleuth_counter_mismatches_total for drop: $(grep mismatch "$WORK/metrics.txt")"
pass "metrics count the mismatch"
grep -q "^nfsleuth_counter_gap{netns=\"$ns\",counter=\"drop\"} [1-9]" "$WORK/metrics.txt" ||
  fail "metrics: no positive nfsleuth_counter_gap for $ns: $(grep gap "$WORK/metrics.txt")"
pass "metrics show the gap"

# After the fact: doctor finds the disagreements in the daemon's journal,
# rotated files included, and exits 1.
mv "$WORK/journal.jsonl" "$WORK/journal.jsonl.1"
echo '{"type":"summary"}' >"$WORK/journal.jsonl"
jqf "$WORK/journal.jsonl.1" 'select(.type=="counter_mismatch")' >"$WORK/journal-mismatches"
recorded=$(wc -l <"$WORK/journal-mismatches")
((recorded >= 1)) || fail "the journal holds no counter_mismatch event"
run_nfsleuth doctor doctor --json --journal "$WORK/journal.jsonl"
assert_eq 1 "$(cat "$WORK/doctor.rc")" "doctor exits 1 on a journal with mismatches"
assert_eq "{\"journal\":\"$WORK/journal.jsonl\",\"mismatches\":$recorded,\"skipped_lines\":0}" \
  "$(jqf "$WORK/doctor.out" '.kernel_agreement | {journal, mismatches, skipped_lines}')" "doctor counts every counter_mismatch of the journal"
assert_eq "$(tail -n1 "$WORK/journal-mismatches" | jq -c '{netns, counter, direction, kernel_min, kernel_max, nfsleuth}')" \
  "$(jqf "$WORK/doctor.out" '.kernel_agreement.last[-1] | {netns, counter, direction, kernel_min, kernel_max, nfsleuth}')" \
  "doctor shows the last one"
jqf "$WORK/doctor.out" '.notes[]' | grep -q "records $recorded disagreement(s) of nfsleuth's drop counts" ||
  fail "doctor's notes do not name the disagreements: $(jqf "$WORK/doctor.out" .notes)"
pass "doctor's notes name the disagreements"
run_nfsleuth doctor-text doctor --journal "$WORK/journal.jsonl"
assert_eq 1 "$(cat "$WORK/doctor-text.rc")" "doctor (text) exits 1 too"
assert_contains "$WORK/doctor-text.out" "Kernel counters: DISAGREED $recorded time(s) in $WORK/journal.jsonl" "doctor (text) says so"

