#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# Runs inside the VM lab (a Debian distro kernel with modules): the seed
# scenario of `nfsleuth why` end to end. `iptables-legacy -t nat -L` loads
# the conntrack modules while `watch --journal` records it; `why nf_conntrack`
# names that process, finds a MASQUERADE rule and prints a remediation whose
# Remove and Unload steps, executed here, really unload every module they
# list, and whose Stop step keeps the next listing from loading them again.
source "$(dirname "$0")/../lib.sh"
require_root
[[ -e /proc/modules ]] || fail "the VM kernel has no module support"

CONF=/etc/modprobe.d/nfsleuth-no-conntrack.conf
RULE=(-t nat -A POSTROUTING -o nonexistent0 -j MASQUERADE)
SEED="iptables-legacy -t nat -L"
on_exit "rm -f $CONF"

loaded() { [[ -d /sys/module/$1 ]]; }
# Runs one remediation command as a user would paste it; fails the test if it fails.
run_step_command() { # command
  local out rc=0
  out=$(bash -c "$1" 2>&1) || rc=$?
  ((rc == 0)) || fail "remediation command '$1' exited $rc: $out"
  pass "ran: $1"
}

[[ ! -e $CONF ]] || fail "$CONF exists before the test"
for m in nf_conntrack nf_nat iptable_nat xt_MASQUERADE; do
  loaded "$m" && fail "module $m is loaded before the test: the scenario needs a fresh kernel"
done
pass "nf_conntrack, nf_nat, iptable_nat and xt_MASQUERADE are not loaded at start"

# --- 1. record the seed scenario -----------------------------------------------
start_nfsleuth watch watch --journal "$WORK/journal.jsonl" --quiet
watch_pid=$NFSLEUTH_BG_PID
# What watch itself causes to be loaded can come a moment after it attached
# (nfnetlink requests its subsystems without waiting): give it 3 s.
deadline=$((SECONDS + 3))
while ((SECONDS < deadline)); do
  if loaded nf_conntrack; then
    sleep 1 # let watch journal it
    grep '"type":"module_' "$WORK/journal.jsonl" | jq -c '{type, module: .module, by: "\(.comm)[\(.pid)]",
      trigger: (if .trigger then "\(.trigger.comm)[\(.trigger.pid)] requested \(.trigger.requested)" else null end)}' || true
    fail "watch (pid $watch_pid) itself loaded nf_conntrack before anything else ran (journal above)"
  fi
  sleep 0.2
done
pass "watch attached and loaded no nf_conntrack within 3 s"

cat >"$WORK/seed-listing.sh" <<SH
#!/bin/bash
echo \$\$ >"\$1"
$SEED >/dev/null
SH
chmod +x "$WORK/seed-listing.sh"
"$WORK/seed-listing.sh" "$WORK/seed.pid" || fail "the seed listing failed"
wrapper=$(cat "$WORK/seed.pid")
loaded nf_conntrack || fail "'$SEED' did not load nf_conntrack"
pass "'$SEED' loaded nf_conntrack"

deadline=$((SECONDS + 20))
until grep -q '"type":"module_load".*"module":"iptable_nat"' "$WORK/journal.jsonl" 2>/dev/null; do
  ((SECONDS < deadline)) || { cat "$WORK/journal.jsonl" "$WORK/watch.err"; fail "no iptable_nat load in the journal within 20 s"; }
  sleep 0.2
done
stop_nfsleuth "$watch_pid" || fail "watch exited with $? on SIGINT"
pass "watch journalled the loads and exited 0"
jq -e . "$WORK/journal.jsonl" >/dev/null || fail "a journal line does not parse"

# The journal keeps the requester's parents: the wrapper ran iptables-legacy.
req=$(jqf "$WORK/journal.jsonl" 'select(.type=="module_request" and .module=="iptable_nat")')
[[ $(wc -l <<<"$req") == 1 && -n $req ]] || fail "expected one request for iptable_nat in the journal, got: $req"
req_pid=$(jq -r .pid <<<"$req")
req_comm=$(jq -r .comm <<<"$req")
[[ $req_comm == iptables* || $req_comm == xtables* ]] || fail "iptable_nat requester comm is '$req_comm'"
assert_eq "$SEED" "$(jq -r .cmdline <<<"$req")" "journal: iptable_nat requester command line"
assert_eq "{\"pid\":$wrapper,\"comm\":\"seed-listing.sh\"}" "$(jq -c '.ancestors[0] | {pid, comm}' <<<"$req")" \
  "journal: requester's parent is the wrapper"

# --- 2. why, no rules ----------------------------------------------------------
modules_before=$(cut -d' ' -f1 /proc/modules | sort | tr '\n' ' ')
run_nfsleuth why1 why nf_conntrack --journal "$WORK/journal.jsonl" --json
assert_eq 0 "$(cat "$WORK/why1.rc")" "why --json exit code"
run_nfsleuth why1h why nf_conntrack --journal "$WORK/journal.jsonl"
assert_eq 0 "$(cat "$WORK/why1h.rc")" "why (text) exit code"
assert_eq "$modules_before" "$(cut -d' ' -f1 /proc/modules | sort | tr '\n' ' ')" "why loaded or unloaded no module"
W1="$WORK/why1.out"
assert_eq 1 "$(wc -l <"$W1")" "why --json prints one line"
assert_eq '"loaded"' "$(jqf "$W1" .state)" "why: state"
assert_eq '"nf_conntrack is loaded; 0 rules in 0 network namespaces need conntrack"' "$(jqf "$W1" .summary)" "why: summary"
assert_eq "\"$WORK/journal.jsonl\"" "$(jqf "$W1" .history.journal)" "why: history source"
assert_eq '[]' "$(jqf "$W1" '[.namespaces[].rules[]]')" "why: no rule needs conntrack"
assert_eq '["init"]' "$(jqf "$W1" '[.namespaces[].netns_name]')" "why: namespaces"
jq -e '.holders | map(.module) | index("nf_nat")' "$W1" >/dev/null || fail "why: nf_nat not among the holders: $(jqf "$W1" .holders)"
pass "why: nf_nat holds nf_conntrack"

assert_eq "{\"pid\":$req_pid,\"comm\":\"$req_comm\",\"cmdline\":\"$SEED\"}" \
  "$(jqf "$W1" '.history.events[] | select(.type=="module_request" and .module=="iptable_nat") | {pid, comm, cmdline}')" \
  "why: the request for iptable_nat"
assert_eq "{\"pid\":$wrapper,\"comm\":\"seed-listing.sh\"}" \
  "$(jqf "$W1" '.history.events[] | select(.type=="module_request" and .module=="iptable_nat") | .ancestors[0] | {pid, comm}')" \
  "why: the requester's parent is the wrapper"
for m in nf_conntrack nf_nat iptable_nat; do
  assert_eq "{\"comm\":\"modprobe\",\"trigger\":{\"pid\":$req_pid,\"comm\":\"$req_comm\",\"cmdline\":\"$SEED\",\"requested\":\"iptable_nat\"}}" \
    "$(jqf "$W1" ".history.events[] | select(.type==\"module_load\" and .module==\"$m\") | {comm, trigger}")" \
    "why: load of $m triggered by the listing"
done

H="$WORK/why1h.out"
grep -Eq "^  \S+ module_load nf_conntrack by modprobe\[[0-9]+\] \"[^\"]*\" for $req_comm\[$req_pid\] \"$SEED\"$" "$H" ||
  { cat "$H"; fail "why text: the nf_conntrack load line names the listing"; }
pass "why text: the nf_conntrack load line names the listing"
grep -Eq "^  \S+ module_request iptable_nat by $req_comm\[$req_pid\] \"$SEED\" \(seed-listing.sh\[$wrapper\] <- " "$H" ||
  { cat "$H"; fail "why text: the request line names the listing"; }
pass "why text: the request line names the listing"

unload1=$(jqf "$W1" '.remediation[] | select(.step | startswith("Unload"))')
echo "why (no rules) Unload step: $(jq -r .step <<<"$unload1")"
echo "                   commands: $(jq -c .commands <<<"$unload1")"
assert_eq '"modprobe -r nf_conntrack"' "$(jq -c '.commands[-1]' <<<"$unload1")" "why: the unload ends with nf_conntrack"

# --- 3. why, with a MASQUERADE rule -------------------------------------------------
iptables-legacy "${RULE[@]}" || fail "adding the MASQUERADE rule"
run_nfsleuth why2 why nf_conntrack --journal "$WORK/journal.jsonl" --json
assert_eq 0 "$(cat "$WORK/why2.rc")" "why with a rule: exit code"
W2="$WORK/why2.out"
assert_eq '"nf_conntrack is loaded; 1 rule in 1 network namespace needs conntrack"' "$(jqf "$W2" .summary)" "why with a rule: summary"
assert_eq '[{"source":"iptables-legacy","table":"nat","chain":"POSTROUTING","rule":"-A POSTROUTING -o nonexistent0 -j MASQUERADE","needs":"-j MASQUERADE","remove":"iptables-legacy -t nat -D POSTROUTING -o nonexistent0 -j MASQUERADE"}]' \
  "$(jqf "$W2" '.namespaces[] | select(.netns_name=="init") | .rules')" "why with a rule: the rule in init"
assert_eq '["iptables-legacy -t nat -D POSTROUTING -o nonexistent0 -j MASQUERADE"]' \
  "$(jqf "$W2" '[.remediation[] | select(.step | startswith("Remove")) | .commands[]]')" "why with a rule: the Remove step deletes exactly it"
jq -e '[.remediation[].step] | (map(startswith("Remove")) | index(true)) < (map(startswith("Unload")) | index(true))' "$W2" >/dev/null ||
  fail "why with a rule: Remove does not come before Unload: $(jqf "$W2" '[.remediation[].step]')"
pass "why with a rule: Remove comes before Unload"
unload2=$(jqf "$W2" '.remediation[] | select(.step | startswith("Unload"))')
echo "why (MASQUERADE rule) Unload step: $(jq -r .step <<<"$unload2")"
echo "                          commands: $(jq -c .commands <<<"$unload2")"

# --- 4. carry out Remove and Unload ------------------------------------------------
mapfile -t cmds < <(jq -r '.remediation[] | select(.step | test("^Remove|^Unload")) | .commands[]' "$W2")
((${#cmds[@]} >= 2)) || fail "why with a rule: too few Remove/Unload commands: ${cmds[*]}"
for c in "${cmds[@]}"; do run_step_command "$c"; done
mapfile -t unloaded < <(jq -r '.commands[] | sub("^modprobe -r "; "")' <<<"$unload2")
for m in "${unloaded[@]}"; do
  loaded "$m" && fail "module $m, listed in the Unload step, is still loaded (refcnt $(cat "/sys/module/$m/refcnt" 2>/dev/null), holders: $(ls "/sys/module/$m/holders" 2>/dev/null | tr '\n' ' '))"
  pass "unloaded: $m"
done
for m in nf_conntrack nf_nat iptable_nat; do loaded "$m" && fail "$m is still loaded"; done
pass "nf_conntrack, nf_nat and iptable_nat are gone"

run_nfsleuth why3 why nf_conntrack --json
assert_eq '"not loaded"' "$(jqf "$WORK/why3.out" .state)" "why after the unload: state"
assert_eq '[]' "$(jqf "$WORK/why3.out" '[.remediation[] | select(.step | test("^Remove|^Unload|^Stop"))]')" \
  "why after the unload: nothing left to remove, unload or stop"

# --- 5. Stop: the modprobe.d lines keep the next listing from loading them ----------
mapfile -t stop < <(jq -r '.remediation[] | select(.step | startswith("Stop")) | .commands[]' "$W2")
((${#stop[@]} > 0)) || fail "why with a rule: no Stop step"
for c in "${stop[@]}"; do run_step_command "$c"; done
for m in "${unloaded[@]}"; do
  grep -qx "install $m /bin/false" "$CONF" || { cat "$CONF"; fail "$CONF has no install line for $m"; }
  grep -qx "blacklist $m" "$CONF" || { cat "$CONF"; fail "$CONF has no blacklist line for $m"; }
done
pass "$CONF has blacklist and install lines for every unloaded module"
rc=0
iptables-legacy -t nat -L >"$WORK/relisting.out" 2>&1 || rc=$?
((rc != 0)) || { cat "$WORK/relisting.out"; fail "'$SEED' succeeded with the modprobe.d lines installed"; }
pass "'$SEED' fails with the lines installed (exit $rc: $(head -n1 "$WORK/relisting.out"))"
for m in nf_conntrack nf_nat iptable_nat "${unloaded[@]}"; do
  loaded "$m" && fail "$m was loaded again despite $CONF"
done
pass "nothing of ${unloaded[*]} was loaded again"
