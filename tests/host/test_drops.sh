#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# `drops` on the tracepoint backend: in a namespace whose conntrack table is
# full, nfsleuth's table_full total equals the kernel's own drop counter
# exactly, every refused flow is named with its sender, and drops by a
# filter rule are reported as `rule`, never as table_full, each at the hook
# its chain runs in (found on the first drop's stack). TCP, UDP, IPv6.
source "$(dirname "$0")/../lib.sh"
require_root
require_traffic
require_conntrack

# A forced backend the kernel cannot give is refused, naming what is missing.
run_nfsleuth doctor doctor --json
for b in fentry kprobe; do
  if [[ -z ${DROPS_BACKEND:-} && $(jq -c ".backends.$b" "$WORK/doctor.out") == false ]]; then
    run_nfsleuth forced drops --backend "$b" --duration 1
    assert_eq 3 "$(cat "$WORK/forced.rc")" "drops --backend $b exit code where $b is unavailable"
    assert_contains "$WORK/forced.err" "the $b backend cannot be used here" "drops --backend $b says why"
  fi
done

N=20
ns="nfsl-drops-$$"
make_netns "$ns"
nsx() { ip netns exec "$ns" "$@"; }
# A NAT rule naming an interface the namespace lacks never matches, but it
# turns conntrack on: the classic surprise in one line. Both families.
conntrack_on "$ns" ipv6
nsx iptables -A OUTPUT -p tcp --dport 6000 -j DROP
nsx iptables -A INPUT -p udp --dport 6001 -j DROP
# Confirmed on the way out, its entry would take a slot of the table below.
nsx iptables -t raw -A OUTPUT -p udp --dport 6001 -j NOTRACK

start_in_netns "$ns" "$WORK/listen4.out" "$TRAFFIC" tcp-listen --addr 127.0.0.1 --port 5000 --duration-ms 60000
start_in_netns "$ns" "$WORK/listen6.out" "$TRAFFIC" tcp-listen --addr ::1 --port 5001 --duration-ms 60000
until [[ -s $WORK/listen4.out && -s $WORK/listen6.out ]]; do sleep 0.05; done

start_nfsleuth drops drops --json --interval 0.5 --backend "${DROPS_BACKEND:-auto}"
tracer=$NFSLEUTH_BG_PID
drop0=$(ct_stat_sum "$ns" drop)

# Phase 1, table not full: a filter rule drops SYNs to port 6000.
nsx "$TRAFFIC" tcp-connect --dst 127.0.0.1 --port 6000 --count 3 --timeout-ms 1500 >"$WORK/rule.out"
rule_packets=$(nsx iptables -L OUTPUT -v -x -n | awk '$0 ~ /dpt:6000/ {print $1}')
# Over loopback a datagram leaves through output and comes back in: the
# INPUT rule drops it there.
nsx "$TRAFFIC" udp-send --dst 127.0.0.1 --port 6001 --count 4 >"$WORK/rule-in.out"
input_packets=$(nsx iptables -L INPUT -v -x -n | awk '$0 ~ /dpt:6001/ {print $1}')
assert_eq 4 "$input_packets" "the INPUT rule dropped the 4 datagrams"
drop1=$(ct_stat_sum "$ns" drop)
assert_eq "$drop0" "$drop1" "rule drops leave the conntrack drop counter alone"

# Phase 2, table full: 2N connections, N get an entry.
set_conntrack_max "$N"
nsx "$TRAFFIC" tcp-connect --dst 127.0.0.1 --port 5000 --count $((2 * N)) --timeout-ms 1500 >"$WORK/tcp.out"
assert_eq "{\"ok\":$N,\"failed\":$N}" "$(jqf "$WORK/tcp.out" 'select(.event=="summary") | {ok, failed}')" "TCP connects"
# UDP: every datagram of a new flow needs an entry it cannot get.
nsx "$TRAFFIC" udp-send --dst 127.0.0.1 --port 5002 --count 100 --flows 5 >"$WORK/udp.out"
# IPv6 shares the namespace's table.
nsx "$TRAFFIC" tcp-connect --dst ::1 --port 5001 --count 5 --timeout-ms 1500 >"$WORK/tcp6.out"
assert_eq '{"ok":0,"failed":5}' "$(jqf "$WORK/tcp6.out" 'select(.event=="summary") | {ok, failed}')" "IPv6 connects"
drop2=$(ct_stat_sum "$ns" drop)
sleep 1 # one more interval so the last counts are read live too

stop_nfsleuth "$tracer" || fail "nfsleuth drops exited with $? on SIGINT"
J="$WORK/drops.out"
jq -e . "$J" >/dev/null || fail "a JSON line does not parse"
inode=$(stat -L -c %i "/run/netns/$ns")
d() { jq -s "$1" "$J"; }

kernel_full=$((drop2 - drop1))
((kernel_full > 0)) || fail "the kernel counted no table-full drops"
assert_eq "$kernel_full" "$(d "[.[] | select(.type==\"ct_drop\" and .netns==$inode and .cause==\"table_full\") | .count] | add")" \
  "table_full total equals the kernel's drop counter"
assert_eq "$rule_packets" "$(d "[.[] | select(.type==\"ct_drop\" and .cause==\"rule\" and .flow.dport==6000) | .count] | add")" \
  "rule drops equal the rule's packet counter"
assert_eq 0 "$(d '[.[] | select(.type=="ct_drop" and .cause=="table_full" and .flow.dport==6000)] | length')" \
  "no rule drop is called table_full"
assert_eq 4 "$(d "[.[] | select(.type==\"ct_drop\" and .cause==\"rule\" and .flow.dport==6001) | .count] | add")" \
  "the INPUT rule's drops"
assert_eq '{"output":["tcp"],"input":["udp"]}' \
  "$(d '[.[] | select(.type=="ct_drop" and .cause=="rule")] | {output: [.[] | select(.hook=="output") | .flow.proto] | unique,
                                                                input: [.[] | select(.hook=="input") | .flow.proto] | unique}' | jq -c .)" \
  "each rule's drops at the hook of its chain"
assert_eq 0 "$(d '[.[] | select(.type=="ct_drop" and .cause=="rule" and .flow.dport!=6000 and .flow.dport!=6001)] | length')" \
  "no table-full drop is called rule"

# Every refused connection and UDP flow is named, with its sender.
check_flows() { # traffic-output proto family selector
  local out=$1 proto=$2 pid comm_pid
  pid=$(jqf "$out" 'select(.event=="summary") | .pid')
  jq -c "$3" "$out" | while read -r f; do
    local src sport dst dport
    src=$(jq -r .src <<<"$f"); sport=$(jq -r .sport <<<"$f"); dst=$(jq -r .dst <<<"$f"); dport=$(jq -r .dport <<<"$f")
    got=$(d "[.[] | select(.type==\"ct_drop\" and .cause==\"table_full\" and .flow.proto==\"$proto\"
               and .flow.src==\"$src\" and .flow.sport==$sport and .flow.dst==\"$dst\" and .flow.dport==$dport)
             | {pid, comm, hook, local, out_if}] | unique | .[]" | jq -c .)
    assert_eq "{\"pid\":$pid,\"comm\":\"nfsl-traffic\",\"hook\":\"output\",\"local\":true,\"out_if\":\"lo\"}" "$got" \
      "$proto $src:$sport -> $dst:$dport reported with its sender"
  done
}
check_flows "$WORK/tcp.out" tcp 'select(.proto=="tcp" and .ok==false)'
check_flows "$WORK/udp.out" udp 'select(.proto=="udp")'
check_flows "$WORK/tcp6.out" tcp 'select(.proto=="tcp" and .ok==false)'
assert_eq 100 "$(d "[.[] | select(.type==\"ct_drop\" and .cause==\"table_full\" and .flow.proto==\"udp\") | .count] | add")" "UDP drops"
assert_eq '"ipv6"' "$(d '[.[] | select(.type=="ct_drop" and .flow.dport==5001) | .flow.family] | unique | .[0]')" "IPv6 family"

# Accounting: what the kernel saw, nfsleuth reported.
summary=$(tail -n1 "$J")
assert_nothing_missed "$summary"
assert_eq "$kernel_full" "$(jq -c ".by_netns[] | select(.netns==$inode) | .kernel_drops" <<<"$summary")" \
  "summary shows the kernel's counter for the namespace"
assert_eq "$N" "$(jq -c ".by_netns[] | select(.netns==$inode) | .ct_max" <<<"$summary")" "summary shows the limit"
jq -e '.advice | map(select(test("table full in netns"))) | length == 1' <<<"$summary" >/dev/null || fail "advice for table full"
pass "summary advises on the full table"

# The kernel's counters were held against nfsleuth's every interval and at
# the end: they agree, with the exact numbers on both sides, and no
# counter_mismatch event or warning was raised.
agreement=$(jq -c ".kernel_agreement.namespaces[] | select(.netns==$inode) | {kernel: .kernel.drop, nfsleuth: .nfsleuth.conntrack_drops, mismatches: (.mismatches | length)}" <<<"$summary")
assert_eq "{\"kernel\":$kernel_full,\"nfsleuth\":$kernel_full,\"mismatches\":0}" "$agreement" \
  "kernel agreement for the namespace"
assert_eq true "$(jq -c .kernel_agreement.agree <<<"$summary")" "kernel counters agree everywhere"
assert_eq 0 "$(d '[.[] | select(.type=="counter_mismatch")] | length')" "no counter_mismatch event"
if grep -q "WARNING" "$WORK/drops.err"; then fail "a mismatch warning was printed: $(grep WARNING "$WORK/drops.err")"; fi
pass "no mismatch warning"
