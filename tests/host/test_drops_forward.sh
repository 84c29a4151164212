#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# Forwarded traffic: client -> router (conntrack + NAT) -> server, three
# namespaces joined by veth pairs. With the router's table full, the drops
# are attributed to the router's namespace and ingress interface, with no
# process, and add up to the router's own drop counter.
source "$(dirname "$0")/../lib.sh"
require_root
require_traffic
[[ -e /proc/sys/net/netfilter/nf_conntrack_max ]] || { echo "skip [$TEST_NAME]: no conntrack"; exit "$SKIP"; }

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
for l in "$c cli0" "$r from-cli" "$r to-srv" "$s srv0"; do set -- $l; ip -n "$1" link set "$2" up; done
ip -n "$c" route add default via 198.51.100.1
ip netns exec "$r" sysctl -qw net.ipv4.ip_forward=1
ip netns exec "$r" iptables -t nat -A POSTROUTING -o to-srv -j MASQUERADE

start_in_netns "$s" "$WORK/listen.out" "$TRAFFIC" tcp-listen --addr 203.0.113.2 --port 5000 --duration-ms 60000
until [[ -s $WORK/listen.out ]]; do sleep 0.05; done
# The path works before the table is full.
ip netns exec "$c" "$TRAFFIC" tcp-connect --dst 203.0.113.2 --port 5000 --count 1 --timeout-ms 3000 >"$WORK/probe.out"
assert_eq '{"ok":1,"failed":0}' "$(jqf "$WORK/probe.out" 'select(.event=="summary") | {ok, failed}')" "path through the router"

start_nfsleuth drops drops --json --interval 0.5 --backend "${DROPS_BACKEND:-auto}"
tracer=$NFSLEUTH_BG_PID
drop0=$(ct_stat_sum "$r" drop)
set_conntrack_max "$N"
# One entry is taken by the probe connection: N - 1 more fit.
ip netns exec "$c" "$TRAFFIC" tcp-connect --dst 203.0.113.2 --port 5000 --count $((2 * N)) --timeout-ms 1500 >"$WORK/tcp.out"
assert_eq "{\"ok\":$((N - 1)),\"failed\":$((N + 1))}" "$(jqf "$WORK/tcp.out" 'select(.event=="summary") | {ok, failed}')" \
  "connections through the full router"
drop1=$(ct_stat_sum "$r" drop)
stop_nfsleuth "$tracer" || fail "nfsleuth drops exited with $? on SIGINT"

J="$WORK/drops.out"
router=$(stat -L -c %i "/run/netns/$r")
d() { jq -s "$1" "$J"; }
assert_eq "$((drop1 - drop0))" "$(d "[.[] | select(.type==\"ct_drop\" and .netns==$router and .cause==\"table_full\") | .count] | add")" \
  "router's table_full total equals its drop counter"
assert_eq "[{\"hook\":\"prerouting\",\"in_if\":\"from-cli\",\"pid\":null,\"comm\":null,\"local\":false,\"netns_name\":\"$r\"}]" \
  "$(d "[.[] | select(.type==\"ct_drop\") | {hook, in_if, pid, comm, local, netns_name}] | unique" | jq -c .)" \
  "every drop: router netns, ingress interface, no process"
jqf "$WORK/tcp.out" 'select(.proto=="tcp" and .ok==false) | .sport' | while read -r sport; do
  n=$(d "[.[] | select(.type==\"ct_drop\" and .flow.src==\"198.51.100.2\" and .flow.sport==$sport and .flow.dport==5000)] | length")
  [[ $n -ge 1 ]] || fail "refused connection from port $sport not reported"
done
pass "every refused connection is reported with its 5-tuple"
assert_eq 0 "$(tail -n1 "$J" | jq -c .missed)" "nothing missed"
