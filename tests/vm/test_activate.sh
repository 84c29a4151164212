#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# Runs inside the VM lab: the host's ct_activate scenarios on Debian's
# distro kernel, where nf_register_net_hook can be hooked, with each
# backend; then an iptables-legacy rule (a setsockopt, which the netlink way
# cannot see) whose activation also autoloads conntrack itself. The third
# argument narrows the backends (default: fentry and kprobe).
source "$(dirname "$0")/../lib.sh"
require_root
host_tests=$(cd "$(dirname "$0")/../host" && pwd)

for backend in ${3:-fentry kprobe}; do
  echo "=== test_activate with --backend $backend"
  ACTIVATE_BACKEND=$backend bash "$host_tests/test_activate.sh" "$NFSLEUTH" "$TRAFFIC" >"$WORK/activate-$backend.log" 2>&1 ||
    { cat "$WORK/activate-$backend.log"; fail "test_activate with --backend $backend"; }
  cat "$WORK/activate-$backend.log"
  grep -q "ct activations: nf_register_net_hook ($backend)" "$WORK/activate-$backend.log" ||
    fail "activations seen at hook registration with $backend"
  pass "activations with $backend: at hook registration"
done

# iptables-legacy in a namespace, with conntrack not yet loaded: the
# activation comes from the same process as the autoload.
# First unload conntrack with why's own unload sequence (the namespaces of
# the runs above may take a moment to be freed).
for _ in $(seq 20); do
  "$NFSLEUTH" why nf_conntrack --json >"$WORK/why-unload.json"
  jq -r '.remediation[] | select(.step | startswith("Unload")) | .commands[]' "$WORK/why-unload.json" |
    while read -r c; do $c 2>/dev/null || true; done
  [[ -d /sys/module/nf_conntrack ]] || break
  sleep 0.5
done
[[ ! -d /sys/module/nf_conntrack ]] || fail "nf_conntrack still loaded: $(jq -c .holders "$WORK/why-unload.json")"
pass "why's unload sequence unloaded nf_conntrack"
ns="nfsl-act-legacy-$$"
make_netns "$ns"
start_nfsleuth watch watch --journal "$WORK/legacy.jsonl" --interval 0.2
ip netns exec "$ns" iptables-legacy -t nat -A POSTROUTING -o nfsl0 -j MASQUERADE
ino=$(stat -L -c %i "/run/netns/$ns")
deadline=$((SECONDS + 20))
until jq -e --argjson ino "$ino" 'select(.type=="ct_activate" and .netns==$ino)' "$WORK/legacy.jsonl" >/dev/null 2>&1; do
  ((SECONDS < deadline)) || { cat "$WORK/watch.err"; fail "no activation within 20 s"; }
  sleep 0.2
done
stop_nfsleuth "$NFSLEUTH_BG_PID" || fail "watch exit status"
a=$(jq -c --argjson ino "$ino" 'select(.type=="ct_activate" and .netns==$ino)' "$WORK/legacy.jsonl")
assert_eq 1 "$(wc -l <<<"$a")" "one activation"
assert_eq '["ipv4","iptables-legacy","hook_registered","ipv4_conntrack_in","exact"]' \
  "$(jq -c '[.family, .comm, .detected_by, .hook, .confidence]' <<<"$a")" "by iptables-legacy, at registration"
assert_eq '{"source":"iptables-legacy","table":"nat","chain":"POSTROUTING","rule":"-A POSTROUTING -o nfsl0 -j MASQUERADE","needs":"-j MASQUERADE"}' \
  "$(jq -c '.rules[0]' <<<"$a")" "the legacy rule"
pid=$(jq .pid <<<"$a")
assert_eq "$pid" "$(jq -c --arg p "$pid" 'select(.type=="module_load" and .module=="nf_conntrack") | .trigger.pid | tostring | select(. == $p)' -r "$WORK/legacy.jsonl" | head -1)" \
  "the same process made the kernel load nf_conntrack"
