#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# `watch` without CAP_SYS_ADMIN: network namespaces are entered by its netns
# broker, a child that keeps only cap_net_admin, cap_net_raw, cap_sys_admin
# and cap_sys_ptrace, and every namespace feature still works through it:
# - no thread of the daemon holds cap_sys_admin; the broker holds exactly
#   its set (effective, permitted, bounding), nothing inheritable or
#   ambient, and no_new_privs;
# - a named namespace created after watch started: its fill, read from the
#   files the broker opened, is exact at the ct_pressure warning and in the
#   metrics, its drops and creations (conntrack netlink, subscribed by the
#   broker) are exact;
# - a second one, reachable only as /proc/PID/ns/net of a process of
#   another user, with other counts: read apart from the first;
# - an activation in a new namespace names its rule (the ruleset tools run
#   by the broker);
# - the broker killed: the daemon says so on stderr and in its journal,
#   keeps counting drops, and exits 0 on SIGINT.
source "$(dirname "$0")/../lib.sh"
require_root
require_traffic
require_conntrack
command -v setpriv >/dev/null && command -v nsenter >/dev/null || { echo "skip [$TEST_NAME]: needs setpriv, nsenter"; exit "$SKIP"; }

caps_of() { # pid field
  awk -v f="$2:" '$1 == f {print $2}' "/proc/$1/status"
}
has_cap() { # hex-mask bit
  (( (16#$1 >> $2) & 1 ))
}

journal="$WORK/events.jsonl"
start_nfsleuth watch watch --json --interval 0.2 --threshold 90 --full-within 0 --journal "$journal" --metrics 127.0.0.1:0
daemon=$NFSLEUTH_BG_PID
banner=$(grep "^nfsleuth: tracing" "$WORK/watch.err")
echo "$banner"
port=$(metrics_port "watch")
metrics() { curl -fsS "http://127.0.0.1:$port/metrics"; }

# ---- capabilities -------------------------------------------------------------
broker=$(pgrep -P "$daemon")
assert_eq 1 "$(wc -w <<<"$broker")" "the daemon has one child, its broker"
assert_eq nfsleuth-broker "$(cat "/proc/$broker/comm")" "the broker's name"
grep -qF "netns broker: pid $broker with cap_net_admin,cap_net_raw,cap_sys_ptrace,cap_sys_admin" <<<"$banner" ||
  fail "the banner names the broker and its capabilities"
for status in /proc/"$daemon"/task/*/status; do
  caps=$(cat "$status" 2>/dev/null) || continue
  thread=$(basename "$(dirname "$status")")
  for field in CapEff CapPrm CapBnd; do
    value=$(awk -v f="$field:" '$1 == f {print $2}' <<<"$caps")
    has_cap "$value" 21 && fail "$field of daemon thread $thread holds cap_sys_admin ($value)"
  done
  pass "daemon thread $thread: no cap_sys_admin"
done
# cap_net_admin (12), cap_net_raw (13), cap_sys_ptrace (19), cap_sys_admin (21).
for field in CapEff CapPrm CapBnd; do
  assert_eq 0000000000283000 "$(caps_of "$broker" "$field")" "broker $field"
done
for field in CapInh CapAmb; do
  assert_eq 0000000000000000 "$(caps_of "$broker" "$field")" "broker $field"
done
assert_eq 1 "$(caps_of "$broker" NoNewPrivs)" "broker NoNewPrivs"

# ---- a named namespace after the start: pressure, drops, exact fill ---------
ns="nfsl-priv-$$"
make_netns "$ns"
nsx() { ip netns exec "$ns" "$@"; }
nsx iptables -A OUTPUT -m conntrack --ctstate NEW -j ACCEPT
start_in_netns "$ns" "$WORK/listen.out" "$TRAFFIC" tcp-listen --addr 127.0.0.1 --port 7001 --duration-ms 120000
until [[ -s $WORK/listen.out ]]; do sleep 0.05; done

# ---- a namespace only another user's process refers to ------------------------
unshare -n setpriv --reuid=65534 --regid=65534 --clear-groups -- sleep 120 &
holder=$!
on_exit "kill $holder"
until [[ $(stat -L -c %i "/proc/$holder/ns/net") != "$(stat -L -c %i /proc/self/ns/net)" && \
         $(stat -c %u "/proc/$holder") == 65534 ]]; do sleep 0.05; done
hx() { nsenter -t "$holder" -n "$@"; }
hx ip link set lo up
hx iptables -A OUTPUT -m conntrack --ctstate NEW -j ACCEPT
hx "$TRAFFIC" tcp-listen --addr 127.0.0.1 --port 7002 --duration-ms 120000 >"$WORK/hlisten.out" 2>&1 &
on_exit "kill $!"
until [[ -s $WORK/hlisten.out ]]; do sleep 0.05; done
hx "$TRAFFIC" tcp-connect --dst 127.0.0.1 --port 7002 --count 4 --hold-ms 120000 >"$WORK/hconnect.out" 2>&1 &
on_exit "kill $!"
until [[ $(hx cat /proc/sys/net/netfilter/nf_conntrack_count) == 4 ]]; do sleep 0.05; done
held="pid $holder (sleep)"

set_conntrack_max 20
mine() { jqf "$WORK/watch.out" "select(.type==\"$1\" and .netns_name==\"$ns\")"; }
wait_mine() { # type
  local deadline=$((SECONDS + 10))
  until [[ -n $(mine "$1") ]]; do
    ((SECONDS < deadline)) || { cat "$WORK/watch.err"; fail "no $1 within 10 s"; }
    sleep 0.1
  done
}
# Half the table arms creation tracking: the broker opens the namespace's
# conntrack netlink subscription then.
nsx "$TRAFFIC" tcp-connect --dst 127.0.0.1 --port 7001 --count 10 >"$WORK/half.out"
wait_mine ct_tracking
nsx "$TRAFFIC" tcp-connect --dst 127.0.0.1 --port 7001 --count 8 >"$WORK/fill.out"
wait_mine ct_pressure
pressure=$(mine ct_pressure | head -1)
echo "$pressure"
assert_eq "\"$ns\" 18 20" "$(jq -r '"\(.netns_name|tojson) \(.count) \(.max)"' <<<"$pressure")" \
  "pressure in the new namespace, exact fill"
assert_eq 8 "$(jq -c .creators.created <<<"$pressure")" "creations counted once armed (netlink subscribed by the broker)"

drop0=$(ct_stat_sum "$ns" drop)
nsx "$TRAFFIC" tcp-connect --dst 127.0.0.1 --port 7001 --count 5 --timeout-ms 300 >"$WORK/over.out"
assert_eq 3 "$(($(ct_stat_sum "$ns" drop) - drop0))" "the kernel dropped 3"
sleep 1
m=$(metrics)
for line in "nfsleuth_drops_total{cause=\"table_full\",netns=\"$ns\"} 3" \
            "nfsleuth_conntrack_entries{netns=\"$ns\"} 20" "nfsleuth_conntrack_max{netns=\"$ns\"} 20" \
            "nfsleuth_conntrack_entries{netns=\"$held\"} 4" "nfsleuth_conntrack_max{netns=\"$held\"} 20"; do
  grep -qF "$line" <<<"$m" || { grep conntrack_entries <<<"$m"; fail "metric: $line"; }
  pass "metric: $line"
done

# ---- rules read through the broker for an activation --------------------------
act="nfsl-priv-act-$$"
make_netns "$act"
ip netns exec "$act" iptables -t nat -A POSTROUTING -o nfsl0 -j MASQUERADE
act_ino=$(stat -L -c %i "/run/netns/$act")
wait_for_json "$journal" ".type==\"ct_activate\" and .netns==$act_ino" "the activation"
a=$(jqf "$journal" "select(.type==\"ct_activate\" and .netns==$act_ino)" | head -1)
echo "$a"
assert_eq '"masquerade"' "$(jq -c '.rules[0].needs' <<<"$a")" "the activation names its rule"
assert_eq 'oifname "nfsl0" counter packets 0 bytes 0 masquerade' "$(jq -r '.rules[0].rule' <<<"$a")" "the rule's text"

# ---- the broker killed -----------------------------------------------------------
kill -KILL "$broker"
deadline=$((SECONDS + 10))
until grep -qF "netns broker (pid $broker) is lost (killed by signal 9" "$WORK/watch.err"; do
  ((SECONDS < deadline)) || { cat "$WORK/watch.err"; fail "the broker's death not reported within 10 s"; }
  sleep 0.1
done
pass "the daemon reports the broker's death: $(grep "netns broker (pid" "$WORK/watch.err")"
lost=$(jqf "$journal" 'select(.type=="netns_broker_lost")')
assert_eq "$broker \"killed by signal 9 (SIGKILL)\"" "$(jq -r '"\(.pid) \(.reason|tojson)"' <<<"$lost")" "netns_broker_lost in the journal"
kill -0 "$daemon" || fail "the daemon died with its broker"
[[ -z $(pgrep -P "$daemon") ]] || fail "the broker was not reaped"

# Drops are still counted: 2 more.
nsx "$TRAFFIC" tcp-connect --dst 127.0.0.1 --port 7001 --count 2 --timeout-ms 300 >"$WORK/over2.out"
sleep 1
grep -qF "nfsleuth_drops_total{cause=\"table_full\",netns=\"$ns\"} 5" <<<"$(metrics)" || fail "drops after the broker died"
pass "drops are still counted after the broker died"

rc=0
stop_nfsleuth "$daemon" || rc=$?
assert_eq 0 "$rc" "SIGINT: exit status"
summary=$(jqf "$WORK/watch.out" 'select(.type=="summary")')
ns_ino=$(stat -L -c %i "/run/netns/$ns")
assert_eq 5 "$(jq -c ".drops.by_netns[] | select(.netns==$ns_ino) | .by_cause.table_full" <<<"$summary")" \
  "summary: every drop, before and after the broker died"
assert_eq "$(jq -c .drops.seen <<<"$summary")" "$(jq -c .drops.reported <<<"$summary")" "summary: drops seen = reported"
