#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# `drops` with SCTP: in a namespace whose conntrack table is full, each INIT
# that starts an association is refused an entry and dropped at output.
# nfsleuth reports every one as table_full with proto sctp, its ports and
# its sender, and counts exactly the INITs sent and what the kernel's drop
# counter shows.
#
# What is needed is conntrack's SCTP tracker, not the SCTP protocol: a
# kernel built without SCTP sockets (CONFIG_IP_SCTP unset, as on the
# development host) still tracks SCTP. There the INITs are built by the
# sender and go out on a raw socket; where the kernel has SCTP sockets, a
# third round uses them (on kernels with modules, that loads sctp).
source "$(dirname "$0")/../lib.sh"
require_root
require_traffic
require_conntrack

ns="nfsl-sctp-$$"
make_netns "$ns"
nsx() { ip netns exec "$ns" "$@"; }
conntrack_on "$ns" ipv6
nsx test -e /proc/sys/net/netfilter/nf_conntrack_sctp_timeout_closed ||
  { echo "skip [$TEST_NAME]: this kernel's conntrack does not track SCTP (CONFIG_NF_CT_PROTO_SCTP unset)"; exit "$SKIP"; }

# Conntrack takes the raw INITs for real SCTP: where there is room, each gets
# an entry of its own, and none is found invalid. Checked in a namespace of
# its own, so that no unanswered entry is left here for early_drop() to
# evict once the table is full.
chk="nfsl-sctpchk-$$"
make_netns "$chk"
conntrack_on "$chk" ipv6
for dst in 127.0.0.1 ::1; do
  ip netns exec "$chk" "$TRAFFIC" sctp-connect --socket raw --dst "$dst" --port 2905 --count 1 >"$WORK/check.out"
  sport=$(jqf "$WORK/check.out" 'select(.proto=="sctp") | .sport')
  assert_eq 1 "$(ip netns exec "$chk" cat /proc/net/nf_conntrack | grep -c " sctp .* sport=$sport dport=2905 ")" \
    "a raw INIT to $dst gets a conntrack entry where there is room"
done
assert_eq 0 "$(ct_stat_sum "$chk" invalid)" "no raw INIT is invalid to conntrack"

hold_one_entry "$ns"

start_drop_tracers
set_conntrack_max 1
assert_eq 1 "$(nsx cat /proc/sys/net/netfilter/nf_conntrack_count)" "the table holds one entry"
drop0=$(ct_stat_sum "$ns" drop)

# Raw INITs, both families; every attempt has a source port of its own.
nsx "$TRAFFIC" sctp-connect --socket raw --dst 127.0.0.1 --port 2905 --count 6 >"$WORK/raw4.out"
nsx "$TRAFFIC" sctp-connect --socket raw --dst ::1 --port 2905 --count 4 >"$WORK/raw6.out"
# Kernel SCTP sockets where there are any: "auto" uses them if socket()
# works, and falls back to raw INITs if not (checked the same way).
nsx "$TRAFFIC" sctp-connect --socket auto --dst 127.0.0.1 --port 2906 --count 5 --timeout-ms 1000 >"$WORK/auto4.out"
if [[ $(jqf "$WORK/auto4.out" 'select(.event=="summary") | .socket') == '"kernel"' ]]; then
  # The INIT goes out but is dropped: the association never comes up.
  assert_eq '{"ok":0,"failed":5}' "$(jqf "$WORK/auto4.out" 'select(.event=="summary") | {ok, failed}')" \
    "kernel SCTP sockets: no association comes up"
else
  echo "note [$TEST_NAME]: no SCTP sockets here (socket(AF_INET, SOCK_STREAM, IPPROTO_SCTP) fails, as with" \
    "CONFIG_IP_SCTP unset): the third round sent raw INITs too"
fi
rounds=(raw4 raw6 auto4)
drop1=$(ct_stat_sum "$ns" drop)
stop_drop_tracers
J="$WORK/drops.out"
inode=$(stat -L -c %i "/run/netns/$ns")
d() { jq -s "$1" "$J"; }

total=0
for r in "${rounds[@]}"; do total=$((total + $(jq -s '[.[] | select(.proto=="sctp")] | length' "$WORK/$r.out"))); done
assert_eq 15 "$total" "INITs sent"
assert_eq "$total" "$((drop1 - drop0))" "the kernel's drop counter counts every INIT"
assert_eq "$total" "$(d "[.[] | select(.type==\"ct_drop\" and .netns==$inode and .cause==\"table_full\") | .count] | add")" \
  "table_full total equals the kernel's drop counter"
assert_eq 0 "$(d "[.[] | select(.type==\"ct_drop\" and .netns==$inode and .cause!=\"table_full\")] | length")" "no other cause"

for r in "${rounds[@]}"; do
  out="$WORK/$r.out"
  pid=$(jqf "$out" 'select(.event=="summary") | .pid')
  if [[ $(jqf "$out" 'select(.event=="summary") | .socket') == '"raw"' ]]; then
    # A refused INIT is refused to the sender too.
    assert_eq "0" "$(jqf "$out" 'select(.event=="summary") | .sent')" "$r: no INIT got through"
  fi
  family=$(jqf "$out" 'select(.proto=="sctp") | .src' | head -n1 | grep -q : && echo ipv6 || echo ipv4)
  n=0
  while read -r a; do
    src=$(jq -r .src <<<"$a"); sport=$(jq -r .sport <<<"$a"); dst=$(jq -r .dst <<<"$a"); dport=$(jq -r .dport <<<"$a")
    assert_eq "[{\"flow\":{\"family\":\"$family\",\"proto\":\"sctp\",\"src\":\"$src\",\"sport\":$sport,\"dst\":\"$dst\",\"dport\":$dport},\"cause\":\"table_full\",\"hook\":\"output\",\"out_if\":\"lo\",\"local\":true,\"pid\":$pid,\"comm\":\"nfsl-traffic\",\"count\":1}]" \
      "$(d "[.[] | select(.type==\"ct_drop\" and .netns==$inode and .flow.proto==\"sctp\" and .flow.src==\"$src\" and .flow.sport==$sport
                   and .flow.dst==\"$dst\" and .flow.dport==$dport)
            | {flow, cause, hook, out_if, local, pid, comm, count}]" | jq -c .)" \
      "$r: INIT $src:$sport -> $dst:$dport dropped once, reported with its sender"
    n=$((n + 1))
  done < <(jqf "$out" 'select(.proto=="sctp")')
  pass "$r: $n INITs checked"
done

# Text: "SRC:SPORT -> DST:DPORT/sctp", IPv6 addresses in brackets.
a=$(jqf "$WORK/raw6.out" 'select(.proto=="sctp")' | head -n1)
pid=$(jqf "$WORK/raw6.out" 'select(.event=="summary") | .pid')
assert_contains "$WORK/text.out" \
  " drop table_full [::1]:$(jq -r .sport <<<"$a") -> [::1]:2905/sctp netns=$inode($ns) hook=output out=lo by nfsl-traffic[$pid] count=1" \
  "text line of an IPv6 SCTP INIT"
a=$(jqf "$WORK/raw4.out" 'select(.proto=="sctp")' | head -n1)
pid=$(jqf "$WORK/raw4.out" 'select(.event=="summary") | .pid')
assert_contains "$WORK/text.out" \
  " drop table_full 127.0.0.1:$(jq -r .sport <<<"$a") -> 127.0.0.1:2905/sctp netns=$inode($ns) hook=output out=lo by nfsl-traffic[$pid] count=1" \
  "text line of an IPv4 SCTP INIT"

summary=$(tail -n1 "$J")
assert_nothing_missed "$summary"
assert_eq "$total" "$(jq -c ".by_netns[] | select(.netns==$inode) | .kernel_drops" <<<"$summary")" \
  "summary shows the kernel's counter for the namespace"
