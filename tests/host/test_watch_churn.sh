#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# Bounded memory: `watch` under a long churn of short-lived processes, each
# creating new flows (some dropped by a rule), keeps its resident memory
# flat and under the bound the README states. (The start-up peak, while
# libbpf parses the kernel's BTF for each object, is printed, not bounded.)
source "$(dirname "$0")/../lib.sh"
require_root
require_traffic

CHURN_SECONDS=${CHURN_SECONDS:-40}
RSS_LIMIT_KB=$((30 * 1024))
ns="nfsl-churn-$$"
make_netns "$ns"
nsx() { ip netns exec "$ns" "$@"; }
nsx iptables -A OUTPUT -p udp --dport 9000:9999 -j DROP
nsx iptables -A OUTPUT -m conntrack --ctstate NEW -j ACCEPT

start_nfsleuth watch watch -q --interval 0.2 --journal "$WORK/events.jsonl" --metrics 127.0.0.1:0 --max-flows 1024
daemon=$NFSLEUTH_BG_PID
rss() {
  awk '/^VmRSS:/ {print $2}' "/proc/$daemon/status" 2>/dev/null && return
  wait "$daemon" && rc=0 || rc=$?
  cat "$WORK/watch.err"
  fail "watch exited (status $rc) during the churn"
}

# Each round: one short-lived process per kind, each on new ports, until
# the time is up.
end=$((SECONDS + CHURN_SECONDS))
warm=$((SECONDS + CHURN_SECONDS / 4))
rounds=0
rss_warm=""
rss_max=0
while ((SECONDS < end)); do
  p=$((rounds % 900))
  nsx "$TRAFFIC" udp-send --dst 127.0.0.1 --port $((9000 + p)) --count 3 --flows 3 >/dev/null
  nsx "$TRAFFIC" udp-send --dst 127.0.0.1 --port $((20000 + rounds % 40000)) --count 2 --flows 2 >/dev/null
  rounds=$((rounds + 1))
  if [[ -z $rss_warm ]] && ((SECONDS >= warm)); then rss_warm=$(rss); fi
  now=$(rss)
  ((now > rss_max)) && rss_max=$now
done
sleep 0.5
rss_end=$(rss)
hwm=$(awk '/^VmHWM:/ {print $2}' "/proc/$daemon/status")
echo "rounds=$rounds processes=$((rounds * 2)) rss_after_warmup=${rss_warm}kB rss_max=${rss_max}kB rss_end=${rss_end}kB start-up peak=${hwm}kB"
stop_nfsleuth "$daemon" || fail "watch exited with $? on SIGINT"
((rounds >= 200)) || fail "only $rounds rounds of churn ran"
((rss_max < RSS_LIMIT_KB)) || fail "RSS reached ${rss_max}kB, over ${RSS_LIMIT_KB}kB"
pass "RSS stayed under ${RSS_LIMIT_KB}kB (max ${rss_max}kB)"
growth=$((rss_end - rss_warm))
((growth < 4096)) || fail "RSS grew ${growth}kB after warm-up: memory is not bounded"
pass "RSS after warm-up grew ${growth}kB (< 4 MB) over $((rounds * 2)) processes"
jq -e -c . "$WORK/events.jsonl" >/dev/null || fail "journal does not parse"
summary=$(jq -c 'select(.type=="summary")' "$WORK/events.jsonl")
assert_eq "$(jq -c .drops.seen <<<"$summary")" "$(jq -c .drops.reported <<<"$summary")" "every drop accounted for"
assert_eq "$((rounds * 3))" "$(jq -c .drops.seen <<<"$summary")" "the drops of the churn"
