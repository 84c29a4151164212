#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# ct_activate: `watch` reports the moment conntrack becomes active in a
# network namespace, attributed to the process whose rule caused it.
# - a namespace created while watch runs, where a known wrapper script runs
#   `iptables -t nat -A ... MASQUERADE`: one ipv4 activation, by iptables,
#   child of the wrapper, with the rule;
# - ip6tables MASQUERADE: one ipv6 activation; an nftables inet table with a
#   `ct state` rule: one ipv4 and one ipv6 activation, by nft;
# - a rule that needs no conntrack, and more rules in a namespace where
#   conntrack was already active before watch started: none.
# `why nf_conntrack --journal` then tells the activations. The VM lab runs
# this with each backend (ACTIVATE_BACKEND=fentry|kprobe).
source "$(dirname "$0")/../lib.sh"
require_root
[[ -e /proc/sys/net/netfilter/nf_conntrack_max ]] || modprobe nf_conntrack 2>/dev/null ||
  { echo "skip [$TEST_NAME]: no conntrack"; exit "$SKIP"; }
backend_args=()
[[ -n ${ACTIVATE_BACKEND:-} ]] && backend_args=(--backend "$ACTIVATE_BACKEND")

pre="nfsl-act-pre-$$"
nat="nfsl-act-nat-$$"
nat6="nfsl-act-nat6-$$"
inet="nfsl-act-inet-$$"
plain="nfsl-act-plain-$$"
make_netns "$pre"
ip netns exec "$pre" iptables -t nat -A POSTROUTING -o nfsl0 -j MASQUERADE

journal="$WORK/journal.jsonl"
start_nfsleuth watch watch "${backend_args[@]}" --journal "$journal" --interval 0.2
banner=$(grep "^nfsleuth: tracing" "$WORK/watch.err")
grep -q "; ct activations: " <<<"$banner" || fail "the banner names how activations are traced: $banner"
pass "activations traced: $(grep -o 'ct activations: [^;]*' <<<"$banner")"

# Already active before watch started: neither a listing nor another rule
# is an activation.
ip netns exec "$pre" iptables -t nat -L >/dev/null
ip netns exec "$pre" iptables -t nat -A POSTROUTING -o nfsl1 -j MASQUERADE

make_netns "$nat"
cat >"$WORK/enable-nat.sh" <<'SH'
#!/bin/sh
iptables -t nat -A POSTROUTING -o nfsl0 -j MASQUERADE
SH
chmod +x "$WORK/enable-nat.sh"
ip netns exec "$nat" "$WORK/enable-nat.sh" &
wrapper=$!
wait "$wrapper" || fail "the wrapper script failed"

make_netns "$plain"
ip netns exec "$plain" iptables -A INPUT -p tcp --dport 9 -j DROP

make_netns "$nat6"
ip netns exec "$nat6" ip6tables -t nat -A POSTROUTING -o nfsl0 -j MASQUERADE

make_netns "$inet"
ip netns exec "$inet" nft -f - <<'NFT'
table inet nfsl {
  chain input {
    type filter hook input priority 0;
    ct state established accept
  }
}
NFT

netns_of() { stat -L -c %i "/run/netns/$1"; }
activations() { # netns-name
  jq -c --argjson ino "$(netns_of "$1")" 'select(.type=="ct_activate" and .netns==$ino)' "$journal"
}
deadline=$((SECONDS + 20))
until [[ $(activations "$inet" | wc -l) == 2 && $(activations "$nat6" | wc -l) == 1 ]]; do
  ((SECONDS < deadline)) || { cat "$WORK/watch.err"; fail "activations did not arrive within 20 s"; }
  sleep 0.2
done
stop_nfsleuth "$NFSLEUTH_BG_PID" || fail "watch exit status"

a=$(activations "$nat")
assert_eq 1 "$(wc -l <<<"$a")" "one activation in the NAT namespace"
assert_eq '{"netns_name":"'"$nat"'","family":"ipv4","comm":"iptables","cmdline":"iptables -t nat -A POSTROUTING -o nfsl0 -j MASQUERADE","confidence":"exact"}' \
  "$(jq -c '{netns_name, family, comm, cmdline, confidence}' <<<"$a")" "attributed to iptables"
assert_eq "$wrapper enable-nat.sh" "$(jq -r '.ancestors[0] | "\(.pid) \(.comm)"' <<<"$a")" "its parent is the wrapper script"
assert_eq "$(netns_of "$nat")" "$(jq .process_netns <<<"$a")" "the process ran in that namespace"
assert_eq '{"source":"nftables","table":"ip nat","chain":"POSTROUTING","rule":"oifname \"nfsl0\" counter packets 0 bytes 0 masquerade","needs":"masquerade"}' \
  "$(jq -c '.rules[0]' <<<"$a")" "the rule that needs conntrack"
case $(jq -r .backend <<<"$a") in
  tracepoint) assert_eq '"seen_after_netlink_send" null' "$(jq -r '"\(.detected_by|tojson) \(.hook|tojson)"' <<<"$a")" "netlink way" ;;
  fentry | kprobe) assert_eq '"hook_registered" "ipv4_conntrack_in"' "$(jq -r '"\(.detected_by|tojson) \(.hook|tojson)"' <<<"$a")" "registration way" ;;
  *) fail "unexpected backend: $a" ;;
esac
[[ -z ${ACTIVATE_BACKEND:-} ]] || assert_eq "\"$ACTIVATE_BACKEND\"" "$(jq -c .backend <<<"$a")" "the forced backend"

a6=$(activations "$nat6")
assert_eq '["ipv6","ip6tables","ip6 nat"]' "$(jq -c '[.family, .comm, .rules[0].table]' <<<"$a6")" "ip6tables: one ipv6 activation"
assert_eq '[["ipv4","nft"],["ipv6","nft"]]' "$(activations "$inet" | jq -sc 'map([.family, .comm]) | sort')" \
  "an inet ct rule: ipv4 and ipv6, by nft"
assert_eq 0 "$(activations "$plain" | wc -l)" "a rule without conntrack: no activation"
assert_eq 0 "$(activations "$pre" | wc -l)" "conntrack already active: no activation"
summary=$(jqf "$journal" 'select(.type=="summary") | .activations')
assert_eq 4 "$(jq .reported <<<"$summary")" "four activations reported in all"
assert_eq '[0,0]' "$(jq -c '[.lost, .malformed]' <<<"$summary")" "none lost"

# Human output names the same.
assert_contains "$WORK/watch.out" "ct_activate ipv4 netns=$nat(" "human line: family and namespace"
grep "ct_activate ipv4 netns=$nat(" "$WORK/watch.out" | grep -q 'by iptables\[[0-9]*\] .* parents=enable-nat.sh\['"$wrapper"'\]' ||
  fail "human line: process and parent"
pass "human line: process and parent"

# why tells where conntrack was switched on, and by whom.
run_nfsleuth why why nf_conntrack --journal "$journal" --json
assert_eq 0 "$(cat "$WORK/why.rc")" "why exit code"
assert_eq '["iptables","ipv4"]' \
  "$(jq -c --arg n "$nat" '[.history.events[] | select(.type=="ct_activate" and .netns_name==$n) | .comm, .family]' "$WORK/why.out")" \
  "why --json: the activation in the NAT namespace"
run_nfsleuth whytext why nf_conntrack --journal "$journal"
assert_contains "$WORK/whytext.out" "ct_activate ipv4 in netns $nat by iptables[" "why: the activation, as text"
