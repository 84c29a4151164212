#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# `drops` with ICMP and ICMPv6: in a namespace whose conntrack table is full,
# echo requests cannot get an entry and are dropped at output. nfsleuth names
# each refused echo flow with its ICMP type and code (JSON and text), its
# sender, and counts exactly what was sent and what the kernel's own drop
# counter shows. Both kinds of sockets that send echoes are used: ping
# sockets (the kernel builds the header) and raw sockets (the sender does).
source "$(dirname "$0")/../lib.sh"
require_root
require_traffic
require_conntrack

ns="nfsl-icmp-$$"
make_netns "$ns"
nsx() { ip netns exec "$ns" "$@"; }
# A second IPv6 address on lo gives the raw-socket ICMPv6 sender a flow of
# its own: drops fold per flow, and a flow keeps the sender of its first drop.
nsx ip addr add 2001:db8::1/128 dev lo nodad
conntrack_on "$ns" ipv6
# Ping sockets are refused to every group by default ("1 0"). The setting
# belongs to this namespace and goes away with it.
nsx sysctl -qw net.ipv4.ping_group_range="0 0"

hold_one_entry "$ns"

# The JSON stream is checked field by field, the text one for its flow text.
start_drop_tracers
set_conntrack_max 1
assert_eq 1 "$(nsx cat /proc/sys/net/netfilter/nf_conntrack_count)" "the table holds one entry"
drop0=$(ct_stat_sum "$ns" drop)

# name family socket destination count expected-source
senders=(
  "ping4 ipv4 ping 127.0.0.1 7 127.0.0.1"
  "raw4 ipv4 raw 127.0.0.2 5 127.0.0.1"
  "ping6 ipv6 ping ::1 6 ::1"
  "raw6 ipv6 raw 2001:db8::1 4 2001:db8::1"
)
total=0
for s in "${senders[@]}"; do
  read -r name family socket dst count src <<<"$s"
  nsx "$TRAFFIC" icmp-echo --dst "$dst" --count "$count" --socket "$socket" --timeout-ms 200 >"$WORK/$name.out"
  assert_eq "{\"socket\":\"$socket\",\"src\":\"$src\",\"attempts\":$count,\"replies\":0}" \
    "$(jqf "$WORK/$name.out" 'select(.proto) | {socket, src, attempts: (.sent + .errors), replies}')" \
    "$name: $count echo requests from $src, none answered"
  total=$((total + count))
done
drop1=$(ct_stat_sum "$ns" drop)
stop_drop_tracers
J="$WORK/drops.out"
inode=$(stat -L -c %i "/run/netns/$ns")
d() { jq -s "$1" "$J"; }

assert_eq "$total" "$((drop1 - drop0))" "the kernel's drop counter counts every echo request"
assert_eq "$total" "$(d "[.[] | select(.type==\"ct_drop\" and .netns==$inode and .cause==\"table_full\") | .count] | add")" \
  "table_full total equals the kernel's drop counter"
assert_eq 0 "$(d "[.[] | select(.type==\"ct_drop\" and .netns==$inode and .cause!=\"table_full\")] | length")" "no other cause"

for s in "${senders[@]}"; do
  read -r name family socket dst count src <<<"$s"
  pid=$(jqf "$WORK/$name.out" 'select(.event=="summary") | .pid')
  if [[ $family == ipv4 ]]; then proto=icmp type=8; else proto=icmpv6 type=128; fi
  sel="select(.type==\"ct_drop\" and .netns==$inode and .flow.family==\"$family\" and .flow.src==\"$src\" and .flow.dst==\"$dst\")"
  # ICMP has no ports; the echo request is type 8 (ICMPv6: 128), code 0.
  assert_eq "[{\"flow\":{\"family\":\"$family\",\"proto\":\"$proto\",\"src\":\"$src\",\"sport\":null,\"dst\":\"$dst\",\"dport\":null,\"icmp_type\":$type,\"icmp_code\":0},\"cause\":\"table_full\",\"hook\":\"output\",\"out_if\":\"lo\",\"local\":true,\"pid\":$pid,\"comm\":\"nfsl-traffic\"}]" \
    "$(d "[.[] | $sel | {flow, cause, hook, out_if, local, pid, comm}] | unique" | jq -c .)" \
    "$name: flow, cause and sender"
  assert_eq "$count" "$(d "[.[] | $sel | .count] | add")" "$name: drops counted"
  assert_eq 1 "$(d "[.[] | $sel | select(.first)] | length")" "$name: one new-flow record"

  # Text: "SRC -> DST/PROTO TYPE/CODE", then the sender; counts add up too.
  line=$(grep -F " drop table_full $src -> $dst/$proto $type/0 netns=$inode($ns) hook=output out=lo by nfsl-traffic[$pid] count=" "$WORK/text.out") ||
    { cat "$WORK/text.out"; fail "$name: no text line for $src -> $dst/$proto $type/0 by nfsl-traffic[$pid]"; }
  pass "$name: text line names the flow as '$src -> $dst/$proto $type/0'"
  assert_eq "$count" "$(sed -n 's/.* count=+\{0,1\}\([0-9]*\)$/\1/p' <<<"$line" | awk '{s += $1} END {print s}')" \
    "$name: text counts add up"
done

summary=$(tail -n1 "$J")
assert_nothing_missed "$summary"
assert_eq "$total" "$(jq -c ".by_netns[] | select(.netns==$inode) | .kernel_drops" <<<"$summary")" \
  "summary shows the kernel's counter for the namespace"
assert_eq "{\"destination\":\"2001:db8::1/icmpv6\",\"count\":4}" \
  "$(jq -c '.by_destination[] | select(.destination=="2001:db8::1/icmpv6")' <<<"$summary")" "summary by destination"
