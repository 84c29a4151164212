#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# `why nf_conntrack` on a kernel with conntrack built in: it says so, finds
# the rules that need conntrack in the namespaces this test creates (an
# iptables-nft MASQUERADE added by a wrapper script, an iptables-legacy
# conntrack match), and the removal commands it prints really remove them.
# A journal gives the load history; bad input is a usage error.
source "$(dirname "$0")/../lib.sh"
require_root
require_conntrack
[[ ! -e /proc/modules ]] || { echo "skip [$TEST_NAME]: this kernel has modules (the VM lab covers it)"; exit "$SKIP"; }

nat_ns="nfsl-why-nat-$$"
legacy_ns="nfsl-why-legacy-$$"
make_netns "$nat_ns"
make_netns "$legacy_ns"
cat >"$WORK/add-nat.sh" <<SH
#!/bin/sh
ip netns exec $nat_ns iptables -t nat -A POSTROUTING -o eth0 -j MASQUERADE
SH
sh "$WORK/add-nat.sh"
ip netns exec "$legacy_ns" iptables-legacy -A INPUT -m conntrack --ctstate ESTABLISHED -j ACCEPT
ip netns exec "$legacy_ns" iptables-legacy -A INPUT -p tcp --dport 22 -j ACCEPT

run_nfsleuth why why nf_conntrack --json
assert_eq 0 "$(cat "$WORK/why.rc")" "why --json exit code"
assert_eq 1 "$(wc -l <"$WORK/why.out")" "one JSON object"
w=$(cat "$WORK/why.out")
assert_eq '"built in"' "$(jq -c .state <<<"$w")" "nf_conntrack is built in"
ns_rules() { jq -c --arg n "$1" '[.namespaces[] | select(.netns_name == $n) | .rules[]]' <<<"$2"; }
nat=$(ns_rules "$nat_ns" "$w")
assert_eq 1 "$(jq length <<<"$nat")" "one rule needs conntrack in the NAT namespace"
assert_eq '{"source":"nftables","table":"ip nat","chain":"POSTROUTING","needs":"masquerade"}' \
  "$(jq -c '.[0] | {source, table, chain, needs}' <<<"$nat")" "the MASQUERADE rule (iptables-nft)"
assert_eq '"oifname \"eth0\" counter packets 0 bytes 0 masquerade"' "$(jq -c '.[0].rule' <<<"$nat")" "its text"
legacy=$(ns_rules "$legacy_ns" "$w")
assert_eq '[{"source":"iptables-legacy","table":"filter","chain":"INPUT","rule":"-A INPUT -m conntrack --ctstate ESTABLISHED -j ACCEPT","needs":"-m conntrack","remove":"iptables-legacy -t filter -D INPUT -m conntrack --ctstate ESTABLISHED -j ACCEPT"}]' \
  "$legacy" "the legacy conntrack match, and only it"
jq -e '.sizing.bytes_per_entry > 0 and .sizing.nf_conntrack_max > 0' <<<"$w" >/dev/null || fail "sizing from BTF and sysctls"
pass "sizing: $(jq -c .sizing <<<"$w")"
jq -e '[.remediation[].commands[] | select(test("modprobe"))] | length == 0' <<<"$w" >/dev/null ||
  fail "no unload or modprobe.d advice for a built-in module"
pass "no unload sequence for a built-in module"

# The printed removal commands, run as printed, leave nothing that needs conntrack.
jq -r --arg a "$nat_ns" --arg b "$legacy_ns" '.remediation[0].commands[] | select(contains($a) or contains($b))' <<<"$w" \
  >"$WORK/remove.sh"
assert_eq 2 "$(wc -l <"$WORK/remove.sh")" "two removal commands for the test's namespaces"
sh -e "$WORK/remove.sh" || fail "the removal commands failed"
run_nfsleuth after why nf_conntrack --json
assert_eq '[]' "$(ns_rules "$nat_ns" "$(cat "$WORK/after.out")")" "no rule left in the NAT namespace"
assert_eq '[]' "$(ns_rules "$legacy_ns" "$(cat "$WORK/after.out")")" "no rule left in the legacy namespace"
assert_eq "ACCEPT" "$(ip netns exec "$legacy_ns" iptables-legacy -S INPUT | awk '/--dport 22/ {print $NF}')" \
  "the rule that needs no conntrack is still there"

# Text report; history from a journal.
cat >"$WORK/journal.jsonl" <<'J'
{"type":"module_load","ts":"2026-11-23T10:00:00Z","module":"nf_conntrack","pid":854,"comm":"modprobe","cmdline":"/sbin/modprobe -q -- iptable_nat","trigger":{"pid":851,"comm":"iptables-legacy","cmdline":"iptables-legacy -t nat -L"}}
{"type":"module_load","ts":"2026-11-23T10:00:01Z","module":"sctp","pid":900,"comm":"modprobe"}
torn line {"type"
J
run_nfsleuth human why nf_conntrack --journal "$WORK/journal.jsonl"
assert_eq 0 "$(cat "$WORK/human.rc")" "why exit code"
assert_contains "$WORK/human.out" "nf_conntrack is built in: it cannot be unloaded or kept from loading" "summary line"
assert_contains "$WORK/human.out" 'module_load nf_conntrack by modprobe[854] "/sbin/modprobe -q -- iptable_nat" for iptables-legacy[851] "iptables-legacy -t nat -L"' \
  "the load from the journal, with its trigger"
grep -q sctp "$WORK/human.out" && fail "an unrelated module's load is shown"
pass "only the module's own history"

# Rotated journals are read too, oldest first.
cp "$WORK/journal.jsonl" "$WORK/rotating.jsonl.2"
echo '{"type":"module_request","ts":"2026-11-23T11:00:00Z","module":"nf_conntrack","pid":900,"comm":"modprobe","cmdline":"modprobe nf_conntrack"}' >"$WORK/rotating.jsonl.1"
echo '{"type":"module_load","ts":"2026-11-23T12:00:00Z","module":"nf_conntrack","pid":901,"comm":"insmod","cmdline":"insmod nf_conntrack.ko"}' >"$WORK/rotating.jsonl"
run_nfsleuth rotated why nf_conntrack --journal "$WORK/rotating.jsonl" --json
assert_eq '["2026-11-23T10:00:00Z","2026-11-23T11:00:00Z","2026-11-23T12:00:00Z"]' \
  "$(jq -c '[.history.events[].ts]' "$WORK/rotated.out")" "the current journal and its rotated files, oldest first"

run_nfsleuth nomod why
assert_eq 2 "$(cat "$WORK/nomod.rc")" "why without a module: usage error"
run_nfsleuth badname why 'nf/conntrack'
assert_eq 2 "$(cat "$WORK/badname.rc")" "a bad module name: usage error"
run_nfsleuth nojournal why nf_conntrack --journal "$WORK/missing.jsonl"
assert_eq 2 "$(cat "$WORK/nojournal.rc")" "a missing journal: usage error"
assert_eq 0 "$(stat -c %s "$WORK/nojournal.out")" "nothing on stdout on error"
