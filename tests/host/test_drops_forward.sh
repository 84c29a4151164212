#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# Forwarded traffic: client -> router (conntrack + NAT) -> server, three
# namespaces joined by veth pairs, IPv4 and IPv6. With the router's table
# full, the drops are attributed to the router's namespace and ingress
# interface, with no process, and add up to the router's own drop counter,
# round by round: IPv4 TCP, then IPv6 TCP, UDP and ICMPv6 echoes.
source "$(dirname "$0")/../lib.sh"
require_root
require_traffic
require_conntrack

N=20
c="nfsl-fc-$$" r="nfsl-fr-$$" s="nfsl-fs-$$"
for ns in "$c" "$r" "$s"; do make_netns "$ns"; done
# Documentation address ranges, only ever inside these namespaces.
ip link add cli0 netns "$c" type veth peer name from-cli netns "$r"
ip link add to-srv netns "$r" type veth peer name srv0 netns "$s"
ip -n "$c" addr add 198.51.100.2/24 dev cli0
ip -n "$r" addr add 198.51.100.1/24 dev from-cli
ip -n "$r" addr add 203.0.113.1/24 dev to-srv
ip -n "$s" addr add 203.0.113.2/24 dev srv0
# IPv6 from the documentation prefix; no duplicate address detection, so the
# addresses are usable at once.
ip -n "$c" addr add 2001:db8:1::2/64 dev cli0 nodad
ip -n "$r" addr add 2001:db8:1::1/64 dev from-cli nodad
ip -n "$r" addr add 2001:db8:2::1/64 dev to-srv nodad
ip -n "$s" addr add 2001:db8:2::2/64 dev srv0 nodad
for l in "$c cli0" "$r from-cli" "$r to-srv" "$s srv0"; do set -- $l; ip -n "$1" link set "$2" up; done
ip -n "$c" route add default via 198.51.100.1
ip -n "$c" -6 route add default via 2001:db8:1::1
# Forwarding is switched on in the router's namespace only.
ip netns exec "$r" sysctl -qw net.ipv4.ip_forward=1
ip netns exec "$r" sysctl -qw net.ipv6.conf.all.forwarding=1
ip netns exec "$r" iptables -t nat -A POSTROUTING -o to-srv -j MASQUERADE
ip netns exec "$r" ip6tables -t nat -A POSTROUTING -o to-srv -j MASQUERADE

start_in_netns "$s" "$WORK/listen.out" "$TRAFFIC" tcp-listen --addr 203.0.113.2 --port 5000 --duration-ms 60000
start_in_netns "$s" "$WORK/listen6.out" "$TRAFFIC" tcp-listen --addr 2001:db8:2::2 --port 5001 --duration-ms 60000
until [[ -s $WORK/listen.out && -s $WORK/listen6.out ]]; do sleep 0.05; done
# The paths work before the table is full; each probe takes an entry.
ip netns exec "$c" "$TRAFFIC" tcp-connect --dst 203.0.113.2 --port 5000 --count 1 --timeout-ms 3000 >"$WORK/probe.out"
assert_eq '{"ok":1,"failed":0}' "$(jqf "$WORK/probe.out" 'select(.event=="summary") | {ok, failed}')" "path through the router"
ip netns exec "$c" "$TRAFFIC" tcp-connect --dst 2001:db8:2::2 --port 5001 --count 1 --timeout-ms 3000 >"$WORK/probe6.out"
assert_eq '{"ok":1,"failed":0}' "$(jqf "$WORK/probe6.out" 'select(.event=="summary") | {ok, failed}')" "IPv6 path through the router"

start_nfsleuth drops drops --json --interval 0.5 --backend "${DROPS_BACKEND:-auto}"
tracer=$NFSLEUTH_BG_PID
drop0=$(ct_stat_sum "$r" drop)
set_conntrack_max "$N"
# Two entries are taken by the probe connections: N - 2 more fit. The
# connections that got one are closed at once, but their entries stay (TCP
# TIME_WAIT), and the table stays full for the IPv6 rounds.
ip netns exec "$c" "$TRAFFIC" tcp-connect --dst 203.0.113.2 --port 5000 --count $((2 * N)) --timeout-ms 1500 >"$WORK/tcp.out"
assert_eq "{\"ok\":$((N - 2)),\"failed\":$((N + 2))}" "$(jqf "$WORK/tcp.out" 'select(.event=="summary") | {ok, failed}')" \
  "connections through the full router"
drop1=$(ct_stat_sum "$r" drop)
ip netns exec "$c" "$TRAFFIC" tcp-connect --dst 2001:db8:2::2 --port 5001 --count 5 --timeout-ms 1500 >"$WORK/tcp6.out"
assert_eq '{"ok":0,"failed":5}' "$(jqf "$WORK/tcp6.out" 'select(.event=="summary") | {ok, failed}')" \
  "IPv6 connections through the full router"
drop2=$(ct_stat_sum "$r" drop)
ip netns exec "$c" "$TRAFFIC" udp-send --dst 2001:db8:2::2 --port 5002 --count 60 --flows 4 >"$WORK/udp6.out"
assert_eq '{"sent":60,"errors":0}' "$(jqf "$WORK/udp6.out" 'select(.event=="summary") | {sent, errors}')" "IPv6 datagrams sent"
drop3=$(ct_stat_sum "$r" drop)
ip netns exec "$c" "$TRAFFIC" icmp-echo --dst 2001:db8:2::2 --count 7 --timeout-ms 200 >"$WORK/icmp6.out"
assert_eq '{"attempts":7,"replies":0}' "$(jqf "$WORK/icmp6.out" 'select(.event=="summary") | {attempts: (.sent + .errors), replies}')" \
  "ICMPv6 echoes through the full router go unanswered"
drop4=$(ct_stat_sum "$r" drop)
# nf_conntrack_max is global: another test running at the same time may have
# restored it, which would let traffic in and spoil every count below.
assert_eq "$N" "$(sysctl -n net.netfilter.nf_conntrack_max)" "nf_conntrack_max still $N: nothing else changed it meanwhile"
sleep 1 # one more interval, so the last counts are read live too
stop_nfsleuth "$tracer" || fail "nfsleuth drops exited with $? on SIGINT"

J="$WORK/drops.out"
router=$(stat -L -c %i "/run/netns/$r")
d() { jq -s "$1" "$J"; }
assert_eq "$((drop4 - drop0))" "$(d "[.[] | select(.type==\"ct_drop\" and .netns==$router and .cause==\"table_full\") | .count] | add")" \
  "router's table_full total equals its drop counter"
# Round by round, selected by flow: each equals the counter's step.
rd() { d "[.[] | select(.type==\"ct_drop\" and .netns==$router and .cause==\"table_full\" and $1) | .count] | add // 0"; }
assert_eq "$((drop1 - drop0))" "$(rd '.flow.family=="ipv4" and .flow.proto=="tcp"')" "IPv4 TCP drops equal the counter's step"
assert_eq "$((drop2 - drop1))" "$(rd '.flow.family=="ipv6" and .flow.proto=="tcp"')" "IPv6 TCP drops equal the counter's step"
assert_eq 60 "$((drop3 - drop2))" "the router's counter counts every IPv6 datagram"
assert_eq 60 "$(rd '.flow.family=="ipv6" and .flow.proto=="udp"')" "IPv6 UDP drops"
assert_eq 7 "$((drop4 - drop3))" "the router's counter counts every ICMPv6 echo"
assert_eq 7 "$(rd '.flow.family=="ipv6" and .flow.proto=="icmpv6"')" "ICMPv6 drops"
assert_eq "[{\"hook\":\"prerouting\",\"in_if\":\"from-cli\",\"pid\":null,\"comm\":null,\"local\":false,\"netns_name\":\"$r\"}]" \
  "$(d "[.[] | select(.type==\"ct_drop\") | {hook, in_if, pid, comm, local, netns_name}] | unique" | jq -c .)" \
  "every drop: router netns, ingress interface, no process"
jqf "$WORK/tcp.out" 'select(.proto=="tcp" and .ok==false) | .sport' | while read -r sport; do
  n=$(d "[.[] | select(.type==\"ct_drop\" and .flow.src==\"198.51.100.2\" and .flow.sport==$sport and .flow.dport==5000)] | length")
  [[ $n -ge 1 ]] || fail "refused connection from port $sport not reported"
done
pass "every refused connection is reported with its 5-tuple"
jqf "$WORK/tcp6.out" 'select(.proto=="tcp" and .ok==false) | .sport' | while read -r sport; do
  n=$(d "[.[] | select(.type==\"ct_drop\" and .flow.family==\"ipv6\" and .flow.src==\"2001:db8:1::2\" and .flow.sport==$sport
            and .flow.dst==\"2001:db8:2::2\" and .flow.dport==5001)] | length")
  [[ $n -ge 1 ]] || fail "refused IPv6 connection from port $sport not reported"
done
pass "every refused IPv6 connection is reported with its 5-tuple"
# Each UDP flow: exactly its datagrams, as the sender counted them.
jqf "$WORK/udp6.out" 'select(.proto=="udp")' | while read -r f; do
  sport=$(jq -r .sport <<<"$f")
  assert_eq "$(jq -r .sent <<<"$f")" \
    "$(d "[.[] | select(.type==\"ct_drop\" and .flow.src==\"2001:db8:1::2\" and .flow.sport==$sport and .flow.dst==\"2001:db8:2::2\" and .flow.dport==5002) | .count] | add")" \
    "IPv6 UDP flow from port $sport"
done
assert_eq '[{"family":"ipv6","proto":"icmpv6","src":"2001:db8:1::2","sport":null,"dst":"2001:db8:2::2","dport":null,"icmp_type":128,"icmp_code":0}]' \
  "$(d "[.[] | select(.type==\"ct_drop\" and .netns==$router and .flow.proto==\"icmpv6\") | .flow] | unique" | jq -c .)" \
  "ICMPv6 echo flow: addresses, type and code"
assert_eq 0 "$(tail -n1 "$J" | jq -c .missed)" "nothing missed"
