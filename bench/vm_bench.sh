#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# VM lab benchmarks on Debian's distro kernel (TCG: absolute times are
# inflated, compare within a column only):
#  - the BPF cost per event of each backend the kernel offers (fentry,
#    kprobe, tracepoint) under the connection load and a flood of new UDP
#    flows into a small table (evictions and table-full drops);
#  - the module event path: time from request_module() (the event's
#    kernel timestamp) to the line read from `nfsleuth modules --json`;
#  - the cost of capturing argv, ancestry and stack: nfsleuth's
#    module_request program against a bpftrace program that only counts;
#  - bench/host_bench.sh's side-by-side comparison (3 rounds), where
#    dropwatch can run and nfsleuth counts creations at allocation.
#
#   bench/vm_bench.sh NFSLEUTH NFSL-TRAFFIC NFSL-CONNRATE OUT-DIR [VMLAB-CACHE]
#
# On the host it boots the VM lab with itself; inside the guest ($VMLAB set)
# it measures and writes vm.jsonl to $VMLAB_OUT; the host copies it to
# OUT-DIR and writes vm.md.
set -euo pipefail
BENCH_DIR=$(cd "$(dirname "$0")" && pwd)
if [[ -z ${VMLAB:-} ]]; then
  out=${4:?usage: $0 NFSLEUTH NFSL-TRAFFIC NFSL-CONNRATE OUT-DIR [VMLAB-CACHE]}
  mkdir -p "$out"
  bash "$BENCH_DIR/../tests/vm/vmlab.sh" --cache "${5:-$out/vmlab-cache}" --timeout 1800 \
    "$BENCH_DIR/vm_bench.sh" "$1" "$2" "$3" 2>&1 | tee "$out/vm.log"
  [[ ${PIPESTATUS[0]} == 0 ]] || { echo "vm_bench: the VM run failed" >&2; exit 1; }
  results=$(sed -n 's/^vmlab: results in //p' "$out/vm.log" | tail -1)
  cp "$results/vm.jsonl" "$out/vm.jsonl"
  cp "$results/side-by-side/host.jsonl" "$out/vm-side-by-side.jsonl"
  python3 "$BENCH_DIR/report.py" "$out/vm.jsonl" | tee "$out/vm.md"
  python3 "$BENCH_DIR/report.py" "$out/vm-side-by-side.jsonl" | tee "$out/vm-side-by-side.md"
  exit 0
fi

source "$BENCH_DIR/../tests/lib.sh"
CONNRATE=$(readlink -f "$3")
RESULTS="$VMLAB_OUT/vm.jsonl"
SECS=${BENCH_SECONDS:-3}
: >"$RESULTS"
modprobe nf_conntrack
sysctl -qw kernel.bpf_stats_enabled=1

ns="nfsl-vmbench"
make_netns "$ns"
ip netns exec "$ns" iptables -A OUTPUT -m conntrack --ctstate NEW -j ACCEPT

# The programs loaded since $1 (a JSON list of ids) that ran, as bpf_cost lines.
report_costs() { # ids-before tracer backend workload
  bpftool prog show -j | jq -c --argjson old "$1" --arg t "$2" --arg b "$3" --arg w "$4" '
    .[] | select(.id as $id | $old | index($id) | not) | select(.run_cnt > 0) |
    {type: "bpf_cost", tracer: $t, backend: $b, workload: $w, program: .name, kind: .type,
     runs: .run_cnt, ns_per_run: ((.run_time_ns / .run_cnt) | floor)}' | tee -a "$RESULTS"
}
program_ids() { bpftool prog show -j | jq -c '[.[].id]'; }

# --- BPF cost per backend -------------------------------------------------------------
for backend in fentry kprobe tracepoint; do
  for workload in conn udp-flood; do
    before=$(program_ids)
    start_nfsleuth "cost-$backend-$workload" watch -q --interval 1 --backend "$backend"
    if [[ $workload == conn ]]; then
      ip netns exec "$ns" "$CONNRATE" --addr 127.0.0.1 --seconds "$SECS" >/dev/null
    else
      # New UDP flows to a port nothing listens on: conntrack creates an entry
      # per flow; the table limit makes most of them table-full drops.
      old_max=$(sysctl -n net.netfilter.nf_conntrack_max)
      sysctl -qw net.netfilter.nf_conntrack_max=64
      ip netns exec "$ns" "$TRAFFIC" udp-send --dst 127.0.0.1 --port 7200 --count 1000000 --flows 1000 \
        --max-ms "$((SECS * 1000))" >/dev/null
      sysctl -qw net.netfilter.nf_conntrack_max="$old_max"
      ip netns exec "$ns" conntrack -F >/dev/null 2>&1 || true
    fi
    report_costs "$before" nfsleuth "$backend" "$workload"
    stop_nfsleuth "$NFSLEUTH_BG_PID" || fail "watch --backend $backend exit status"
  done
done

# --- module event path ------------------------------------------------------------------
# Each `ip link add ... type nfslbogusN` makes the kernel request the module
# rtnl-link-nfslbogusN (which does not exist). The reader stamps each line
# with the wall clock when it arrives; the event carries the request's time.
requests=20
before=$(program_ids)
mkfifo "$WORK/modules.fifo"
python3 -c '
import sys, time
for line in sys.stdin:
    print(f"{time.time():.6f} {line}", end="", flush=True)
' <"$WORK/modules.fifo" >"$WORK/modules.stamped" &
reader=$!
"$NFSLEUTH" modules --json >"$WORK/modules.fifo" 2>"$WORK/modules.err" &
tracer=$!
until grep -q "^nfsleuth: tracing" "$WORK/modules.err"; do sleep 0.2; done
for ((i = 0; i < requests; i++)); do
  ip link add "nfslb$i" type "nfslbogus$i" 2>/dev/null || true
  sleep 0.2
done
sleep 1
report_costs "$before" nfsleuth tracepoint module_request
kill -INT "$tracer"
wait "$tracer" || fail "modules exit status"
wait "$reader"
python3 - "$WORK/modules.stamped" "$requests" >>"$RESULTS" <<'PY'
import datetime, json, statistics, sys
lat = []
for line in open(sys.argv[1]):
    arrived, _, text = line.partition(" ")
    ev = json.loads(text)
    if ev.get("type") == "module_request" and ev.get("module", "").startswith("rtnl-link-nfslbogus"):
        ts = datetime.datetime.fromisoformat(ev["ts"].replace("Z", "+00:00")).timestamp()
        lat.append((float(arrived) - ts) * 1000)
if len(lat) != int(sys.argv[2]):
    sys.exit(f"expected {sys.argv[2]} module_request events, got {len(lat)}")
first = lat[0]
lat.sort()
print(json.dumps({"type": "module_latency", "events": len(lat),
                  "median_ms": round(statistics.median(lat), 2),
                  "p90_ms": round(lat[int(len(lat) * 0.9) - 1], 2), "max_ms": round(lat[-1], 2),
                  "first_ms": round(first, 2), "all_ms": [round(v, 2) for v in lat]}))
PY
tail -1 "$RESULTS"

# --- capture cost: a count-only bpftrace program on the same tracepoint ------------------
if command -v bpftrace >/dev/null; then
  before=$(program_ids)
  bpftrace -e 'tracepoint:module:module_request { @requests = count(); }' >"$WORK/bpftrace.log" 2>&1 &
  bt=$!
  deadline=$((SECONDS + 300))
  until grep -q "^Attaching" "$WORK/bpftrace.log"; do
    ((SECONDS < deadline)) || fail "bpftrace did not attach within 300 s"
    sleep 1
  done
  for ((i = 0; i < requests; i++)); do ip link add "nfslc$i" type "nfslbogus$i" 2>/dev/null || true; done
  report_costs "$before" "bpftrace (count only)" tracepoint module_request
  kill -INT "$bt"
  wait "$bt" || true
else
  echo '{"type":"skipped","tracers":{"bpftrace (count only)":"bpftrace is not installed"}}' >>"$RESULTS"
fi

# --- the host's side-by-side benchmark on Debian's kernel --------------------------------
# Here the drop monitor exists (dropwatch runs), nfsleuth runs once per
# backend, and counts creations (when armed) at allocation instead of from
# netlink.
modprobe drop_monitor 2>/dev/null || true
BENCH_ROUNDS=${VM_BENCH_ROUNDS:-3} BENCH_START_TIMEOUT=300 BENCH_BACKENDS="fentry kprobe tracepoint" \
  bash "$BENCH_DIR/host_bench.sh" "$NFSLEUTH" "$TRAFFIC" "$CONNRATE" "$VMLAB_OUT/side-by-side"
