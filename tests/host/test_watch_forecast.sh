#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# The forecast: a table filled at a steady, known rate (100 new UDP flows a
# second) must read as that growth, and as the time left until it is full
# at that rate, in the metrics and in a ct_pressure "filling" event sent
# long before --threshold; as the growth stops, "cleared" (full further
# away than twice --full-within), then +Inf once the window is flat.
source "$(dirname "$0")/../lib.sh"
require_root
require_traffic
require_conntrack

ns="nfsl-fc-$$"
make_netns "$ns"
ip netns exec "$ns" iptables -A OUTPUT -m conntrack --ctstate NEW -j ACCEPT
# Unanswered UDP entries live 30 s by default: longer here (this namespace's
# own setting), so that only new flows change the count.
ip netns exec "$ns" sysctl -qw net.netfilter.nf_conntrack_udp_timeout=600
set_conntrack_max 5000

# A 5 s window; "filling" when full within 2 minutes.
start_nfsleuth watch watch --json --interval 0.2 --forecast-window 5 --full-within 120 --metrics 127.0.0.1:0
daemon=$NFSLEUTH_BG_PID
port=$(metrics_port "watch")

wait_for_value "nfsleuth_conntrack_entries{netns=\"$ns\"}" 0
# A forecast once the samples span a quarter of the window.
wait_for_value "nfsleuth_conntrack_growth_per_second{netns=\"$ns\"}" 0
assert_eq +Inf "$(value "$(scrape)" "nfsleuth_conntrack_full_in_seconds{netns=\"$ns\"}")" "an idle table is never full"

# 1500 flows at 100 a second: 15 s of steady growth.
start_in_netns "$ns" "$WORK/udp.out" "$TRAFFIC" udp-send --dst 127.0.0.1 --port 9200 --count 1500 --flows 1500 \
  --rate 100 --max-ms 30000
sender=$!
# Near: within 15% of what is expected (the sender's pacing and the
# sampling add jitter; a wrong slope or unit would be off by far more).
near() { # value expected what
  awk -v v="$1" -v e="$2" 'BEGIN { d = v - e; if (d < 0) d = -d; exit !(v != "" && d <= 0.15 * e) }' ||
    fail "$3: $1, expected about $2"
  pass "$3: $1 (expected about $2)"
}

wait_for_event ".type == \"ct_pressure\" and .netns_name == \"$ns\"" "ct_pressure while filling"
filling=$(events ".type == \"ct_pressure\" and .netns_name == \"$ns\"" | head -1)
echo "$filling"
assert_eq filling "$(jq -r .state <<<"$filling")" "the first warning is a forecast"
count=$(jq .count <<<"$filling")
((count < 4500)) || fail "filling was reported only at $count of 5000"
# The window still holds idle samples from before the sender: the slope
# is on its way up to 100, and the time left follows from it.
growth=$(jq .growth_per_s <<<"$filling")
awk -v g="$growth" 'BEGIN { exit !(g > 0 && g <= 115) }' || fail "growth in the event: $growth entries/s"
pass "growth in the event: $growth entries/s (rising to 100)"
near "$(jq .full_in_s <<<"$filling")" "$(awk -v c="$count" -v g="$growth" 'BEGIN { print (5000 - c) / g }')"   "time until full in the event (s), at that growth"

# Once a whole window of steady growth is sampled, the metrics: the
# sender's rate, and the time left from the count.
sleep 6
m=$(scrape)
entries=$(value "$m" "nfsleuth_conntrack_entries{netns=\"$ns\"}")
((entries > 600 && entries < 1500)) || fail "mid-way the table holds $entries entries"
near "$(value "$m" "nfsleuth_conntrack_growth_per_second{netns=\"$ns\"}")" 100 "growth gauge at $entries entries"
near "$(value "$m" "nfsleuth_conntrack_full_in_seconds{netns=\"$ns\"}")" "$(((5000 - entries) / 100))" \
  "time-until-full gauge at $entries entries"

# The growth stops: cleared once the window holds only the flat count.
wait "$sender"
assert_eq 1500 "$(jqf "$WORK/udp.out" 'select(.event == "summary") | .sent')" "datagrams sent"
wait_for_event ".type == \"ct_pressure\" and .netns_name == \"$ns\" and .state == \"cleared\"" "ct_pressure cleared"
cleared=$(events ".type == \"ct_pressure\" and .netns_name == \"$ns\" and .state == \"cleared\"" | head -1)
echo "$cleared"
assert_eq 1500 "$(jq .count <<<"$cleared")" "cleared at the final count"
# Cleared once full is more than twice --full-within away (or never).
jq -e '.full_in_s == null or .full_in_s > 240' <<<"$cleared" >/dev/null || fail "cleared while full in $(jq .full_in_s <<<"$cleared") s"
pass "cleared with full in $(jq .full_in_s <<<"$cleared") s (beyond 240 s, or never)"
wait_for_value "nfsleuth_conntrack_full_in_seconds{netns=\"$ns\"}" +Inf
assert_eq 0 "$(events ".type == \"ct_pressure\" and .netns_name == \"$ns\" and .state == \"high\"" | wc -l)" \
  "never at --threshold"
stop_nfsleuth "$daemon" || fail "watch exited with $?"
