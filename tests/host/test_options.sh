#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# Every option of every command does what its --help says, or is refused
# with exit 2 and one message. The options are read from the real --help
# output; one that OPTION_CHECKS below does not name fails the test, so a
# new option cannot ship without a check. Each check watches an exact
# effect of its option against the real kernel, with real traffic in
# namespaces made here (a check that could pass with the option ignored is
# no check). `modules` cannot run on a kernel without loadable modules:
# here its options are checked as parsed and as reaching the documented
# exit 3; tests/vm/test_modules.sh checks their effects.
source "$(dirname "$0")/../lib.sh"
require_root
require_traffic
require_conntrack
command -v strace >/dev/null || fail "strace is not installed (scripts/install-deps.sh installs it)"

# "COMMAND OPTION" as --help spells it (nfsleuth: the top level) -> the
# check that covers it. A check may cover one option of several commands.
OPTION_CHECKS=(
  "nfsleuth -h,--help           check_help"
  "nfsleuth --version           check_version"
  "doctor -h,--help             check_help"
  "doctor --json                check_json"
  "doctor -v,--verbose          check_verbose"
  "doctor --btf                 check_btf"
  "doctor --journal             check_doctor_journal"
  "modules -h,--help            check_help"
  "modules --json               check_json"
  "modules -v,--verbose         check_verbose"
  "modules --btf                check_btf"
  "modules --duration           check_duration"
  "modules --pid                check_pid"
  "modules --comm               check_comm"
  "modules --backend            check_backend"
  "modules --pod-logs           check_pod_logs"
  "modules --container-logs     check_pod_logs"
  "drops -h,--help              check_help"
  "drops --json                 check_json"
  "drops -v,--verbose           check_verbose"
  "drops --btf                  check_btf"
  "drops --duration             check_duration"
  "drops --pid                  check_pid"
  "drops --comm                 check_comm"
  "drops --backend              check_backend"
  "drops --pod-logs             check_pod_logs"
  "drops --container-logs       check_pod_logs"
  "drops --interval             check_interval"
  "drops --max-flows            check_max_flows"
  "drops --top                  check_top"
  "drops --arm-at               check_drops_arm_at"
  "drops --pcap                 check_pcap"
  "drops --pcap-snaplen         check_pcap"
  "drops --pcap-per-flow        check_pcap"
  "drops --pcap-per-second      check_pcap"
  "watch -h,--help              check_help"
  "watch --json                 check_json"
  "watch -v,--verbose           check_verbose"
  "watch --btf                  check_btf"
  "watch --duration             check_duration"
  "watch --backend              check_backend"
  "watch --pod-logs             check_pod_logs"
  "watch --container-logs       check_pod_logs"
  "watch --interval             check_interval"
  "watch --max-flows            check_max_flows"
  "watch --threshold            check_threshold"
  "watch --arm-at               check_arm_at"
  "watch --pcap                 check_pcap"
  "watch --pcap-snaplen         check_pcap"
  "watch --pcap-per-flow        check_pcap"
  "watch --pcap-per-second      check_pcap"
  "watch --metrics              check_metrics"
  "watch --journal              check_watch_journal"
  "watch --journal-max-size     check_journal_rotation"
  "watch --journal-keep         check_journal_rotation"
  "watch --journal-fsync        check_journal_fsync"
  "watch --window               check_window"
  "watch --forecast-window      check_forecast"
  "watch --full-within          check_forecast"
  "watch --bpf-stats            check_bpf_stats"
  "watch -q,--quiet             check_quiet"
  "why -h,--help                check_help"
  "why --json                   check_json"
  "why -v,--verbose             check_verbose"
  "why --btf                    check_btf"
  "why --journal                check_why_journal"
)

# --- 1. Every option in --help has a check, and every check an option ------
declare -A check_of=()
checks_in_order=()
for row in "${OPTION_CHECKS[@]}"; do
  read -r cmd opt fn <<<"$row"
  check_of["$cmd $opt"]=$fn
  [[ " ${checks_in_order[*]} " == *" $fn "* ]] || checks_in_order+=("$fn")
done

# The first words of the lines of a --help section ("Options:", "Subcommands:").
help_section() { # section command...
  local section=$1; shift
  "$NFSLEUTH" "$@" --help | awk -v s="$section:" '$0 == s {on = 1; next} /^$|^[^ ]/ {on = 0} on && /^  [^ ]/ {print $1}'
}
commands=$(help_section Subcommands)
[[ -n $commands ]] || fail "nfsleuth --help lists no commands"

# Run first, once every check is defined.
check_coverage() {
  local cmd opt fn key opts listed=()
  for cmd in nfsleuth $commands; do
    local args=()
    [[ $cmd == nfsleuth ]] || args=("$cmd")
    opts=$(help_section Options "${args[@]}")
    [[ -n $opts ]] || fail "nfsleuth ${args[*]} --help lists no options"
    for opt in $opts; do
      listed+=("$cmd $opt")
      fn=${check_of["$cmd $opt"]:-}
      [[ -n $fn ]] || fail "'$cmd $opt' is in --help but has no check: add one to OPTION_CHECKS in $0"
      declare -F "$fn" >/dev/null || fail "'$cmd $opt' is checked by $fn, which is not defined"
    done
  done
  for key in "${!check_of[@]}"; do
    [[ " ${listed[*]} " == *" $key "* ]] || fail "OPTION_CHECKS names '$key', which --help does not list"
  done
  pass "each of the ${#listed[@]} options in --help has a check (${#checks_in_order[@]} checks)"
}

# --- helpers -------------------------------------------------------------------


# `modules` where the kernel has no loadable modules: a valid command line
# reaches the documented exit 3 (and exits 0 where it could run).
modules_runs() { # args...
  run_nfsleuth mod modules --duration 0.5 "$@"
  if [[ -e /proc/modules ]]; then
    assert_eq 0 "$(cat "$WORK/mod.rc")" "modules --duration 0.5 $* exits 0"
  else
    assert_eq 3 "$(cat "$WORK/mod.rc")" "modules $* is accepted and exits 3 on a kernel without modules"
    assert_contains "$WORK/mod.err" "no loadable-module support" "modules $*: says why"
    assert_eq 0 "$(wc -c <"$WORK/mod.out")" "modules $*: nothing on stdout"
  fi
}

# Every line of a file is a JSON object with a type.
all_json() { # file
  [[ -s $1 ]] && jq -e -s 'length > 0 and all(.[]; type == "object" and has("type"))' "$1" >/dev/null 2>&1
}

now() { echo "$EPOCHREALTIME"; }

# The in-kernel size of a map a process holds, by the map's name, from
# its fds and a listing of every map ($WORK/maps.json).
map_size() { # pid map-name
  local fd ids=()
  for fd in /proc/"$1"/fd/*; do
    [[ $(readlink "$fd") == anon_inode:bpf-map ]] || continue
    ids+=("$(awk '/^map_id:/ {print $2}' "/proc/$1/fdinfo/${fd##*/}")")
  done
  jq -r --arg name "$2" --argjson ids "[$(IFS=,; echo "${ids[*]}")]" \
    '[.[] | select(.name == $name and (.id as $id | $ids | index($id))) | .max_entries] | if length == 1 then .[0] else "none" end' \
    "$WORK/maps.json"
}

# The updates (records after the first) of one flow's drops, by destination port.
updates_of() { # json-lines-file dport
  jq -s "[.[] | select(.type==\"ct_drop\" and .first==false and .flow.dport==$2)] | length" "$1"
}

in_range() { # value min max what
  (($1 >= $2 && $1 <= $3)) || fail "$4: $1 is not within $2..$3"
  pass "$4: $1 (within $2..$3)"
}

# The BTF of one empty struct nf_conn of 1234 bytes: raw BTF as libbpf
# reads it, with none of the kernel's types.
tiny_btf="$WORK/tiny.btf"
printf '\x9f\xeb\x01\x00\x18\x00\x00\x00\x00\x00\x00\x00\x0c\x00\x00\x00\x0c\x00\x00\x00\x09\x00\x00\x00' >"$tiny_btf"
printf '\x01\x00\x00\x00\x00\x00\x00\x04\xd2\x04\x00\x00\x00nf_conn\x00' >>"$tiny_btf"
echo "not BTF" >"$WORK/not.btf"
kernel_btf=/sys/kernel/btf/vmlinux

# --- 2. The live run the tracing checks share -----------------------------------
# Two namespaces: in `drop`, rules drop UDP to 7101 (sender A: nfsl-traffic),
# 7102 (sender B: the same program as nfsl-other) and 7103 (C: a burst over
# 200 flows); no rule there needs conntrack. In `fill`, conntrack is on and
# held connections fill the table (max 20) in three stages: 6 (30%), after
# two --window 1 periods 11 (55%), then 18 (90%).
# Tracers: D1 drops --json --interval 0.25 --pid A --backend tracepoint
# --btf; D2 drops --interval 1 --comm nfsl-other -v (text); D3 drops --json
# --top --interval 0.5 --max-flows 64; W1 watch --json --verbose with every
# watch option away from its default; W2 watch -q --journal --metrics with
# the defaults; W3 watch -q --interval 0.25 --journal-fsync 0.2, its syncs
# followed by strace; and drops/watch --duration 2 (text) for their timing.
live_ran=""
live_run() {
  [[ -z $live_ran ]] || return 0
  live_ran=1
  dns="nfsl-opt-d-$$"
  fns="nfsl-opt-f-$$"
  make_netns "$dns"
  make_netns "$fns"
  for port in 7101 7102 7103; do ip netns exec "$dns" iptables -A OUTPUT -p udp --dport "$port" -j DROP; done
  ip netns exec "$fns" iptables -A OUTPUT -m conntrack --ctstate NEW -j ACCEPT
  start_in_netns "$fns" "$WORK/listen.out" "$TRAFFIC" tcp-listen --addr 127.0.0.1 --port 7001 --duration-ms 90000
  until [[ -s $WORK/listen.out ]]; do sleep 0.05; done

  # Sender A runs in a Kubernetes pod's cgroup (cgroupfs driver); two
  # kubelet log trees name its pod and container differently. The cgroups
  # go once the senders are gone (cleanups run last registered first).
  cgroot=$(require_cgroup2) || exit $?
  pod_uid=3a1b2c3d-0000-4000-8000-00000000000$(($$ % 10))
  sender_id=$(printf 'sender-%s' "$$" | sha256sum | cut -c1-64)
  local pods_top="$cgroot/nfsl-opt-$$"
  make_cgroup "$pods_top"
  mkdir -p "$pods_top/kubepods/burstable/pod$pod_uid/$sender_id"
  mkdir -p "$WORK/k1/pods/opt_sender-a_$pod_uid/sender" "$WORK/k1/pods/opt_sender-a_$pod_uid/helper" \
    "$WORK/k1/containers" "$WORK/k2/pods/opt_sender-w_$pod_uid/sender"
  touch "$WORK/k1/containers/sender-a_opt_sender-$sender_id.log"

  # Senders whose pids are known before they send: each waits for $WORK/go.
  cp "$TRAFFIC" "$WORK/nfsl-other"
  local gate="until [[ -e $WORK/go ]]; do sleep 0.02; done; exec"
  start_in_netns "$dns" "$WORK/a.out" bash -c "$gate $TRAFFIC udp-send --dst 127.0.0.1 --port 7101 --count 300 --rate 100"
  PA=$!
  echo "$PA" >"$pods_top/kubepods/burstable/pod$pod_uid/$sender_id/cgroup.procs"
  start_in_netns "$dns" "$WORK/b.out" bash -c "$gate $WORK/nfsl-other udp-send --dst 127.0.0.1 --port 7102 --count 300 --rate 100"
  PB=$!

  set_conntrack_max 20
  bpf_stats_before=$(cat /proc/sys/kernel/bpf_stats_enabled)
  J1="$WORK/w1.jsonl"
  J2="$WORK/w2.jsonl"
  # All at once: loading is most of their start-up.
  launch d1 drops --json --interval 0.25 --pid "$PA" --backend tracepoint --btf "$kernel_btf" \
    --pod-logs "$WORK/k1/pods" --container-logs "$WORK/k1/containers"
  launch d2 drops --interval 1 --comm nfsl-other -v
  launch d3 drops --json --top --interval 0.5 --max-flows 64
  launch w1 watch --json --verbose --interval 0.25 --max-flows 128 --threshold 52.5 --arm-at 0 --window 1 \
    --metrics 127.0.0.1:0 --bpf-stats --journal "$J1" --journal-max-size 4096 --journal-keep 2 --journal-fsync 0.2 \
    --backend tracepoint --btf "$kernel_btf" --pod-logs "$WORK/k2/pods" --container-logs "$WORK/k1/containers" \
    --forecast-window 2 --full-within 3600
  launch w2 watch -q --journal "$J2" --metrics 127.0.0.1:0
  # W1 rotates its journal, and a rotation syncs it too: the periodic syncs
  # are counted in one that does not.
  launch w3 watch -q --interval 0.25 --journal "$WORK/w3.jsonl" --journal-fsync 0.2 --full-within 0
  await_attached d1 d2 d3 w1 w2 w3
  # The timed ones by themselves, and what only shows while they run.
  launch dur_drops drops --duration 2
  launch dur_watch watch --duration 2
  await_attached dur_drops dur_watch
  ss -Hltnp >"$WORK/listening_early"

  # Stage 1 of the fill, then the senders and the burst.
  hold "$fns" 6 stage1
  local stage1_done=$SECONDS
  touch "$WORK/go"
  timeout 3 strace -f -qq -e trace=fsync,fdatasync -o "$WORK/w3.strace" -p "${bg_pid[w3]}" 2>"$WORK/strace.err" &
  local tracer=$!
  ip netns exec "$dns" "$TRAFFIC" udp-send --dst 127.0.0.1 --port 7103 --count 400 --flows 200 >"$WORK/c.out"
  wait "$PA" "$PB" || fail "a sender failed"
  wait "$tracer" || [[ $? == 124 ]] || { cat "$WORK/strace.err"; fail "strace could not follow W3"; }
  await_exit dur_drops
  await_exit dur_watch

  # Stage 2 once the stage-1 creations are two --window 1 periods old.
  sleep $((stage1_done + 4 - SECONDS > 0 ? stage1_done + 4 - SECONDS : 0))
  hold "$fns" 5 stage2
  wait_for "$WORK/w1.out" '"state":"high"' "W1's ct_pressure at 55%"
  wait_for "$J2" '"type":"ct_tracking"' "W2's ct_tracking at 50%"
  hold "$fns" 7 stage3
  wait_for "$J2" '"state":"high"' "W2's ct_pressure at 90%"

  # What can only be seen while they run.
  for p in w1 w2; do
    stats_fds[$p]=$(for fd in /proc/"${bg_pid[$p]}"/fd/*; do readlink "$fd"; done | grep -c '^anon_inode:bpf-stats$' || true)
  done
  bpftool map show --json >"$WORK/maps.json"
  for p in d1 d3 w1 w2; do
    for map in drop_aggregates ct_creators; do sizes["$p $map"]=$(map_size "${bg_pid[$p]}" "$map"); done
  done
  w1_port=$(sed -n 's|.*metrics: http://127.0.0.1:\([0-9]*\)/metrics.*|\1|p' "$WORK/w1.err")
  w2_port=$(sed -n 's|.*metrics: http://127.0.0.1:\([0-9]*\)/metrics.*|\1|p' "$WORK/w2.err")
  ss -Hltnp >"$WORK/listening"
  curl -fsS "http://127.0.0.1:$w1_port/metrics" >"$WORK/w1.metrics" || fail "no metrics from W1 on port '$w1_port'"
  curl -fsS "http://127.0.0.1:$w2_port/metrics" >"$WORK/w2.metrics" || fail "no metrics from W2 on port '$w2_port'"

  for p in d1 d2 d3 w1 w2 w3; do kill -INT "${bg_pid[$p]}"; done
  for p in d1 d2 d3 w1 w2 w3; do
    await_exit "$p"
    assert_eq 0 "$(cat "$WORK/$p.rc")" "$p exits 0 on SIGINT"
  done
  bpf_stats_after=$(cat /proc/sys/kernel/bpf_stats_enabled)
}
declare -A sizes=() stats_fds=()

# Holds N more connections open in NS, and waits until all are up.
hold() { # ns n name
  start_in_netns "$1" "$WORK/$3.out" "$TRAFFIC" tcp-connect --dst 127.0.0.1 --port 7001 --count "$2" --hold-ms 80000
  local deadline=$((SECONDS + 10))
  until [[ $(grep -c '"ok":true' "$WORK/$3.out") == "$2" ]]; do
    ((SECONDS < deadline)) || { cat "$WORK/$3.out"*; fail "$3: $2 connections not up within 10 s"; }
    sleep 0.05
  done
}

wait_for() { # file text what
  local deadline=$((SECONDS + 15))
  until grep -qF -- "$2" "$1" 2>/dev/null; do
    ((SECONDS < deadline)) || fail "$3: not within 15 s"
    sleep 0.1
  done
}

# nfsleuth in the background ($WORK/NAME.{out,err}, pid in bg_pid[NAME]);
# its exit is timed by a waiter of its own ($WORK/NAME.{rc,ended}) while
# the test goes on.
declare -A bg_pid=() attached_at=()
launch() { # name args...
  local name=$1; shift
  rm -f "$WORK/$name.pid" "$WORK/$name.ended" "$WORK/$name.rc"
  ( "$NFSLEUTH" "$@" >"$WORK/$name.out" 2>"$WORK/$name.err" &
    echo $! >"$WORK/$name.pid"
    rc=0
    wait $! || rc=$?
    now >"$WORK/$name.ended"
    echo "$rc" >"$WORK/$name.rc" ) &
  until [[ -s $WORK/$name.pid ]]; do sleep 0.01; done
  bg_pid[$name]=$(cat "$WORK/$name.pid")
  on_exit "kill -KILL ${bg_pid[$name]}"
}
# Waits until each has attached (its "tracing" line), noting when.
await_attached() { # name...
  local name left=("$@") deadline=$((SECONDS + ${ATTACH_TIMEOUT:-90}))
  while ((${#left[@]})); do
    local still=()
    for name in "${left[@]}"; do
      if grep -q "^nfsleuth: tracing" "$WORK/$name.err"; then
        attached_at[$name]=$(now)
      else
        [[ ! -e $WORK/$name.ended ]] || { cat "$WORK/$name.err"; fail "$name exited before attaching"; }
        still+=("$name")
      fi
    done
    left=("${still[@]}")
    ((${#left[@]})) || break
    ((SECONDS < deadline)) || fail "${left[*]} did not attach within ${ATTACH_TIMEOUT:-90} s"
    sleep 0.02
  done
}
# Waits for its exit: $WORK/NAME.secs, from attaching to exit.
await_exit() { # name
  local deadline=$((SECONDS + 20))
  until [[ -s $WORK/$1.rc ]]; do
    ((SECONDS < deadline)) || fail "$1 still runs 20 s after attaching"
    sleep 0.02
  done
  awk -v a="${attached_at[$1]}" -v b="$(cat "$WORK/$1.ended")" 'BEGIN {printf "%.2f\n", b - a}' >"$WORK/$1.secs"
}

# --- 3. The checks -----------------------------------------------------------------

check_help() {
  local cmd
  for cmd in nfsleuth $commands; do
    local args=()
    [[ $cmd == nfsleuth ]] || args=("$cmd")
    local h
    for h in -h --help; do
      # With a --duration too: help is printed instead of running anything.
      local extra=()
      [[ $cmd == modules || $cmd == drops || $cmd == watch ]] && extra=(--duration 60)
      run_nfsleuth help "${args[@]}" "${extra[@]}" "$h"
      assert_eq 0 "$(cat "$WORK/help.rc")" "nfsleuth ${args[*]} $h exit code"
      assert_eq 0 "$(wc -c <"$WORK/help.err")" "nfsleuth ${args[*]} $h: nothing on stderr"
      grep -q "^Usage: nfsleuth ${args[*]}${args:+ }\[OPTIONS\]" "$WORK/help.out" ||
        fail "nfsleuth ${args[*]} $h prints its usage"
      pass "nfsleuth ${args[*]} $h prints its usage and runs nothing"
    done
  done
}

check_version() {
  run_nfsleuth version --version
  assert_eq 0 "$(cat "$WORK/version.rc")" "--version exit code"
  grep -Eqx 'nfsleuth [0-9]+\.[0-9]+\.[0-9]+' "$WORK/version.out" || fail "--version prints 'nfsleuth X.Y.Z'"
  pass "--version prints 'nfsleuth X.Y.Z'"
  assert_refused "not expected: --version" drops --version
}

check_json() {
  live_run
  # drops and watch: every stdout line is a JSON object; without, text.
  for t in d1 d3 w1; do
    all_json "$WORK/$t.out" || fail "$t --json: a stdout line is not a JSON object"
    pass "$t --json: only JSON objects on stdout ($(wc -l <"$WORK/$t.out") lines)"
  done
  assert_eq '"drop_summary"' "$(tail -n1 "$WORK/d1.out" | jq -c .type)" "drops --json ends with its summary"
  assert_eq '"summary"' "$(tail -n1 "$WORK/w1.out" | jq -c .type)" "watch --json ends with its summary"
  for t in d2 dur_watch; do
    if all_json "$WORK/$t.out"; then fail "$t without --json printed JSON"; fi
    [[ -s $WORK/$t.out ]] || fail "$t printed nothing"
    pass "$t without --json prints text"
  done
  # doctor and why: one JSON object; without, a text report.
  for cmd in doctor "why nf_conntrack"; do
    run_nfsleuth j $cmd --json
    run_nfsleuth t $cmd
    assert_eq "0 0" "$(cat "$WORK/j.rc") $(cat "$WORK/t.rc")" "$cmd with and without --json: exit codes"
    assert_eq 1 "$(wc -l <"$WORK/j.out")" "$cmd --json prints one line"
    jq -e 'type == "object"' "$WORK/j.out" >/dev/null || fail "$cmd --json: not a JSON object"
    if jq -e . "$WORK/t.out" >/dev/null 2>&1; then fail "$cmd without --json printed JSON"; fi
    pass "$cmd --json prints one JSON object, text without it"
  done
  modules_runs --json
}

check_verbose() {
  live_run
  # libbpf's debug messages come with -v only.
  debug_lines() { grep -c '^libbpf: ' "$1" || true; }
  for pair in "d2 d1" "w1 w2"; do
    read -r with without <<<"$pair"
    (($(debug_lines "$WORK/$with.err") > 10)) || fail "$with with -v printed no libbpf debug lines"
    assert_eq 0 "$(debug_lines "$WORK/$without.err")" "$without without -v: no debug lines"
    pass "$with with -v: $(debug_lines "$WORK/$with.err") debug lines on stderr"
  done
  grep -q 'libbpf: ' "$WORK/w1.out" && fail "watch --verbose put debug lines on stdout"
  for cmd in doctor "why nf_conntrack"; do
    run_nfsleuth v $cmd -v
    run_nfsleuth q $cmd
    (($(debug_lines "$WORK/v.err") > 0)) || fail "$cmd -v printed no debug lines"
    assert_eq 0 "$(debug_lines "$WORK/q.err")" "$cmd without -v: no debug lines"
    pass "$cmd -v: $(debug_lines "$WORK/v.err") debug lines on stderr"
  done
  modules_runs -v
}

check_btf() {
  live_run
  # The kernel's own file works (D1 and W1 ran with it); a file without the
  # kernel's types is the one used: what it lacks is missing.
  grep -q "^nfsleuth: tracing" "$WORK/d1.err" || fail "drops --btf $kernel_btf did not attach"
  grep -q "^nfsleuth: tracing" "$WORK/w1.err" || fail "watch --btf $kernel_btf did not attach"
  pass "drops and watch --btf $kernel_btf attach"
  for cmd in drops watch; do
    run_nfsleuth tiny $cmd --btf "$tiny_btf" --duration 1
    assert_eq 3 "$(cat "$WORK/tiny.rc")" "$cmd --btf (a BTF without kfree_skb): exit code"
    assert_contains "$WORK/tiny.err" "no tracepoint kfree_skb in BTF" "$cmd --btf: the file's types are the ones used"
  done
  run_nfsleuth tiny doctor --json --btf "$tiny_btf"
  run_nfsleuth own doctor --json --btf "$kernel_btf"
  assert_eq "\"$tiny_btf\"" "$(jqf "$WORK/tiny.out" .btf.path)" "doctor --btf: the file is reported"
  assert_eq null "$(jqf "$WORK/tiny.out" '.hooks[] | select(.hook=="ct_drop") | .attach')" \
    "doctor --btf: ct_drop has no attach point in a BTF without kfree_skb"
  assert_eq 3 "$(cat "$WORK/tiny.rc")" "doctor --btf (a BTF without kfree_skb): exit code"
  assert_eq null "$(jqf "$WORK/tiny.out" .drop_recognised_by)" "doctor --btf: drops not recognised with that BTF"
  assert_eq '"tp_btf:kfree_skb"' "$(jqf "$WORK/own.out" '.hooks[] | select(.hook=="ct_drop") | .attach')" \
    "doctor --btf $kernel_btf: ct_drop on kfree_skb"
  run_nfsleuth tiny why nf_conntrack --json --btf "$tiny_btf"
  run_nfsleuth own why nf_conntrack --json
  assert_eq 1234 "$(jqf "$WORK/tiny.out" .sizing.bytes_per_entry)" "why --btf: nf_conn's size from the file"
  [[ $(jqf "$WORK/own.out" .sizing.bytes_per_entry) =~ ^[0-9]+$ && $(jqf "$WORK/own.out" .sizing.bytes_per_entry) != 1234 ]] ||
    fail "why without --btf: the kernel's nf_conn size"
  modules_runs --btf "$kernel_btf"
  for cmd in doctor modules drops watch "why nf_conntrack"; do
    assert_refused "not a BTF file" $cmd --btf "$WORK/not.btf"
    assert_refused "File does not exist: $WORK/none" $cmd --btf "$WORK/none"
  done
}

check_duration() {
  live_run
  # From the "tracing" line to the exit: the 2 s asked for, not less and
  # not until a signal.
  for t in dur_drops dur_watch; do
    assert_eq 0 "$(cat "$WORK/$t.rc")" "$t: --duration 2 exits 0"
    awk -v s="$(cat "$WORK/$t.secs")" 'BEGIN {exit !(s >= 1.5 && s <= 3.5)}' ||
      fail "$t: --duration 2 ran $(cat "$WORK/$t.secs") s after attaching"
    pass "$t: --duration 2 ran $(cat "$WORK/$t.secs") s after attaching"
  done
  assert_contains "$WORK/dur_drops.out" "Conntrack drops:" "drops --duration: the summary at the end"
  for cmd in modules drops watch; do
    assert_refused "--duration: must be a number of seconds from 0.001" $cmd --duration 0
    assert_refused "--duration: must be a number of seconds from 0.001" $cmd --duration soon
  done
  modules_runs
}

check_pid() {
  live_run
  # D1 followed A only, though B and C dropped too in the same run.
  local d1_pids
  d1_pids=$(jq -s -c '[.[] | select(.type=="ct_drop") | .pid] | unique' "$WORK/d1.out")
  assert_eq "[$PA]" "$d1_pids" "drops --pid $PA: only that process's drops"
  assert_eq 300 "$(jq -s "[.[] | select(.type==\"ct_drop\") | .count] | add" "$WORK/d1.out")" \
    "drops --pid: all 300 of its drops"
  assert_eq 300 "$(tail -n1 "$WORK/d1.out" | jq -c .total)" "drops --pid: its summary counts them only"
  # D3, unfiltered, saw the others.
  assert_eq "[$PA,$PB]" "$(jq -s -c "[.[] | select(.type==\"ct_drop\" and (.pid==$PA or .pid==$PB)) | .pid] | unique" "$WORK/d3.out")" \
    "without --pid both senders are reported"
  for cmd in modules drops; do
    assert_refused "--pid" $cmd --pid abc
    assert_refused "--pid" $cmd --pid 0
  done
  assert_refused "--pid: not an option of watch" watch --pid 1
  modules_runs --pid 1
}

check_comm() {
  live_run
  # D2 (text) followed nfsl-other only: every drop line names B.
  local lines
  lines=$(grep -c '^[0-9-]*T[0-9:.]*Z drop ' "$WORK/d2.out" || true)
  ((lines > 0)) || fail "drops --comm nfsl-other reported nothing"
  assert_eq "$lines" "$(grep -c "^[0-9-]*T[0-9:.]*Z drop .* by nfsl-other\[$PB\] " "$WORK/d2.out")" \
    "drops --comm nfsl-other: all $lines drop lines are B's"
  assert_contains "$WORK/d2.out" "Conntrack drops: 300" "drops --comm: its summary counts B's 300"
  grep -q "nfsl-traffic" "$WORK/d2.out" && fail "drops --comm nfsl-other reported nfsl-traffic"
  pass "drops --comm: nothing of nfsl-traffic"
  for cmd in modules drops; do
    assert_refused "--comm: must be a command name of 1 to 15 bytes" $cmd --comm 0123456789abcdef
    assert_refused "--comm: must be a command name of 1 to 15 bytes" $cmd --comm ""
  done
  assert_refused "--comm: not an option of watch" watch --comm nfsl-other
  modules_runs --comm iptables
}

check_backend() {
  live_run
  # Forced tracepoint: reported as the backend in use.
  assert_contains "$WORK/d1.err" "nfsleuth: tracing conntrack drops (backend tracepoint" "drops --backend tracepoint: the banner"
  assert_eq '["tracepoint"]' "$(jq -s -c '[.[] | select(.type=="ct_drop") | .backend] | unique' "$WORK/d1.out")" \
    "drops --backend tracepoint: every record's backend"
  assert_contains "$WORK/w1.err" "nfsleuth: tracing conntrack drops (backend tracepoint" "watch --backend tracepoint: the banner"
  # Forced fentry or kprobe: used where the kernel has it, else exit 3.
  run_nfsleuth doctor doctor --json
  for b in fentry kprobe; do
    for cmd in drops watch; do
      run_nfsleuth forced $cmd --backend "$b" --duration 0.5
      if [[ $(jqf "$WORK/doctor.out" ".backends.$b") == true ]]; then
        assert_eq 0 "$(cat "$WORK/forced.rc")" "$cmd --backend $b where the kernel has it"
        assert_contains "$WORK/forced.err" "(backend $b" "$cmd --backend $b is the backend in use"
      else
        assert_eq 3 "$(cat "$WORK/forced.rc")" "$cmd --backend $b where the kernel lacks it: exit code"
        assert_contains "$WORK/forced.err" "the $b backend cannot be used here" "$cmd --backend $b says why"
      fi
    done
    # Module events exist only as tracepoints: a usage error, on any kernel.
    assert_refused "module events are only traced through tracepoints; --backend $b" modules --backend "$b"
  done
  for cmd in modules drops watch; do assert_refused "--backend" $cmd --backend ebpf; done
  modules_runs --backend tracepoint
}

check_interval() {
  live_run
  # A and B each dropped 100 datagrams a second for 3 s: one update per
  # interval while they sent. 0.25 s: about 12; the default 1 s: about 3.
  in_range "$(updates_of "$WORK/d1.out" 7101)" 8 16 "drops --interval 0.25: updates of A's flow in 3 s"
  in_range "$(grep -c "7102/udp .* count=+" "$WORK/d2.out")" 2 5 "drops --interval 1: updates of B's flow in 3 s"
  in_range "$(updates_of "$WORK/w1.out" 7101)" 8 16 "watch --interval 0.25: updates of A's flow in 3 s"
  in_range "$(updates_of "$J2" 7101)" 2 5 "watch with the default interval (1 s): updates of A's flow in 3 s"
  for cmd in drops watch; do assert_refused "--interval: must be a number of seconds" $cmd --interval 0; done
}

check_max_flows() {
  live_run
  assert_eq 64 "${sizes[d3 drop_aggregates]}" "drops --max-flows 64: the in-kernel aggregation map"
  assert_eq 16384 "${sizes[d1 drop_aggregates]}" "drops by default: the in-kernel aggregation map"
  assert_eq "128 128" "${sizes[w1 drop_aggregates]} ${sizes[w1 ct_creators]}" "watch --max-flows 128: drop and creator maps"
  assert_eq "16384 16384" "${sizes[w2 drop_aggregates]} ${sizes[w2 ct_creators]}" "watch by default: drop and creator maps"
  # C's 200 flows, each dropped twice, overflow 64 aggregates: the counts of
  # evicted flows are missed, and the summary says so.
  local missed
  missed=$(tail -n1 "$WORK/d3.out" | jq -c .missed)
  ((missed > 0)) || fail "drops --max-flows 64: nothing missed with 200 flows"
  pass "drops --max-flows 64: $missed drops of evicted flows counted as missed"
  assert_eq 0 "$(tail -n1 "$WORK/d1.out" | jq -c .missed)" "drops by default: nothing missed"
  grep -q "64 to 4194304" <("$NFSLEUTH" drops --help) || fail "drops --help gives the range of --max-flows"
  for cmd in drops watch; do
    assert_refused "--max-flows: Value 16 not in range 64 to 4194304" $cmd --max-flows 16
    assert_refused "--max-flows: Value 4194305 not in range 64 to 4194304" $cmd --max-flows 4194305
  done
}

check_top() {
  live_run
  # D3 printed its summary every 0.5 s for the whole run; D1, only at exit.
  local summaries
  summaries=$(grep -c '"type":"drop_summary"' "$WORK/d3.out")
  ((summaries >= 8)) || fail "drops --top --interval 0.5: only $summaries summaries"
  pass "drops --top: $summaries summaries"
  assert_eq 1 "$(grep -c '"type":"drop_summary"' "$WORK/d1.out")" "drops without --top: one summary, at exit"
}

check_threshold() {
  live_run
  local p1 p2
  p1=$(jqf "$WORK/w1.out" 'select(.type=="ct_pressure" and .state=="high")' | head -n1)
  # 52.5%: reached with the 11th entry, not the 10th (the 5 of stage 2 are
  # connected one after the other, and a sample may fall between them).
  assert_eq '{"state":"high","count":11,"max":20,"threshold_percent":52.5}' \
    "$(jq -c '{state, count, max, threshold_percent}' <<<"$p1")" "watch --threshold 52.5: ct_pressure at 11 of 20"
  assert_eq "\"$fns\"" "$(jq -c .netns_name <<<"$p1")" "watch --threshold 52.5: the namespace"
  p2=$(jqf "$J2" 'select(.type=="ct_pressure" and .state=="high")')
  assert_eq '{"state":"high","count":18,"max":20,"threshold_percent":90}' \
    "$(jq -c '{state, count, max, threshold_percent}' <<<"$p2")" "watch by default (90): one ct_pressure, at 18 of 20"
  assert_refused "--threshold: must be a number from 1 to 100" watch --threshold 0
  assert_refused "--threshold: must be a number from 1 to 100" watch --threshold 101
}

check_drops_arm_at() {
  assert_refused "--arm-at: must be a number from 0 to 100" drops --arm-at 101
  # drops has no --threshold: any fill is allowed.
  run_nfsleuth drops-arm drops --arm-at 95 --duration 0.3
  assert_eq 0 "$(cat "$WORK/drops-arm.rc")" "drops --arm-at 95: exit status"
  if grep -q "evicted entries named" "$WORK/drops-arm.err"; then
    assert_contains "$WORK/drops-arm.err" "evicted entries named while a table is at least 95.0% full (--arm-at)" \
      "drops --arm-at 95: the banner says from when evicted entries are named"
  else
    assert_contains "$WORK/drops-arm.err" "(backend tracepoint:" "drops --arm-at 95: evictions not seen by this backend"
  fi
}

check_arm_at() {
  live_run
  # W1, --arm-at 0: creators counted in every table from the start, so no
  # ct_tracking event (check_window counts them).
  assert_eq 0 "$(jqf "$WORK/w1.out" 'select(.type=="ct_tracking")' | wc -l)" "watch --arm-at 0: no ct_tracking event"
  assert_eq '{"arm_at_percent":0,"armed_episodes":0}' \
    "$(jqf "$WORK/w1.out" 'select(.type=="summary") | .creations | {arm_at_percent, armed_episodes}')" "watch --arm-at 0: summary"
  # W2, by default (50): armed by the sample that found 10 of 20 entries,
  # or 11 (stage 2's five come one after the other); counted from there.
  local t p2 at
  t=$(jqf "$J2" 'select(.type=="ct_tracking")')
  assert_eq 1 "$(grep -c . <<<"$t")" "watch by default: one ct_tracking event"
  at=$(jq -c .count <<<"$t")
  [[ $at == 10 || $at == 11 ]] || fail "watch by default: armed at $at entries, not at 10 or 11 of 20"
  assert_eq "{\"state\":\"armed\",\"netns_name\":\"$fns\",\"max\":20,\"arm_at_percent\":50}" \
    "$(jq -c '{state, netns_name, max, arm_at_percent}' <<<"$t")" "watch by default: armed at 50% ($at of 20)"
  p2=$(jqf "$J2" 'select(.type=="ct_pressure" and .state=="high")')
  assert_eq "$((18 - at))" "$(jq -c .creators.created <<<"$p2")" "watch by default: the creations since arming"
  assert_refused "--arm-at: must be a number from 0 to 100" watch --arm-at 101
  assert_refused "--arm-at: must be a number from 0 to 100" watch --arm-at -1
  assert_refused "--arm-at: must not be above --threshold (90)" watch --arm-at 95
  assert_refused "--arm-at: must not be above --threshold (55)" watch --arm-at 60 --threshold 55
}

check_window() {
  live_run
  # With --window 1 the 6 creations of stage 1, two windows old, are no
  # longer ranked when 55% is reached; with the default 300 s all 18 are.
  local p1 p2
  p1=$(jqf "$WORK/w1.out" 'select(.type=="ct_pressure" and .state=="high")' | head -n1)
  p2=$(jqf "$J2" 'select(.type=="ct_pressure" and .state=="high")')
  assert_eq 5 "$(jq -c .creators.created <<<"$p1")" "watch --window 1: only the last window's creations"
  assert_refused "--window: must be a number of seconds" watch --window 0
}

check_pod_logs() {
  live_run
  # D1 and W1 name sender A's pod from the trees they were given; D3, by
  # default (/var/log/pods), knows only what the cgroup path says.
  local d1 w1 d3
  d1=$(jqf "$WORK/d1.out" 'select(.type=="ct_drop" and .flow.dport==7101 and .first)' | head -n1)
  assert_eq "{\"runtime\":\"cri\",\"id\":\"$sender_id\",\"name\":\"sender\"} {\"namespace\":\"opt\",\"name\":\"sender-a\",\"uid\":\"$pod_uid\",\"qos\":\"burstable\"}" \
    "$(jq -c '.container, .pod' <<<"$d1" | paste -sd ' ')" \
    "drops --pod-logs --container-logs: the pod, and the container of two by its link"
  w1=$(jqf "$WORK/w1.out" 'select(.type=="ct_drop" and .flow.dport==7101 and .first)' | head -n1)
  assert_eq '"sender" "opt/sender-w"' "$(jq -c '.container.name, (.pod.namespace + "/" + .pod.name)' <<<"$w1" | paste -sd ' ')" \
    "watch --pod-logs --container-logs: the pod from its tree, the container from the link"
  d3=$(jqf "$WORK/d3.out" 'select(.type=="ct_drop" and .flow.dport==7101 and .first)' | head -n1)
  assert_eq "\"$sender_id\" null null \"$pod_uid\"" "$(jq -c '.container.id, .container.name, .pod.name, .pod.uid' <<<"$d3" | paste -sd ' ')" \
    "drops by default: the pod's uid and the container's id from the cgroup, no names"
  modules_runs --pod-logs "$WORK/k1/pods" --container-logs "$WORK/k1/containers"
}

check_forecast() {
  live_run
  # W1's 2 s window forecasts within half a second of samples: stage 1's
  # six entries make its table "filling" (full within its 3600 s) long
  # before 52.5%; W3 (--full-within 0) only ever says "high".
  local f
  f=$(jq -c -s 'map(select(.type=="ct_pressure"))[0]' "$WORK/w1.out")
  assert_eq '"filling" true true true' \
    "$(jq -c '.state, (.count < 11), (.growth_per_s > 0), (.full_in_s > 0 and .full_in_s <= 3600)' <<<"$f" | paste -sd ' ')" \
    "watch --forecast-window 2 --full-within 3600: filling before the threshold (at $(jq -c .count <<<"$f") of 20)"
  assert_eq '"high"' "$(jqf "$WORK/w3.jsonl" 'select(.type=="ct_pressure") | .state' | sort -u | paste -sd ' ')" \
    "watch --full-within 0: no forecast warning"
  assert_refused "--forecast-window: must be a number from 1 to 86400" watch --forecast-window 0
  assert_refused "--full-within: must be a number from 0 to 604800" watch --full-within -1
}

check_metrics() {
  live_run
  [[ -n $w1_port ]] || fail "watch --metrics 127.0.0.1:0: the banner names the port"
  grep -q "127.0.0.1:$w1_port .*pid=${bg_pid[w1]}," "$WORK/listening" || { cat "$WORK/listening"; fail "W1 listens on 127.0.0.1:$w1_port"; }
  pass "watch --metrics 127.0.0.1:0 listens on 127.0.0.1:$w1_port"
  # W2's aggregates held every flow: its count is exact (W1's 128 did not).
  [[ -n $w2_port ]] || fail "watch --metrics 127.0.0.1:0: the banner names the port"
  assert_contains "$WORK/w2.metrics" "nfsleuth_drops_total{cause=\"rule\",netns=\"$dns\"} 1000" \
    "watch --metrics: the namespace's 1000 drops"
  assert_contains "$WORK/w1.metrics" "nfsleuth_drops_total{cause=\"rule\",netns=\"$dns\"}" \
    "watch --metrics on W1: the namespace's drops"
  grep -q "metrics:" "$WORK/dur_watch.err" && fail "watch without --metrics announced metrics"
  grep -q "pid=${bg_pid[dur_watch]}," "$WORK/listening_early" && fail "watch without --metrics listened"
  pass "watch without --metrics serves nothing"
  assert_refused "invalid listen address \"nonsense\"" watch --metrics nonsense
  assert_refused "not an IPv4 address" watch --metrics 256.1.1.1:80
  assert_refused "the port must be a number from 0 to 65535" watch --metrics 127.0.0.1:65536
}

check_watch_journal() {
  live_run
  # W2 was quiet: its journal has every event, B's 300 drops exactly.
  jq -e -c . "$J2" >/dev/null || fail "watch --journal: a line is not JSON"
  assert_eq 300 "$(jq -s '[.[] | select(.type=="ct_drop" and .flow.dport==7102) | .count] | add' "$J2")" \
    "watch --journal: B's 300 drops"
  assert_eq '"summary"' "$(tail -n1 "$J2" | jq -c .type)" "watch --journal: the summary at the end"
  grep -q "journal:" "$WORK/dur_watch.err" && fail "watch without --journal has a journal"
  pass "watch without --journal writes none"
  assert_refused "--journal-max-size: must be a size of at least 4096 bytes" watch --journal-max-size 4095
}

check_journal_rotation() {
  live_run
  # 4096 bytes, 2 kept: w1.jsonl, .1 and .2, none larger; W2 (64M) never rotated.
  local f
  for f in "$J1" "$J1.1" "$J1.2"; do
    [[ -s $f ]] || fail "watch --journal-keep 2: $f is missing"
    (($(stat -c %s "$f") <= 4096)) || fail "watch --journal-max-size 4096: $f has $(stat -c %s "$f") bytes"
  done
  [[ ! -e $J1.3 ]] || fail "watch --journal-keep 2: $J1.3 was kept"
  pass "watch --journal-max-size 4096 --journal-keep 2: three files of $(stat -c %s "$J1" "$J1.1" "$J1.2" | paste -sd/) bytes"
  local rotations
  rotations=$(tail -n1 "$WORK/w1.out" | jq -c .journal.rotations)
  ((rotations >= 3)) || fail "watch --journal-max-size 4096: $rotations rotations"
  pass "watch --journal-max-size 4096: $rotations rotations"
  assert_eq 0 "$(tail -n1 "$J2" | jq -c .journal.rotations)" "watch by default (64M): no rotation"
  [[ ! -e $J2.1 ]] || fail "watch by default rotated"
  assert_refused "--journal-max-size: must be a size of at least 4096 bytes" watch --journal-max-size 1X
  assert_refused "--journal-keep: Value 1001 not in range 0 to 1000" watch --journal-keep 1001
}

check_journal_fsync() {
  live_run
  # For 3 s while events came every 0.25 s, W3 synced its journal at most
  # every 0.2 s: more often than the default 1 s allows, never more often.
  local syncs
  syncs=$(grep -cE '(fsync|fdatasync)\(' "$WORK/w3.strace" || true)
  in_range "$syncs" 5 17 "watch --journal-fsync 0.2: journal syncs in 3 s"
  assert_refused "--journal-fsync: must be a number of seconds" watch --journal-fsync 0
  assert_refused "--journal-fsync: must be a number of seconds" watch --journal-fsync never
}

check_bpf_stats() {
  live_run
  # The statistics are held on by an fd (the kernel counts the holders), so
  # nothing is left on after exit: the sysctl is not touched.
  assert_eq "1 0" "${stats_fds[w1]} ${stats_fds[w2]}" "watch --bpf-stats holds the kernel's BPF statistics on; without, not"
  assert_eq "$bpf_stats_before" "$bpf_stats_after" "kernel.bpf_stats_enabled is left as it was"
  local runs
  runs=$(awk '/^nfsleuth_bpf_run_count_total\{.*kfree_skb/ {print $2}' "$WORK/w1.metrics" | head -n1)
  [[ -n $runs ]] && ((runs > 0)) || { grep bpf_ "$WORK/w1.metrics"; fail "watch --bpf-stats: no run count of the kfree_skb program"; }
  pass "watch --bpf-stats: the kfree_skb program ran $runs times"
  grep -q '^nfsleuth_bpf_run_count_total' "$WORK/w2.metrics" && fail "watch without --bpf-stats has run-count metrics"
  pass "watch without --bpf-stats: no run-count metrics"
  assert_refused "--bpf-stats" watch --bpf-stats=maybe
}

check_quiet() {
  live_run
  assert_eq 0 "$(wc -c <"$WORK/w2.out")" "watch -q: nothing on stdout, the summary included"
  [[ -s $J2 ]] || fail "watch -q: the journal is empty"
  assert_contains "$WORK/dur_watch.out" "Conntrack drops:" "watch without -q: its summary on stdout"
}

check_doctor_journal() {
  cat >"$WORK/mismatch.jsonl" <<'J'
{"type":"ct_drop","ts":"2026-11-23T10:00:00Z","count":1}
{"type":"counter_mismatch","ts":"2026-11-23T10:00:01Z","netns":4026531840,"netns_name":"init","counter":"drop","direction":"unseen","kernel_min":20,"kernel_max":20,"nfsleuth":3,"message":"the kernel counted 20 conntrack drops, nfsleuth saw only 3"}
J
  echo '{"type":"ct_drop","ts":"2026-11-23T10:00:00Z","count":1}' >"$WORK/agree.jsonl"
  run_nfsleuth dj doctor --json --journal "$WORK/mismatch.jsonl"
  assert_eq 1 "$(cat "$WORK/dj.rc")" "doctor --journal with a counter_mismatch: exit 1"
  assert_eq "{\"journal\":\"$WORK/mismatch.jsonl\",\"mismatches\":1}" \
    "$(jqf "$WORK/dj.out" '.kernel_agreement | {journal, mismatches}')" "doctor --journal: the file's mismatch"
  run_nfsleuth da doctor --journal "$WORK/agree.jsonl"
  assert_eq 0 "$(cat "$WORK/da.rc")" "doctor --journal without a mismatch: exit 0"
  assert_contains "$WORK/da.out" "Kernel counters: agreed throughout $WORK/agree.jsonl" "doctor --journal: the file read"
  assert_refused "--journal: File does not exist" doctor --journal "$WORK/none.jsonl"
}

check_why_journal() {
  cat >"$WORK/why.jsonl" <<'J'
{"type":"module_load","ts":"2026-11-23T10:00:00Z","module":"nf_conntrack","pid":854,"comm":"modprobe","cmdline":"/sbin/modprobe -q -- iptable_nat","trigger":{"pid":851,"comm":"iptables-legacy","cmdline":"iptables-legacy -t nat -L"}}
J
  run_nfsleuth wj why nf_conntrack --json --journal "$WORK/why.jsonl"
  assert_eq 0 "$(cat "$WORK/wj.rc")" "why --journal exit code"
  assert_eq "\"$WORK/why.jsonl\"" "$(jqf "$WORK/wj.out" .history.journal)" "why --journal: the file read"
  assert_eq '[{"ts":"2026-11-23T10:00:00Z","pid":854}]' "$(jqf "$WORK/wj.out" '[.history.events[] | {ts, pid}]')" \
    "why --journal: the load it records"
  run_nfsleuth wn why nf_conntrack --json
  [[ $(jqf "$WORK/wn.out" .history.journal) != "\"$WORK/why.jsonl\"" ]] || fail "why without --journal read the file"
  pass "why without --journal reads another history"
  assert_refused "--journal: File does not exist" why nf_conntrack --journal "$WORK/none.jsonl"
}

check_pcap() {
  live_run  # over: the capture below holds only its own traffic
  command -v tshark >/dev/null || fail "tshark is not installed (scripts/install-deps.sh installs it)"
  # A namespace of its own: a rule drops 4 flows of 5 datagrams of 300
  # bytes (328-byte packets). drops --pcap with the default limits writes
  # 3 of each flow, 128 bytes of each; watch with every limit changed, the
  # first 40 bytes of 2 per flow, 5 a second (the burst fits in one).
  local pns="nfsl-opt-p-$$" pinode
  make_netns "$pns"
  pinode=$(stat -L -c %i "/run/netns/$pns")
  ip netns exec "$pns" iptables -A OUTPUT -p udp --dport 7301 -j DROP
  launch pd drops --pcap "$WORK/pd.pcapng"
  launch pw watch -q --pcap "$WORK/pw.pcapng" --pcap-snaplen 40 --pcap-per-flow 2 --pcap-per-second 5
  await_attached pd pw
  ip netns exec "$pns" "$TRAFFIC" udp-send --dst 127.0.0.1 --port 7301 --count 20 --flows 4 --payload 300 >"$WORK/p.out"
  sleep 1
  kill -INT "${bg_pid[pd]}" "${bg_pid[pw]}"
  await_exit pd
  await_exit pw
  # Each flow's packets: "source-port frame-length captured-length", counted.
  per_flow() { # file
    tshark -r "$1" -Y "frame.comment contains \"netns=$pinode(\"" -T fields -e udp.srcport -e frame.len -e frame.cap_len \
      2>/dev/null | sort | uniq -c | awk '{print $1, $3, $4}' | sort -u | paste -sd ' '
  }
  assert_eq "3 328 128" "$(per_flow "$WORK/pd.pcapng")" "drops --pcap: 3 packets of each flow, 128 of their 328 bytes"
  assert_eq 4 "$(tshark -r "$WORK/pd.pcapng" -T fields -e udp.srcport 2>/dev/null | sort -u | wc -l)" "drops --pcap: the 4 flows"
  assert_eq 5 "$(tshark -r "$WORK/pw.pcapng" -T fields -e frame.number 2>/dev/null | wc -l)" \
    "watch --pcap-per-second 5: 5 packets of the 8 the other limits leave"
  (($(tshark -r "$WORK/pw.pcapng" -T fields -e udp.srcport 2>/dev/null | sort | uniq -c | awk '$1 > 2' | wc -l) == 0)) ||
    fail "watch --pcap-per-flow 2: a flow has more than 2 packets"
  pass "watch --pcap-per-flow 2: no flow has more than 2 packets"
  assert_eq "328 40" "$(tshark -r "$WORK/pw.pcapng" -T fields -e frame.len -e frame.cap_len 2>/dev/null | sort -u | tr '\t' ' ')" \
    "watch --pcap-snaplen 40: 40 bytes of each packet"
  assert_contains "$WORK/pd.out" "Pcap $WORK/pd.pcapng: 12 packets written, 8 skipped (--pcap-per-flow)" "drops --pcap: the summary"
  grep -q "pcap:" "$WORK/dur_drops.err" "$WORK/dur_watch.err" && fail "drops or watch without --pcap announced a capture"
  pass "drops and watch without --pcap capture nothing"
  for cmd in drops watch; do
    assert_refused "--pcap: the path is empty" $cmd --pcap ""
    assert_refused "--pcap-snaplen: Value 39 not in range 40 to 256" $cmd --pcap f --pcap-snaplen 39
    assert_refused "--pcap-snaplen: Value 257 not in range 40 to 256" $cmd --pcap f --pcap-snaplen 257
    assert_refused "--pcap-per-flow: Value 0 not in range 1 to 1000" $cmd --pcap f --pcap-per-flow 0
    assert_refused "--pcap-per-second: Value 100001 not in range 1 to 100000" $cmd --pcap f --pcap-per-second 100001
    assert_refused "--pcap-per-second: needs --pcap FILE" $cmd --pcap-per-second 5
    run_nfsleuth nodir $cmd --pcap "$WORK/none/p.pcapng" --duration 1
    assert_eq 1 "$(cat "$WORK/nodir.rc")" "$cmd --pcap in a missing directory: exit 1"
    assert_contains "$WORK/nodir.err" "cannot create the pcapng file $WORK/none/p.pcapng" "$cmd --pcap: the error names the file"
  done
}

check_coverage
started=$SECONDS
for fn in "${checks_in_order[@]}"; do
  echo "--- $fn (at $((SECONDS - started)) s)"
  "$fn"
done
pass "all ${#checks_in_order[@]} checks in $((SECONDS - started)) s"
