#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# Long runs: `watch` under a churn of short-lived processes, each creating
# new flows (some dropped by a rule), keeps its resident memory flat and
# under the bound the README states, its file descriptors constant, its
# metrics served, and every drop in its journal, also those of senders that
# exit while their command line is being read (each exits a different few
# microseconds after its last datagram). (The start-up peak, while libbpf
# parses the kernel's BTF for each object, is printed, not bounded.)
# CHURN_SECONDS: 20 with CI (host_test_watch_churn), 600 in the soak
# (soak_watch_churn).
source "$(dirname "$0")/../lib.sh"
require_root
require_traffic

CHURN_SECONDS=${CHURN_SECONDS:-20}
RSS_LIMIT_KB=$((30 * 1024))
ns="nfsl-churn-$$"
make_netns "$ns"
nsx() { ip netns exec "$ns" "$@"; }
nsx iptables -A OUTPUT -p udp --dport 9000:9999 -j DROP
nsx iptables -A OUTPUT -m conntrack --ctstate NEW -j ACCEPT

start_nfsleuth watch watch -q --interval 0.2 --journal "$WORK/events.jsonl" --metrics 127.0.0.1:0 --max-flows 1024
daemon=$NFSLEUTH_BG_PID
port=$(metrics_port watch)
died() {
  wait "$daemon" && rc=0 || rc=$?
  cat "$WORK/watch.err"
  fail "watch exited (status $rc) during the churn"
}
rss() { awk '/^VmRSS:/ {print $2}' "/proc/$daemon/status" 2>/dev/null || died; }
fds() { ls "/proc/$daemon/fd" 2>/dev/null | wc -l || died; }
scrape() { curl -fsS --max-time 5 "http://127.0.0.1:$port/metrics" >"$WORK/metrics.txt" || fail "a scrape failed after $rounds rounds"; }
# watch holds a conntrack event socket per namespace whose table is under
# pressure (creation tracking armed there), and while any is, the link of
# the creation hook (and a kprobe's perf event): other work on the host may
# arm some meanwhile.
armed() { scrape; grep -c '^nfsleuth_creation_tracking_armed{' "$WORK/metrics.txt" || true; }

# Each round: one short-lived process per kind, each on new ports, until
# the time is up.
end=$((SECONDS + CHURN_SECONDS))
warm=$((SECONDS + CHURN_SECONDS / 4))
rounds=0
rss_warm=""
fds_warm=""
rss_max=0
scrapes=0
next_scrape=$SECONDS
while ((SECONDS < end)); do
  p=$((rounds % 900))
  nsx "$TRAFFIC" udp-send --dst 127.0.0.1 --port $((9000 + p)) --count 3 --flows 3 \
    --exit-after-us $((rounds * 137 % 3000)) >/dev/null
  nsx "$TRAFFIC" udp-send --dst 127.0.0.1 --port $((20000 + rounds % 40000)) --count 2 --flows 2 >/dev/null
  rounds=$((rounds + 1))
  if [[ -z $rss_warm ]] && ((SECONDS >= warm)); then
    rss_warm=$(rss)
    fds_warm=$(fds)
    armed_warm=$(armed)
  fi
  now=$(rss)
  ((now > rss_max)) && rss_max=$now
  if ((SECONDS >= next_scrape)); then
    scrape
    scrapes=$((scrapes + 1))
    next_scrape=$((SECONDS + 5))
  fi
done
sleep 0.5
rss_end=$(rss)
fds_end=$(fds)
armed_end=$(armed)
hwm=$(awk '/^VmHWM:/ {print $2}' "/proc/$daemon/status")
echo "rounds=$rounds processes=$((rounds * 2)) rss_after_warmup=${rss_warm}kB rss_max=${rss_max}kB rss_end=${rss_end}kB" \
  "start-up peak=${hwm}kB fds=${fds_warm}->${fds_end} scrapes=$((scrapes + 1))"
stop_nfsleuth "$daemon" || fail "watch exited with $? on SIGINT"
((rounds >= 200)) || fail "only $rounds rounds of churn ran"
((rss_max < RSS_LIMIT_KB)) || fail "RSS reached ${rss_max}kB, over ${RSS_LIMIT_KB}kB"
pass "RSS stayed under ${RSS_LIMIT_KB}kB (max ${rss_max}kB)"
growth=$((rss_end - rss_warm))
((growth < 4096)) || fail "RSS grew ${growth}kB after warm-up: memory is not bounded"
pass "RSS after warm-up grew ${growth}kB (< 4 MB) over $((rounds * 2)) processes"
allowed=$((fds_warm + (armed_end > armed_warm ? armed_end - armed_warm : 0) + (armed_warm == 0 && armed_end > 0 ? 2 : 0)))
((fds_end <= allowed)) ||
  fail "open file descriptors grew from $fds_warm to $fds_end (namespaces armed: $armed_warm, then $armed_end)"
pass "open file descriptors: $fds_warm after warm-up, $fds_end at the end (namespaces armed: $armed_warm, then $armed_end)"
jq -e -c . "$WORK/events.jsonl" >/dev/null || fail "journal does not parse"
summary=$(jq -c 'select(.type=="summary")' "$WORK/events.jsonl")
assert_eq "$(jq -c .drops.seen <<<"$summary")" "$(jq -c .drops.reported <<<"$summary")" "every drop accounted for"
assert_eq "$((rounds * 3))" "$(jq -c .drops.seen <<<"$summary")" "the drops of the churn"
# The journal itself holds every drop, each first record with its sender:
# a sender gone before its command line was read is there with a null one.
assert_eq "$((rounds * 3))" "$(jq -s '[.[] | select(.type=="ct_drop") | .count] | add' "$WORK/events.jsonl")" \
  "drops in the journal"
assert_eq 0 "$(jqf "$WORK/events.jsonl" 'select(.type=="ct_drop" and .first and .pid == null)' | wc -l)" \
  "first drop records without their sender's pid"
echo "first drop records whose sender was gone before its command line was read:" \
  "$(jqf "$WORK/events.jsonl" 'select(.type=="ct_drop" and .first and .cmdline == null)' | wc -l)" \
  "of $(jqf "$WORK/events.jsonl" 'select(.type=="ct_drop" and .first)' | wc -l)"
assert_eq "$((rounds * 3))" "$(awk '/^nfsleuth_events_delivered_total\{source="drops"\}/ {print $2}' "$WORK/metrics.txt")" \
  "drops delivered, in the last scrape"
