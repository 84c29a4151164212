#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# `watch` counts who creates conntrack entries only where a table is under
# pressure (--arm-at, 50% by default), and runs nothing per packet anywhere
# else:
# 1. a healthy table (a few hundred entries of 10000): no ct_tracking event,
#    no armed gauge, and the creation program never ran;
# 2. a table at half its size arms tracking there (ct_tracking "armed", the
#    armed gauge); two processes in two cgroups then fill it to --threshold,
#    and ct_pressure names both, the one that created more first, with their
#    exact pids, cgroups and entries, and counts only what came after arming;
# 3. the table falling below disarm_below (40%) disarms it ("disarmed", the
#    gauge gone), the creation program is detached (its run count stops) and
#    creations are no longer counted; the summary shows one armed episode.
# Where evictions are seen (fentry, kprobe), nf_ct_delete, which runs at
# every entry's end, follows the same fill: detached while healthy, hooked
# from 50% (ct_evictions "named"), detached below 40% again.
source "$(dirname "$0")/../lib.sh"
require_root
require_traffic
require_conntrack

cgroot=$(require_cgroup2) || exit $?

quiet="nfsl-armq-$$" # part 1: a healthy table
ns="nfsl-arm-$$"     # parts 2 and 3: a table under pressure
for n in "$quiet" "$ns"; do
  make_netns "$n"
  # Any rule that needs conntrack makes the namespace track its flows.
  ip netns exec "$n" iptables -A OUTPUT -m conntrack --ctstate NEW -j ACCEPT
done
nsx() { ip netns exec "$ns" "$@"; }
ns_inode=$(stat -L -c %i "/run/netns/$ns")

# The limit is global (read-only inside namespaces): every table of the
# host is measured against it.
set_conntrack_max 10000

start_nfsleuth watch watch --json --interval 0.2 --bpf-stats --full-within 0 --metrics 127.0.0.1:0 \
  --backend "${DROPS_BACKEND:-auto}"
daemon=$NFSLEUTH_BG_PID
banner=$(grep "^nfsleuth: tracing" "$WORK/watch.err")
echo "$banner"
port=$(metrics_port "watch")
# The program that runs while creations are counted: per packet queued to
# any device where conntrack cannot be hooked (this host: tp_btf), per new
# entry where its allocation can.
case $banner in
  *ct_first_packet=tp_btf*) creation_prog=btf_net_dev_queue ;;
  *ct_first_packet=raw_tp*) creation_prog=raw_net_dev_queue ;;
  *ct_create=fentry*) creation_prog=fexit_creation_alloc ;;
  *) creation_prog=kretprobe_creation_alloc ;;
esac
runs_series="nfsleuth_bpf_run_count_total{program=\"$creation_prog\"}"
echo "creation program: $creation_prog"
names_evictions=false
[[ $banner == *"evicted entries named while a table is at least 50.0% full (--arm-at)"* ]] && names_evictions=true
echo "evicted entries named (from 50%): $names_evictions"

run_counts() { grep '^nfsleuth_bpf_run_count_total' <<<"$1" | sed 's/^/  /'; }
# Where evictions are seen: the ct_evictions events so far and whether
# nf_ct_delete is attached now (its hook gauge).
check_evictions() { # named-states-so-far gauge what
  $names_evictions || return 0
  assert_eq "$1" "$(events '.type == "ct_evictions"' | jq -r .named | paste -sd ' ')" "$3: ct_evictions events"
  assert_eq "$2" "$(grep '^nfsleuth_hook_attached{hook="ct_delete"' <<<"$(scrape)" | awk '{print $2}')" \
    "$3: nf_ct_delete attached (hook gauge)"
}

# ---- 1. A healthy table: nothing runs per packet --------------------------
start_in_netns "$quiet" "$WORK/quiet-listen.out" "$TRAFFIC" tcp-listen --addr 127.0.0.1 --port 7101 --duration-ms 300000
until [[ -s $WORK/quiet-listen.out ]]; do sleep 0.05; done
# 300 connections and 200 datagrams on 20 flows: 320 entries, 3.2%.
ip netns exec "$quiet" "$TRAFFIC" tcp-connect --dst 127.0.0.1 --port 7101 --count 300 --timeout-ms 10000 \
  >"$WORK/quiet-tcp.out"
assert_eq 300 "$(jqf "$WORK/quiet-tcp.out" 'select(.proto == "tcp" and .ok)' | wc -l)" "healthy table: connections up"
ip netns exec "$quiet" "$TRAFFIC" udp-send --dst 127.0.0.1 --port 9101 --count 200 --flows 20 >"$WORK/quiet-udp.out"
assert_eq 200 "$(jqf "$WORK/quiet-udp.out" 'select(.event == "summary") | .sent')" "healthy table: datagrams sent"
# A sample taken after all of it.
wait_for_value "nfsleuth_conntrack_entries{netns=\"$quiet\"}" 320
sleep 0.5 # and the BPF statistics of a later interval
m=$(scrape)
echo "run counts of nfsleuth's BPF programs with every table healthy:"
run_counts "$m"
assert_eq 0 "$(events '.type == "ct_tracking"' | wc -l)" "healthy table: no ct_tracking event"
assert_eq "" "$(grep '^nfsleuth_creation_tracking_armed{' <<<"$m")" "healthy table: no namespace armed"
assert_eq "" "$(grep "^nfsleuth_conntrack_created_total{netns=\"$quiet\"}" <<<"$m")" \
  "healthy table: no creation counted (no series)"
runs=$(value "$m" "$runs_series")
if [[ -z $runs && $banner == *"while nf_conntrack is loaded"* ]]; then
  pass "healthy table: $creation_prog never attached (no run count)"
else
  assert_eq 0 "$runs" "healthy table: runs of $creation_prog"
fi
check_evictions "" 0 "healthy table"

# ---- 2. Under pressure: two creators in two cgroups ------------------------
cg_a="$cgroot/nfsl-arm-$$-a"
cg_b="$cgroot/nfsl-arm-$$-b"
make_cgroup "$cg_a"
make_cgroup "$cg_b"
start_in_netns "$ns" "$WORK/listen.out" "$TRAFFIC" tcp-listen --addr 127.0.0.1 --port 7102 --duration-ms 300000
until [[ -s $WORK/listen.out ]]; do sleep 0.05; done
# 1000 entries: the healthy table's 320 stay below --arm-at (32%).
set_conntrack_max 1000
# Established connections, held open, stay in the table (assured: never
# evicted). 500 from a third process: half the table.
start_in_netns "$ns" "$WORK/fill.out" "$TRAFFIC" tcp-connect --dst 127.0.0.1 --port 7102 --count 500 \
  --timeout-ms 10000 --hold-ms 300000
wait_connected "$WORK/fill.out" 500 "half the table"
wait_for_event ".type == \"ct_tracking\" and .netns_name == \"$ns\"" "ct_tracking armed"
armed=$(events ".type == \"ct_tracking\" and .netns_name == \"$ns\"")
echo "$armed"
assert_eq "{\"state\":\"armed\",\"netns\":$ns_inode,\"netns_name\":\"$ns\",\"count\":500,\"max\":1000,\"fill_percent\":50,\"arm_at_percent\":50,\"disarm_below_percent\":40}" \
  "$(jq -c '{state, netns, netns_name, count, max, fill_percent, arm_at_percent, disarm_below_percent}' <<<"$armed")" \
  "tracking armed at half the table"
method=$(jq -r .method <<<"$armed")
m=$(scrape)
assert_eq "nfsleuth_creation_tracking_armed{netns=\"$ns\"} 1" "$(grep '^nfsleuth_creation_tracking_armed{' <<<"$m")" \
  "armed gauge: this namespace only"
runs_armed=$(value "$m" "$runs_series")
if $names_evictions; then
  wait_for_event '.type == "ct_evictions"' "ct_evictions"
  assert_eq '{"named":true,"arm_at_percent":50,"disarm_below_percent":40}' \
    "$(events '.type == "ct_evictions"' | jq -c '{named, arm_at_percent, disarm_below_percent}')" \
    "evicted entries named from half the table"
fi
check_evictions true 1 "half the table"

# A (250) and B (150) at once: 900 entries, --threshold (90%).
start_in_cgroup "$cg_a" "$WORK/a.out" ip netns exec "$ns" "$TRAFFIC" tcp-connect --dst 127.0.0.1 --port 7102 \
  --count 250 --timeout-ms 10000 --hold-ms 300000
pid_a=$!
start_in_cgroup "$cg_b" "$WORK/b.out" ip netns exec "$ns" "$TRAFFIC" tcp-connect --dst 127.0.0.1 --port 7102 \
  --count 150 --timeout-ms 10000 --hold-ms 300000
pid_b=$!
wait_connected "$WORK/a.out" 250 "A (pid $pid_a)"
wait_connected "$WORK/b.out" 150 "B (pid $pid_b)"
assert_eq "nfsl-traffic 0::/${cg_a##*/}" "$(cat "/proc/$pid_a/comm") $(grep '^0::' "/proc/$pid_a/cgroup")" "A runs in its cgroup"
assert_eq "nfsl-traffic 0::/${cg_b##*/}" "$(cat "/proc/$pid_b/comm") $(grep '^0::' "/proc/$pid_b/cgroup")" "B runs in its cgroup"

wait_for_event ".type == \"ct_pressure\" and .netns_name == \"$ns\"" "ct_pressure"
pressure=$(events ".type == \"ct_pressure\" and .netns_name == \"$ns\"" | head -1)
echo "$pressure"
assert_eq "{\"state\":\"high\",\"netns\":$ns_inode,\"count\":900,\"max\":1000,\"fill_percent\":90,\"threshold_percent\":90}" \
  "$(jq -c '{state, netns, count, max, fill_percent, threshold_percent}' <<<"$pressure")" "pressure at --threshold"
# Only what came after arming: the 500 of the third process are not in it.
assert_eq 400 "$(jq -c .creators.created <<<"$pressure")" "creations counted since tracking was armed"
assert_eq "[{\"pid\":$pid_a,\"comm\":\"nfsl-traffic\",\"entries\":250},{\"pid\":$pid_b,\"comm\":\"nfsl-traffic\",\"entries\":150}]" \
  "$(jq -c .creators.processes <<<"$pressure")" "creators: A, then B"
assert_eq "[{\"cgroup\":\"/${cg_a##*/}\",\"entries\":250},{\"cgroup\":\"/${cg_b##*/}\",\"entries\":150}]" \
  "$(jq -c .creators.cgroups <<<"$pressure")" "cgroups: A's, then B's (paths from the v2 root)"
assert_eq '[{"destination":"127.0.0.1:7102/tcp","entries":400}]' \
  "$(jq -c .creators.destinations <<<"$pressure")" "destinations"
assert_eq 0 "$(jq -c .creators.other <<<"$pressure")" "creations not ranked"
wait_for_value "nfsleuth_conntrack_created_total{netns=\"$ns\"}" 400
m=$(scrape)
runs_full=$(value "$m" "$runs_series")
echo "run counts while armed (creation program: $runs_armed when armed, $runs_full at the threshold):"
run_counts "$m"
# Each of A's and B's connections passed it at least once.
((runs_full - ${runs_armed:-0} >= 400)) || fail "$creation_prog ran $((runs_full - ${runs_armed:-0})) times for 400 new connections"
pass "$creation_prog ran while armed: $((runs_full - ${runs_armed:-0})) times for 400 new connections"

# ---- 3. Disarm --------------------------------------------------------------
# The conntrack tool is not among the dependencies: a larger table lowers
# the fill instead, 900 of 3000 (30%), below disarm_below (40%).
set_conntrack_max 3000
wait_for_event ".type == \"ct_tracking\" and .netns_name == \"$ns\" and .state == \"disarmed\"" "ct_tracking disarmed"
disarmed=$(events ".type == \"ct_tracking\" and .netns_name == \"$ns\" and .state == \"disarmed\"")
echo "$disarmed"
assert_eq "{\"netns\":$ns_inode,\"count\":900,\"max\":3000,\"fill_percent\":30,\"arm_at_percent\":50,\"disarm_below_percent\":40,\"method\":\"$method\"}" \
  "$(jq -c '{netns, count, max, fill_percent, arm_at_percent, disarm_below_percent, method}' <<<"$disarmed")" \
  "tracking disarmed below 40%"
deadline=$((SECONDS + 10))
while m=$(scrape) && grep -q '^nfsleuth_creation_tracking_armed{' <<<"$m"; do
  ((SECONDS < deadline)) || fail "the armed gauge is still there 10 s after disarming: $(grep '^nfsleuth_creation_tracking_armed{' <<<"$m")"
  sleep 0.2
done
pass "armed gauge: no series left"
$names_evictions && wait_for_event '.type == "ct_evictions" and (.named | not)' "ct_evictions not named"
check_evictions "true false" 0 "below 40%"
sleep 0.5 # the BPF statistics of an interval after the detach
runs_before=$(value "$(scrape)" "$runs_series")

# More traffic in the namespace: 100 connections and 20 UDP flows (1020
# entries, 34%: it stays disarmed).
nsx "$TRAFFIC" tcp-connect --dst 127.0.0.1 --port 7102 --count 100 --timeout-ms 10000 >"$WORK/after.out"
assert_eq 100 "$(jqf "$WORK/after.out" 'select(.proto == "tcp" and .ok)' | wc -l)" "after disarming: connections up"
nsx "$TRAFFIC" udp-send --dst 127.0.0.1 --port 9102 --count 200 --flows 20 >"$WORK/after-udp.out"
wait_for_value "nfsleuth_conntrack_entries{netns=\"$ns\"}" 1020
sleep 0.5
m=$(scrape)
echo "run counts after disarming and more traffic:"
run_counts "$m"
assert_eq "$runs_before" "$(value "$m" "$runs_series")" "runs of $creation_prog after disarming"
assert_eq 400 "$(value "$m" "nfsleuth_conntrack_created_total{netns=\"$ns\"}")" "creations counted only while armed"
assert_eq "armed disarmed" "$(events ".type == \"ct_tracking\" and .netns_name == \"$ns\"" | jq -r .state | paste -sd ' ')" \
  "ct_tracking events of the namespace: armed, then disarmed"
# The larger table cleared the warning too (high again only after 60 s).
assert_eq '{"state":"high","count":900,"max":1000} {"state":"cleared","count":900,"max":3000}' \
  "$(events ".type == \"ct_pressure\" and .netns_name == \"$ns\"" | jq -c '{state, count, max}' | paste -sd ' ')" \
  "ct_pressure events: high, then cleared"

kill -TERM "$daemon"
rc=0
wait "$daemon" || rc=$?
assert_eq 0 "$rc" "SIGTERM: exit status"
summary=$(events '.type == "summary"')
jq -c .creations <<<"$summary"
assert_eq "{\"method\":\"$method\",\"arm_at_percent\":50,\"armed_episodes\":1,\"armed_now\":0,\"seen\":400,\"reported\":400,\"attributed\":400,\"lost\":0}" \
  "$(jq -c '.creations | {method, arm_at_percent, armed_episodes, armed_now, seen, reported, attributed, lost}' <<<"$summary")" \
  "summary: one armed episode, its 400 creations"
