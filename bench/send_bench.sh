#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# What `watch` costs a process that does nothing but send: rounds of a
# loopback sendto() loop in a namespace, without nfsleuth and with `watch`
# (whose activation program runs after every send on every socket, and whose
# creation program runs for every packet queued), and the kernel's own
# per-run cost of those programs (kernel.bpf_stats_enabled).
#
#   bench/send_bench.sh NFSLEUTH [OUT-DIR]
#
# BENCH_ROUNDS (3) and BENCH_SENDS (300000) size it. Root; the traffic stays
# in a namespace it creates.
source "$(dirname "$0")/../tests/lib.sh"
require_root
OUT=${2:-$PWD/bench-results}
ROUNDS=${BENCH_ROUNDS:-3}
SENDS=${BENCH_SENDS:-300000}
BENCH_DIR=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$OUT"
RESULTS="$OUT/send.jsonl"
: >"$RESULTS"

ns="nfsl-bench-send-$$"
make_netns "$ns"
rounds() { # label
  for _ in $(seq "$ROUNDS"); do
    rate=$(ip netns exec "$ns" python3 "$BENCH_DIR/sendmsg_cost.py" "$SENDS")
    jq -nc --arg t "$1" --argjson r "$rate" '{type: "send_rate", tracer: $t, sends_per_s: $r}' >>"$RESULTS"
  done
}

rounds baseline
port=$((20000 + $$ % 10000))
start_nfsleuth watch watch --quiet --bpf-stats --metrics "127.0.0.1:$port"
grep -o "ct activations: [^;]*" "$WORK/watch.err" || true
rounds nfsleuth
curl -s "http://127.0.0.1:$port/metrics" >"$WORK/metrics.txt"
stop_nfsleuth "$NFSLEUTH_BG_PID" || fail "watch exit status"
rounds baseline

for program in btf_sock_send_length btf_net_dev_queue; do
  runtime=$(awk -v p="{program=\"$program\"}" '$1 == "nfsleuth_bpf_run_time_seconds_total" p {print $2}' "$WORK/metrics.txt")
  runs=$(awk -v p="{program=\"$program\"}" '$1 == "nfsleuth_bpf_run_count_total" p {print $2}' "$WORK/metrics.txt")
  [[ -n $runs && $runs != 0 ]] || continue
  jq -nc --arg p "$program" --argjson s "$runtime" --argjson n "$runs" \
    '{type: "bpf_cost", program: $p, runs: $n, ns_per_run: (($s * 1e9 / $n) | floor)}' >>"$RESULTS"
done

jq -rs '
  (map(select(.type == "send_rate")) | group_by(.tracer) | map({tracer: .[0].tracer, rates: map(.sends_per_s) | sort})) as $r |
  "| tracer | rounds | median sends/s | range |", "| --- | --- | --- | --- |",
  ($r[] | "| \(.tracer) | \(.rates | length) | \(.rates[(.rates | length) / 2 | floor]) | \(.rates[0])-\(.rates[-1]) |"),
  "", "| program | runs | ns per run |", "| --- | --- | --- |",
  (map(select(.type == "bpf_cost"))[] | "| `\(.program)` | \(.runs) | \(.ns_per_run) |")' "$RESULTS" | tee "$OUT/send.md"
