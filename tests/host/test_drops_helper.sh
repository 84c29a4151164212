#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# `drops` with conntrack helpers: a helper that cannot parse what it helps
# with drops the packet (its help() returns NF_DROP, called when conntrack
# confirms the packet at postrouting or input). Two such drops, in a
# namespace whose table is far from full:
#  - SIP over UDP: an INVITE without a CSeq header ("cannot parse cseq");
#    each datagram is dropped once, and its sendto() fails with EPERM.
#  - FTP: a PORT command whose address does not parse ("partial matching
#    of `PORT'"); TCP retransmits the segment and each copy is dropped again.
#    A counting rule just before conntrack's confirm hook counts the copies.
# The kernel counts helper drops in none of its conntrack statistics, and
# frees them where it frees a table-full drop (nf_hook_slow, reason
# NETFILTER_DROP). nfsleuth must report each one, with its flow and sender,
# exactly once, never as table_full; a rule drop next to them is the control.
#
# The cause is `helper` where the kernel lets nfsleuth see the helper's own
# "dropping packet" log call (a kprobe); where it cannot (no kprobes, as on
# this host), the summary says helper_drop is not traced and the drops are
# `rule`.
source "$(dirname "$0")/../lib.sh"
require_root
require_traffic
require_conntrack

ns="nfsl-helper-$$"
make_netns "$ns"
nsx() { ip netns exec "$ns" "$@"; }
# Helpers are never assigned automatically on current kernels; a CT rule in
# the raw table assigns them (and turns conntrack on).
nsx iptables -t raw -A OUTPUT -p udp --dport 5060 -j CT --helper sip ||
  { echo "skip [$TEST_NAME]: no SIP conntrack helper here"; exit "$SKIP"; }
nsx iptables -t raw -A OUTPUT -p tcp --dport 21 -j CT --helper ftp ||
  { echo "skip [$TEST_NAME]: no FTP conntrack helper here"; exit "$SKIP"; }
# mangle/postrouting runs before conntrack's confirm hook: it sees every copy
# of the PORT segment that the FTP helper will drop.
nsx iptables -t mangle -A POSTROUTING -p tcp --dport 21 -m string --algo bm --string "PORT 1,2" ||
  { echo "skip [$TEST_NAME]: no string match here"; exit "$SKIP"; }
# The control: a filter rule's drop.
nsx iptables -A OUTPUT -p udp --dport 6000 -j DROP

start_in_netns "$ns" "$WORK/listen.out" "$TRAFFIC" tcp-listen --addr 127.0.0.1 --port 21 --duration-ms 60000
until [[ -s $WORK/listen.out ]]; do sleep 0.05; done

start_nfsleuth drops drops --json --interval 0.5 --backend "${DROPS_BACKEND:-auto}"
tracer=$NFSLEUTH_BG_PID
declare -A before
for c in drop invalid insert_failed early_drop; do before[$c]=$(ct_stat_sum "$ns" "$c"); done

nsx "$TRAFFIC" udp-send --dst 127.0.0.1 --port 5060 --count 3 \
  --text 'INVITE sip:bob@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5060\r\n\r\n' >"$WORK/sip.out"
assert_eq '{"sent":0,"errors":3,"errnos":{"EPERM":3}}' "$(jqf "$WORK/sip.out" 'select(.event=="summary") | {sent, errors, errnos}')" \
  "every INVITE without CSeq is refused to its sender"
nsx "$TRAFFIC" udp-send --dst 127.0.0.1 --port 6000 --count 2 >"$WORK/rule.out"
assert_eq '{"sent":0,"errors":2}' "$(jqf "$WORK/rule.out" 'select(.event=="summary") | {sent, errors}')" "the rule drops both datagrams"
# The USER line marks where the next command starts, so the helper parses
# the PORT line; its segment is retransmitted until the connection is reset.
nsx "$TRAFFIC" tcp-connect --dst 127.0.0.1 --port 21 --count 1 --send 'USER anonymous\r\nPORT 1,2\r\n' \
  --send-gap-ms 200 --hold-ms 1500 --close reset >"$WORK/ftp.out"
assert_eq '{"ok":true,"sent":26}' "$(jqf "$WORK/ftp.out" 'select(.proto=="tcp") | {ok, sent}')" "FTP control connection"
port_copies=$(nsx iptables -t mangle -L POSTROUTING -v -x -n | awk '/PORT 1,2/ {print $1}')
((port_copies >= 1)) || fail "the PORT segment never reached postrouting"
pass "the PORT segment was sent $port_copies times"
for c in drop invalid insert_failed early_drop; do
  assert_eq "${before[$c]}" "$(ct_stat_sum "$ns" "$c")" "helper drops leave the conntrack '$c' counter alone"
done
sleep 1 # one more interval, so the last counts are read live too
stop_nfsleuth "$tracer" || fail "nfsleuth drops exited with $? on SIGINT"

J="$WORK/drops.out"
jq -e . "$J" >/dev/null || fail "a JSON line does not parse"
inode=$(stat -L -c %i "/run/netns/$ns")
d() { jq -s "$1" "$J"; }
flow_of() { # traffic-output proto
  jqf "$1" "select(.proto==\"$2\") | {family: \"ipv4\", proto, src, sport, dst, dport}" | head -n1
}
check() { # name traffic-output proto expected-count
  local pid flow sel
  pid=$(jqf "$2" 'select(.event=="summary") | .pid')
  flow=$(flow_of "$2" "$3")
  sel="select(.type==\"ct_drop\" and .netns==$inode and .flow==$flow)"
  assert_eq "$4" "$(d "[.[] | $sel | .count] | add")" "$1: every drop counted once"
  assert_eq "[{\"out_if\":\"lo\",\"local\":true,\"pid\":$pid,\"comm\":\"nfsl-traffic\"}]" \
    "$(d "[.[] | $sel | {out_if, local, pid, comm}] | unique" | jq -c .)" "$1: reported with its sender"
  assert_eq '[]' "$(d "[.[] | $sel | .cause | select(. == \"table_full\" or . == \"invalid\" or . == \"insert_failed\")] | unique" | jq -c .)" \
    "$1: not called table_full, invalid or insert_failed"
}
check "SIP" "$WORK/sip.out" udp 3
check "FTP" "$WORK/ftp.out" tcp "$port_copies"
check "rule" "$WORK/rule.out" udp 2
assert_eq '["rule"]' "$(d "[.[] | select(.type==\"ct_drop\" and .netns==$inode and .flow.dport==6000) | .cause] | unique" | jq -c .)" \
  "the rule's drops are called rule"
summary=$(tail -n1 "$J")
assert_eq 0 "$(jq -c .missed <<<"$summary")" "nothing missed"
assert_eq 0 "$(jq -c ".by_netns[] | select(.netns==$inode) | .kernel_drops" <<<"$summary")" \
  "the namespace's kernel drop counter did not move"

if [[ $(jq -c '[.not_traced[] | select(.hook=="helper_drop")] | length' <<<"$summary") == 0 ]]; then
  cause=helper
else
  cause=rule
  echo "note [$TEST_NAME]: helper_drop is not traced here: helper drops are expected as rule drops"
fi
for f in sip ftp; do
  proto=udp; [[ $f == ftp ]] && proto=tcp
  flow=$(flow_of "$WORK/$f.out" "$proto")
  assert_eq "[\"$cause\"]" "$(d "[.[] | select(.type==\"ct_drop\" and .netns==$inode and .flow==$flow) | .cause] | unique" | jq -c .)" \
    "$f: the helper's drops are called $cause"
done
# Helpers run as conntrack confirms a packet: for locally sent ones, at postrouting.
[[ $cause == helper ]] && assert_eq '["postrouting"]' \
  "$(d "[.[] | select(.type==\"ct_drop\" and .netns==$inode and .cause==\"helper\") | .hook] | unique" | jq -c .)" \
  "helper drops are placed at postrouting"
helper_drops=0
[[ $cause == helper ]] && helper_drops=$((3 + port_copies))
assert_eq "$helper_drops" "$(jq -c ".by_cause.helper // 0" <<<"$summary")" "summary: helper drops by cause"
