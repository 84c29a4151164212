#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# The metrics endpoint against the real tools: `promtool check metrics`
# accepts it, and a real Prometheus on loopback scrapes it and answers the
# exact drop count through its query API. Then the journal under SIGKILL:
# the daemon is killed while events flow, and every line left parses.
source "$(dirname "$0")/../lib.sh"
require_root
require_traffic
command -v prometheus >/dev/null && command -v promtool >/dev/null || fail "prometheus and promtool are not installed"

ns="nfsl-prom-$$"
make_netns "$ns"
nsx() { ip netns exec "$ns" "$@"; }
nsx iptables -A OUTPUT -p udp --dport 7009 -j DROP

journal="$WORK/events.jsonl"
start_nfsleuth watch watch -q --interval 0.2 --journal "$journal" --metrics 127.0.0.1:0
daemon=$NFSLEUTH_BG_PID
port=$(sed -n 's|.*metrics: http://127.0.0.1:\([0-9]*\)/metrics.*|\1|p' "$WORK/watch.err")
[[ -n $port ]] || fail "the banner names the metrics address"
[[ ! -s $WORK/watch.out ]] || fail "--quiet printed events on stdout"

nsx "$TRAFFIC" udp-send --dst 127.0.0.1 --port 7009 --count 4 >/dev/null
sleep 0.6
curl -fsS -D "$WORK/headers" "http://127.0.0.1:$port/metrics" >"$WORK/metrics.txt"
grep -qi '^content-type: text/plain; version=0.0.4' "$WORK/headers" || fail "content type"
promtool check metrics <"$WORK/metrics.txt" >"$WORK/promtool.out" 2>&1 || { cat "$WORK/promtool.out"; fail "promtool check metrics"; }
pass "promtool check metrics accepts /metrics"
assert_contains "$WORK/metrics.txt" "nfsleuth_drops_total{cause=\"rule\",netns=\"$ns\"} 4" "4 rule drops exposed"
curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/nope" >"$WORK/404"
assert_eq 404 "$(cat "$WORK/404")" "unknown paths are 404"

# A real Prometheus scraping the daemon every second.
start_prometheus "  - job_name: nfsleuth
    static_configs:
      - targets: [\"127.0.0.1:$port\"]"
deadline=$((SECONDS + 60))
value=""
until [[ $value == 4 ]]; do
  ((SECONDS < deadline)) || { tail -20 "$WORK/prometheus.log"; fail "Prometheus did not return the drops within 60 s (last: '$value')"; }
  sleep 1
  value=$(query "nfsleuth_drops_total{cause=\"rule\",netns=\"$ns\"}" 2>/dev/null | jq -r '.data.result[0].value[1] // empty' || true)
done
pass "Prometheus scraped nfsleuth and returns nfsleuth_drops_total = 4"
assert_eq 1 "$(query 'up{job="nfsleuth"}' | jq -r '.data.result[0].value[1]')" "Prometheus sees the target up"
assert_eq 4 "$(query 'sum(nfsleuth_events_delivered_total{source="drops"})' | jq -r '.data.result[0].value[1]')" \
  "delivered drops as Prometheus sees them"

# SIGKILL while drops are being journalled: no half-written line survives.
nsx "$TRAFFIC" udp-send --dst 127.0.0.1 --port 7009 --count 400000 --flows 4000 --max-ms 8000 >/dev/null &
sender=$!
on_exit "kill $sender"
sleep 2
kill -KILL "$daemon"
wait "$daemon" 2>/dev/null || true
wait "$sender" || true
lines=$(wc -l <"$journal")
((lines > 10)) || fail "the journal holds only $lines lines: nothing was flowing when killed"
# Every complete line parses (a torn tail without its newline is allowed:
# the next start cuts it).
head -n "$lines" "$journal" | jq -e -c . >/dev/null || fail "a complete journal line does not parse"
pass "all $lines complete journal lines parse after SIGKILL"
run_nfsleuth again watch -q --journal "$journal" --duration 0.5
assert_eq 0 "$(cat "$WORK/again.rc")" "a new watch takes over the journal (its lock died with the killed one)"
jq -e -c . "$journal" >/dev/null || fail "after the restart the whole journal parses"
pass "the journal parses whole after the restart"
