#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# Host benchmarks, every tracer side by side in one run: the new-connection
# rate through conntrack, a table-full UDP drop storm, and the per-event
# BPF cost. Each round runs every configuration once, in an order rotated
# from round to round; results are medians and spreads over the rounds
# (these machines are noisy), written as JSON lines and a Markdown report.
#
#   bench/host_bench.sh NFSLEUTH NFSL-TRAFFIC NFSL-CONNRATE [OUT-DIR]
#
# BENCH_ROUNDS (5) and BENCH_SECONDS (3) size it. BENCH_BACKENDS (e.g.
# "fentry kprobe tracepoint") adds an nfsleuth run per forced backend to
# the one that picks its own; nfsleuth-armed counts creators in every table
# all along (--arm-at 0), the cost while a table is under pressure.
# BENCH_WORKLOADS ("conn storm") and BENCH_TRACERS (every one) narrow a run
# to what is being measured, e.g. more rounds of one workload. The VM lab runs it too
# (bench/vm_bench.sh), where dropwatch has its drop monitor. Root; traffic stays in
# namespaces it creates; nf_conntrack_max, kernel.bpf_stats_enabled and a
# tracefs mount it makes are restored on exit.
source "$(dirname "$0")/../tests/lib.sh"
require_root
CONNRATE=$(readlink -f "${3:?usage: $0 NFSLEUTH NFSL-TRAFFIC NFSL-CONNRATE [OUT-DIR]}")
OUT=${4:-$PWD/bench-results}
ROUNDS=${BENCH_ROUNDS:-5}
SECS=${BENCH_SECONDS:-3}
START_TIMEOUT=${BENCH_START_TIMEOUT:-60} # bpftrace compiles its script at start
BENCH_DIR=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$OUT"
RESULTS="$OUT/host.jsonl"
: >"$RESULTS"

# --- the tools -----------------------------------------------------------------------
if ! mountpoint -q /sys/kernel/tracing; then
  mount -t tracefs nodev /sys/kernel/tracing
  on_exit "umount /sys/kernel/tracing"
fi
netfilter_drop=$(bpftool btf dump file /sys/kernel/btf/vmlinux format raw |
  sed -n "s/^[[:space:]]*'SKB_DROP_REASON_NETFILTER_DROP' val=\([0-9]*\)$/\1/p" | head -1)
[[ -n $netfilter_drop ]] || fail "SKB_DROP_REASON_NETFILTER_DROP not in the kernel's BTF"

tracers=(baseline nfsleuth)
for b in ${BENCH_BACKENDS:-}; do tracers+=("nfsleuth-$b"); done
tracers+=(nfsleuth-armed bpftrace perf conntrack dropwatch)
if [[ -n ${BENCH_TRACERS:-} ]]; then
  for t in $BENCH_TRACERS; do
    [[ " ${tracers[*]} " == *" $t "* || $t =~ ^nfsleuth-(fentry|kprobe|tracepoint)$ ]] ||
      fail "BENCH_TRACERS: unknown tracer $t (known: ${tracers[*]} nfsleuth-BACKEND)"
  done
  read -ra tracers <<<"$BENCH_TRACERS"
fi
WORKLOADS=${BENCH_WORKLOADS:-conn storm}
for w in $WORKLOADS; do
  [[ $w == conn || $w == storm ]] || fail "BENCH_WORKLOADS: unknown workload $w (known: conn storm)"
done
unavailable() { # tracer -> reason, or nothing when it can run here
  case $1 in
    bpftrace) command -v bpftrace >/dev/null || echo "bpftrace is not installed" ;;
    perf) command -v perf >/dev/null || echo "perf (linux-perf) is not installed" ;;
    conntrack) command -v conntrack >/dev/null || echo "conntrack is not installed" ;;
    dropwatch)
      if ! command -v dropwatch >/dev/null; then echo "dropwatch is not installed"
      elif ! grep -q NET_DM <(genl ctrl list 2>/dev/null); then echo "the kernel has no drop monitor (NET_DM, CONFIG_NET_DROP_MONITOR)"; fi ;;
  esac
}
declare -A skipped
for t in "${tracers[@]}"; do
  why=$(unavailable "$t")
  if [[ -n $why ]]; then skipped[$t]=$why; echo "bench: $t skipped: $why"; fi
done
jq -nc --argjson s "$(for t in "${!skipped[@]}"; do jq -nc --arg t "$t" --arg w "${skipped[$t]}" '{($t): $w}'; done | jq -sc 'add // {}')" \
  '{type: "skipped", tracers: $s}' >>"$RESULTS"

TRACER_PID=""
DROPWATCH_FD=""
on_exit "stop_tracer"
# Starts a tracer, watching namespace $1's traffic where it can, and waits
# until it is tracing.
start_tracer() { # tracer netns
  local t=$1 ns=$2 log="$WORK/$1.log"
  : >"$log"
  case $t in
    baseline) TRACER_PID=""; return ;;
    nfsleuth) "$NFSLEUTH" watch -q --interval 1 >"$log" 2>&1 & ;;
    nfsleuth-armed) "$NFSLEUTH" watch -q --interval 1 --arm-at 0 >"$log" 2>&1 & ;;
    nfsleuth-*) "$NFSLEUTH" watch -q --interval 1 --backend "${t#nfsleuth-}" >"$log" 2>&1 & ;;
    bpftrace) bpftrace "$BENCH_DIR/drops.bt" "$netfilter_drop" >"$log" 2>&1 & ;;
    perf) perf record -q -e skb:kfree_skb -a -o "$WORK/perf.data" >"$log" 2>&1 & ;;
    conntrack) ip netns exec "$ns" conntrack -E -o timestamp >"$log" 2>&1 & ;;
    dropwatch)
      # dropwatch reads its commands from stdin: a FIFO held open here.
      rm -f "$WORK/dropwatch.in" && mkfifo "$WORK/dropwatch.in"
      dropwatch -l kas <"$WORK/dropwatch.in" >"$log" 2>&1 &
      exec {DROPWATCH_FD}>"$WORK/dropwatch.in"
      echo start >&"$DROPWATCH_FD" ;;
  esac
  TRACER_PID=$!
  local deadline=$((SECONDS + START_TIMEOUT)) ready
  case $t in
    nfsleuth*) ready="^nfsleuth: tracing" ;;
    bpftrace) ready="^Attaching" ;;
    *) ready="" ;;  # perf, conntrack and dropwatch print no such line: they open their source at once
  esac
  if [[ -n $ready ]]; then
    until grep -q "$ready" "$log"; do
      kill -0 "$TRACER_PID" 2>/dev/null || { cat "$log"; fail "$t exited at start"; }
      ((SECONDS < deadline)) || { cat "$log"; fail "$t did not start within $START_TIMEOUT s"; }
      sleep 0.2
    done
  else
    sleep 1
  fi
  kill -0 "$TRACER_PID" 2>/dev/null || { cat "$log"; fail "$t exited at start"; }
}

cpu_ticks() { # pid -> utime+stime of the process and its reaped children
  awk '{print $14 + $15 + $16 + $17}' "/proc/$1/stat"
}

rss_kb() { # pid -> resident set size in KiB, 0 without a process
  [[ -n $1 ]] || { echo 0; return; }
  awk '/^VmRSS:/ {print $2}' "/proc/$1/status"
}

# Stops the running tracer with SIGINT (perf writes its file then) and
# waits for it; SIGKILL after 30 s.
stop_tracer() {
  [[ -n $TRACER_PID ]] || return 0
  kill -INT "$TRACER_PID" 2>/dev/null || true
  local deadline=$((SECONDS + 30))
  while kill -0 "$TRACER_PID" 2>/dev/null; do
    ((SECONDS < deadline)) || { kill -KILL "$TRACER_PID"; break; }
    sleep 0.1
  done
  wait "$TRACER_PID" 2>/dev/null || true
  TRACER_PID=""
  if [[ -n $DROPWATCH_FD ]]; then exec {DROPWATCH_FD}>&-; DROPWATCH_FD=""; fi
  rm -f "$WORK/perf.data"
}

# --- the namespaces ------------------------------------------------------------------
# conn: conntrack on (a conntrack match), the connect/close loop.
make_netns "nfsl-bench-conn-$$"
conn_ns="nfsl-bench-conn-$$"
ip netns exec "$conn_ns" iptables -A OUTPUT -m conntrack --ctstate NEW -j ACCEPT
# storm: a table filled by established (assured, never evicted) connections,
# then UDP to new flows: every datagram is a table-full drop.
storm_ns="nfsl-bench-storm-$$"
make_netns "$storm_ns"
ip netns exec "$storm_ns" iptables -A OUTPUT -m conntrack --ctstate NEW -j ACCEPT
table=64
start_in_netns "$storm_ns" "$WORK/listen.out" "$TRAFFIC" tcp-listen --addr 127.0.0.1 --port 7100 --duration-ms 3600000
until [[ -s $WORK/listen.out ]]; do sleep 0.05; done
start_in_netns "$storm_ns" "$WORK/fill.out" "$TRAFFIC" tcp-connect --dst 127.0.0.1 --port 7100 --count "$table" --hold-ms 3600000
deadline=$((SECONDS + 10))
until [[ $(ip netns exec "$storm_ns" cat /proc/sys/net/netfilter/nf_conntrack_count) == "$table" ]]; do
  ((SECONDS < deadline)) || fail "the storm namespace's connections were not established"
  sleep 0.1
done
# The limit is global: it is lowered only while the storm runs, so the
# connection benchmark keeps the normal one.
normal_max=$(sysctl -n net.netfilter.nf_conntrack_max)
on_exit "sysctl -qw net.netfilter.nf_conntrack_max=$normal_max"

run_workload() { # workload -> one JSON object
  case $1 in
    conn)
      ip netns exec "$conn_ns" conntrack -F >/dev/null 2>&1 || true
      ip netns exec "$conn_ns" "$CONNRATE" --addr 127.0.0.1 --seconds "$SECS" |
        jq -c '{rate: .per_second, unit: "connections/s", failed}' ;;
    storm)
      sysctl -qw net.netfilter.nf_conntrack_max="$table"
      ip netns exec "$storm_ns" "$TRAFFIC" udp-send --dst 127.0.0.1 --port 7101 --count 10000000 --flows 256 \
        --max-ms "$((SECS * 1000))" | jq -c 'select(.event=="summary") |
          {rate: (((.sent + .errors) * 1000 / .elapsed_ms) | floor), unit: "datagrams/s", dropped: .errors}'
      sysctl -qw net.netfilter.nf_conntrack_max="$normal_max" ;;
  esac
}

# --- 1 and 2: throughput with each tracer ------------------------------------------
for workload in $WORKLOADS; do
  ns=$conn_ns; [[ $workload == storm ]] && ns=$storm_ns
  for ((round = 0; round < ROUNDS; round++)); do
    for ((i = 0; i < ${#tracers[@]}; i++)); do
      t=${tracers[(i + round) % ${#tracers[@]}]}
      [[ -z ${skipped[$t]:-} ]] || continue
      start_tracer "$t" "$ns"
      before=0; [[ -n $TRACER_PID ]] && before=$(cpu_ticks "$TRACER_PID")
      rss_idle=$(rss_kb "$TRACER_PID")
      result=$(run_workload "$workload")
      after=0; [[ -n $TRACER_PID ]] && after=$(cpu_ticks "$TRACER_PID")
      rss_after=$(rss_kb "$TRACER_PID")
      stop_tracer
      line=$(jq -c --arg w "$workload" --arg t "$t" --argjson r "$round" --argjson secs "$SECS" \
        --argjson cpu "$(((after - before) * 1000 / $(getconf CLK_TCK)))" \
        --argjson rss_idle "$rss_idle" --argjson rss_after "$rss_after" \
        '{type: "throughput", workload: $w, tracer: $t, round: $r} + . +
         {tracer_cpu_percent: ($cpu / 10 / $secs), tracer_rss_idle_kb: $rss_idle, tracer_rss_after_kb: $rss_after}' <<<"$result")
      echo "$line" | tee -a "$RESULTS"
    done
  done
done

# --- 3: per-event BPF cost (kernel.bpf_stats_enabled) -------------------------------
old_stats=$(sysctl -n kernel.bpf_stats_enabled)
on_exit "sysctl -qw kernel.bpf_stats_enabled=$old_stats"
sysctl -qw kernel.bpf_stats_enabled=1
for t in nfsleuth nfsleuth-armed bpftrace; do
  [[ -z ${skipped[$t]:-} && " ${tracers[*]} " == *" $t "* ]] || continue
  for workload in $WORKLOADS; do
    ns=$conn_ns; [[ $workload == storm ]] && ns=$storm_ns
    # The tracer's programs: those loaded while it started (this bpftool
    # cannot name a program's process).
    loaded_before=$(bpftool prog show -j | jq -c '[.[].id]')
    start_tracer "$t" "$ns"
    run_workload "$workload" >/dev/null
    backend=tracepoint # bpftrace; nfsleuth names the backend it chose
    [[ $t == nfsleuth* ]] && backend=$(sed -n 's/^nfsleuth: tracing.*(backend \([a-z]*\).*/\1/p' "$WORK/$t.log" | head -1)
    bpftool prog show -j | jq -c --argjson old "$loaded_before" --arg t "$t" --arg w "$workload" --arg b "$backend" '
      .[] | select(.id as $id | $old | index($id) | not) | select(.run_cnt > 0) |
      {type: "bpf_cost", tracer: $t, workload: $w, backend: $b, program: .name, kind: .type,
       runs: .run_cnt, ns_per_run: ((.run_time_ns / .run_cnt) | floor)}' | tee -a "$RESULTS"
    stop_tracer
  done
done

python3 "$BENCH_DIR/report.py" "$RESULTS" >"$OUT/host.md"
cat "$OUT/host.md"
