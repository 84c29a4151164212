#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# Runs inside the VM lab, on every kernel of the matrix: the situation
# nfsleuth exists for, end to end, with `watch` and `drops` started before
# conntrack exists.
#
#  1. `iptables-legacy -t nat -L`, run in a docker container's cgroup,
#     autoloads nf_conntrack: watch names the container's cgroup as the
#     requester's; both follow the load and attach their hooks on
#     conntrack's functions (kprobes, which leave the module free to go),
#     and say so.
#  2. A MASQUERADE rule turns conntrack on in a namespace and a process
#     fills its table: the pressure warning names that process as the
#     creator, every table-full drop is counted exactly, with its cause.
#  3. The rules go and the modules are unloaded: nothing nfsleuth holds
#     keeps them, and both say the hooks are detached.
#  4. Loaded again and filled again: the hooks follow the new load, and the
#     drops of both rounds add up to the kernel's counters exactly.
source "$(dirname "$0")/../lib.sh"
require_root
require_traffic
[[ -e /proc/modules ]] || fail "the VM kernel has no module support"

loaded() { [[ -d /sys/module/$1 ]]; }
for m in nf_conntrack nf_nat iptable_nat; do
  loaded "$m" && fail "module $m is loaded before the test: the scenario needs a fresh kernel"
done
pass "$(uname -r): nf_conntrack, nf_nat and iptable_nat are not loaded at start"

MAX=40
# --arm-at 0: creators are counted in every namespace with a table, from
# conntrack's load on, so the filler's burst is counted whole (by default
# counting starts once a table is half full; test_watch covers that).
# --threshold 100: the warning comes from the first sample of a full table,
# never from one taken while the filler is still creating its entries.
start_nfsleuth watch watch --json --interval 0.5 --threshold 100 --arm-at 0 --journal "$WORK/journal.jsonl"
watch_pid=$NFSLEUTH_BG_PID
start_nfsleuth drops drops --json --interval 0.5
drops_pid=$NFSLEUTH_BG_PID
for t in watch drops; do
  assert_contains "$WORK/$t.err" "evictions and helper drops named by kprobes on nf_conntrack's functions while it is loaded (waiting for it to load)" \
    "$t: banner says the kprobes wait for nf_conntrack"
done

# Waits until FILE has a line matching the jq FILTER (60 s at most: TCG is
# slow, the PREEMPT_RT kernel slower still).
wait_for_line() { # file filter what
  local start=$SECONDS deadline=$((SECONDS + 60))
  # A line still being written does not parse: jq fails on it, later.
  until [[ -n $(jq -c "select($2)" "$1" 2>/dev/null || true) ]]; do
    if ((SECONDS >= deadline)); then
      jq -c 'select(.type != "ct_drop" and (.type | startswith("module_") | not))' "$1" | tail -n 20 >&2
      tail -n 5 "${1%.out}.err" >&2
      grep -E '^(nf_|xt_|iptable)' /proc/modules >&2 || true
      for task in /proc/$(pgrep -o -f "nfsleuth $(basename "${1%.out}")")/task/*; do
        echo "thread $(cat "$task/comm" 2>/dev/null) ${task##*/}: $(tr '\n' ' ' <"$task/stack" 2>/dev/null) state $(awk '{print $3, "utime", $14, "stime", $15}' "$task/stat") wchan $(cat "$task/wchan") syscall $(cat "$task/syscall")" >&2
      done
      fail "$3: not seen within 60 s (the last events of $1 above)"
    fi
    sleep 0.1
  done
  pass "$3 (after $((SECONDS - start)) s)"
}

# Fills the table of netns NS from a wrapper script: 2*MAX connections, MAX
# get an entry. Prints the kernel's drop counter delta.
fill_table() { # ns round
  local ns=$1 round=$2 before after
  cat >"$WORK/filler-$round.sh" <<SH
#!/bin/bash
echo \$\$ >"$WORK/filler-$round.pid"
exec ip netns exec $ns "$TRAFFIC" tcp-connect --dst 127.0.0.1 --port 5000 --count $((2 * MAX)) --timeout-ms 1500
SH
  chmod +x "$WORK/filler-$round.sh"
  before=$(ct_stat_sum "$ns" drop)
  "$WORK/filler-$round.sh" >"$WORK/filler-$round.out"
  after=$(ct_stat_sum "$ns" drop)
  assert_eq "{\"ok\":$MAX,\"failed\":$MAX}" "$(jqf "$WORK/filler-$round.out" 'select(.event=="summary") | {ok, failed}')" \
    "round $round: $MAX connections get an entry, $MAX do not"
  echo "$((after - before))" >"$WORK/kernel-drops-$round"
}

# A namespace whose conntrack a NAT rule turns on, with a listener.
make_seed_netns() { # ns
  make_netns "$1"
  ip netns exec "$1" iptables-legacy -t nat -A POSTROUTING -o eth0 -j MASQUERADE
  ip netns exec "$1" "$TRAFFIC" tcp-listen --addr 127.0.0.1 --port 5000 --duration-ms 120000 >"$WORK/listen-$1.out" &
  echo $! >"$WORK/listen-$1.pid"
  on_exit "kill $! 2>/dev/null"
  until [[ -s $WORK/listen-$1.out ]]; do sleep 0.05; done
}

# --- 1. the listing that loads conntrack -----------------------------------------
# Run from a docker container's cgroup, made after watch started: the
# request names it (the cgroup found by its id on this kernel).
cgroot=$(require_cgroup2) || exit $?
container_id=$(printf 'seed-%s' "$$" | sha256sum | cut -c1-64)
make_cgroup "$cgroot/nfsl-seed-$$"
mkdir "$cgroot/nfsl-seed-$$/docker-$container_id.scope"
sh -c 'echo $$ >"$0/cgroup.procs" && exec "$@"' "$cgroot/nfsl-seed-$$/docker-$container_id.scope" \
  iptables-legacy -t nat -L >/dev/null
loaded nf_conntrack || fail "'iptables-legacy -t nat -L' did not load nf_conntrack"
wait_for_line "$WORK/watch.out" '.type=="module_request" and .comm=="iptables-legacy"' "watch: the listing's request"
assert_eq "/nfsl-seed-$$/docker-$container_id.scope {\"runtime\":\"docker\",\"id\":\"$container_id\",\"name\":null}" \
  "$(jqf "$WORK/watch.out" 'select(.type=="module_request" and .comm=="iptables-legacy")' | head -n1 |
    jq -r '"\(.cgroup) \(.container | tojson)"')" "watch: the request names the container's cgroup"
for t in watch drops; do
  wait_for_line "$WORK/$t.out" '.type=="drop_causes" and .backend=="kprobe"' "$t: follows nf_conntrack's load"
done
assert_contains "$WORK/watch.err" "creations now counted at nf_conntrack's allocation (kprobe)" \
  "watch: creations counted at allocation once nf_conntrack is loaded"

# --- 2. a rule turns conntrack on; a process fills the table ----------------------
set_conntrack_max "$MAX"
make_seed_netns seed1
fill_table seed1 1
filler1=$(cat "$WORK/filler-1.pid")
inode1=$(stat -L -c %i /run/netns/seed1)
wait_for_line "$WORK/watch.out" ".type==\"ct_pressure\" and .netns==$inode1 and .state==\"high\"" "watch: pressure warning for seed1"
pressure=$(jqf "$WORK/watch.out" "select(.type==\"ct_pressure\" and .netns==$inode1 and .state==\"high\")" | head -n1)
assert_eq "{\"pid\":$filler1,\"comm\":\"nfsl-traffic\"}" "$(jq -c '.creators.processes[0] | {pid, comm}' <<<"$pressure")" \
  "watch: the filler is named as the top creator"
assert_eq "$MAX" "$(jq -c '.creators.processes[0].entries' <<<"$pressure")" "watch: with every entry it created"
echo "pressure event: $(jq -c '{count, max, creators: {source: .creators.source, created: .creators.created, processes: .creators.processes}}' <<<"$pressure")"

# --- 3. the rules go, the modules are unloaded -------------------------------------
# Nothing may keep the namespace (and with it its rules) alive.
listener=$(cat "$WORK/listen-seed1.pid")
kill "$listener"
wait "$listener" 2>/dev/null || true
ip netns del seed1
deadline=$((SECONDS + 30))
until modprobe -r xt_MASQUERADE iptable_nat nf_nat nf_conntrack 2>"$WORK/rmmod.err"; do
  # The namespace is freed asynchronously; its rules hold the modules until then.
  ((SECONDS < deadline)) || fail "the modules could not be unloaded: $(cat "$WORK/rmmod.err"); $(grep -E '^(nf_|xt_|iptable)' /proc/modules)"
  sleep 0.5
done
loaded nf_conntrack && fail "nf_conntrack still loaded after modprobe -r"
pass "nf_conntrack unloaded while watch and drops run (their kprobes do not hold it)"
for t in watch drops; do
  wait_for_line "$WORK/$t.out" '.type=="drop_causes" and .backend=="tracepoint"' "$t: detached from the unloaded nf_conntrack"
done

# --- 4. loaded again, filled again -------------------------------------------------
make_seed_netns seed2 # iptables-legacy autoloads the modules again
loaded nf_conntrack || fail "the MASQUERADE rule did not load nf_conntrack again"
for t in watch drops; do
  deadline=$((SECONDS + 20))
  until (($(jq -s '[.[] | select(.type=="drop_causes" and .backend=="kprobe")] | length' "$WORK/$t.out") >= 2)); do
    ((SECONDS < deadline)) || fail "$t: did not follow the second load of nf_conntrack"
    sleep 0.1
  done
  pass "$t: follows the second load of nf_conntrack"
done
set_conntrack_max "$MAX" # the module's reload restored the default
inode2=$(stat -L -c %i /run/netns/seed2)
fill_table seed2 2
sleep 1.5 # a few intervals: the live checks run

stop_nfsleuth "$drops_pid" || fail "drops exited with $? on SIGINT"
stop_nfsleuth "$watch_pid" || fail "watch exited with $? on SIGINT"

# --- the accounts ---------------------------------------------------------------------
k1=$(cat "$WORK/kernel-drops-1")
k2=$(cat "$WORK/kernel-drops-2")
((k1 > 0 && k2 > 0)) || fail "the kernel counted no drops ($k1, $k2)"
for t in watch drops; do
  J="$WORK/$t.out"
  jq -e . "$J" >/dev/null || fail "$t: a JSON line does not parse"
  for round in 1 2; do
    inode=$inode1 k=$k1
    [[ $round == 2 ]] && inode=$inode2 k=$k2
    assert_eq "{\"count\":$k,\"causes\":[\"table_full\"],\"backends\":[\"kprobe\"]}" \
      "$(jq -s -c "[.[] | select(.type==\"ct_drop\" and .netns==$inode)] | {count: (map(.count) | add), causes: (map(.cause) | unique), backends: (map(.backend) | unique)}" "$J")" \
      "$t round $round: every table-full drop counted, with its cause, while the kprobes follow nf_conntrack"
  done
  if [[ $t == drops ]]; then summary=$(tail -n1 "$J"); else summary=$(tail -n1 "$J" | jq -c .drops); fi
  assert_eq 0 "$(jq -c .missed <<<"$summary")" "$t: nothing missed"
  assert_eq true "$(jq -c .kernel_agreement.agree <<<"$summary")" "$t: the kernel's counters agree"
  assert_eq 0 "$(jq -s '[.[] | select(.type=="counter_mismatch")] | length' "$J")" "$t: no counter_mismatch event"
done
assert_eq 0 "$(jq -s '[.[] | select(.type=="counter_mismatch")] | length' "$WORK/journal.jsonl")" "journal: no counter_mismatch"
