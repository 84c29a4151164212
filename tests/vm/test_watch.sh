#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# Runs inside the VM lab: the host's `watch` scenario on Debian's distro
# kernel, where conntrack's allocation function can be hooked: creations are
# counted at allocation (fentry, then kprobe) instead of from netlink, and
# module events are traced alongside. Then the host's arming scenario on
# both: the allocation hook and nf_ct_delete attached only while a table is
# at least half full. The third argument narrows the backends (default:
# fentry and kprobe).
source "$(dirname "$0")/../lib.sh"
require_root
host_tests=$(cd "$(dirname "$0")/../host" && pwd)

modprobe nf_conntrack
# Runs a host test with a forced backend; its output goes to WORK/TEST-BACKEND.log.
run_host_test() { # test backend
  local log="$WORK/$1-$2.log"
  echo "=== $1 with --backend $2"
  DROPS_BACKEND=$2 bash "$host_tests/$1.sh" "$NFSLEUTH" "$TRAFFIC" >"$log" 2>&1 || { cat "$log"; fail "$1 with --backend $2"; }
  cat "$log"
}
for backend in ${3:-fentry kprobe}; do
  run_host_test test_watch "$backend"
  # kprobe: "allocation (kprobe, while nf_conntrack is loaded)", following the module.
  grep -Eq "creations: allocation \($backend[,)]" "$WORK/test_watch-$backend.log" || fail "creations counted at allocation with $backend"
  pass "watch with $backend: creations from the allocation path"
  grep -q "module events: module_request=" "$WORK/test_watch-$backend.log" || fail "module events traced by watch"
  pass "watch with $backend: module events traced too"
  run_host_test test_watch_arming "$backend"
  grep -q "evicted entries named (from 50%): true" "$WORK/test_watch_arming-$backend.log" || fail "arming with $backend: nf_ct_delete checked"
  pass "watch with $backend: nf_ct_delete attached only while a table is half full"
done

# Module events in the daemon: stacks still resolve to symbols after watch
# has given CAP_SYSLOG up (Debian's perf_event_paranoid hides kallsyms
# addresses from readers without it).
start_nfsleuth modules watch --json --interval 0.5
grep -q "capabilities kept: " "$WORK/modules.err" || fail "watch names the capabilities it kept"
grep -q "cap_syslog" "$WORK/modules.err" && fail "watch kept cap_syslog"
iptables-legacy -t nat -L >/dev/null
deadline=$((SECONDS + 20))
until grep -q '"type":"module_load".*"module":"iptable_nat"' "$WORK/modules.out"; do
  ((SECONDS < deadline)) || { cat "$WORK/modules.out"; fail "no iptable_nat load within 20 s"; }
  sleep 0.2
done
stop_nfsleuth "$NFSLEUTH_BG_PID" || fail "watch exit status"
req=$(jqf "$WORK/modules.out" 'select(.type=="module_request" and .module=="iptable_nat")' | head -1)
[[ -n $req ]] || fail "watch reported the request for iptable_nat"
jq -e '.kstack | length > 3 and all(startswith("0x") | not)' <<<"$req" >/dev/null ||
  fail "request stack resolved to symbols: $(jq -c .kstack <<<"$req")"
pass "watch: the request's stack resolves to symbols after the capability drop"
assert_eq '"iptables-legacy -t nat -L"' "$(jq -c .cmdline <<<"$req")" "watch: requester command line"
