#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# Runs inside the VM lab (a Debian distro kernel with modules): the module
# autoload scenarios end to end against the real binary, plus doctor.
source "$(dirname "$0")/../lib.sh"
require_root
[[ -e /proc/modules ]] || fail "the VM kernel has no module support"

loaded() { grep -q "^$1 " /proc/modules; }
for m in iptable_nat nf_conntrack sctp bridge nf_tables dummy af_key af_alg ip_tables; do
  loaded "$m" && fail "module $m is loaded before the test: the scenarios need a fresh kernel"
done

# --- doctor on a full-featured kernel --------------------------------------
run_nfsleuth doctor doctor --json
assert_eq 0 "$(cat "$WORK/doctor.rc")" "doctor exit code"
d() { jqf "$WORK/doctor.out" "$1"; }
assert_eq true "$(d .attach_types.fentry.works)" "doctor: fentry works"
assert_eq true "$(d .attach_types.fexit.works)" "doctor: fexit works"
assert_eq true "$(d .attach_types.kprobe.works)" "doctor: kprobe works"
assert_eq true "$(d .attach_types.kretprobe.works)" "doctor: kretprobe works"
assert_eq true "$(d .attach_types.tracepoint.works)" "doctor: tracepoint works"
assert_eq true "$(d .attach_types.tp_btf.works)" "doctor: tp_btf works"
assert_eq '{"fentry":true,"kprobe":true,"tracepoint":true}' "$(d .backends)" "doctor: backends"
assert_eq true "$(d .loadable_modules)" "doctor: loadable modules"
assert_eq true "$(d .module_tracepoints)" "doctor: module tracepoints"
assert_eq '"tp_btf:module_request"' "$(d '.hooks[] | select(.hook=="module_request") | .attach')" "doctor: module_request hook"
assert_eq '"tracepoint:syscalls/sys_exit_finit_module"' "$(d '.hooks[] | select(.hook=="finit_module_error") | .attach')" \
  "doctor: finit_module error hook"

# --- tracing -----------------------------------------------------------------
start_nfsleuth human modules
human_pid=$NFSLEUTH_BG_PID
start_nfsleuth json modules --json
json_pid=$NFSLEUTH_BG_PID
# --comm: only nft's events and what nft triggered.
start_nfsleuth comm modules --json --comm nft
comm_pid=$NFSLEUTH_BG_PID

# 1. The original report: iptables-legacy -t nat -L from a wrapper script.
cat >"$WORK/ipt-wrapper" <<'SH'
#!/bin/bash
echo $$ >"$1"
iptables-legacy -t nat -L >/dev/null
SH
# 3. An explicit modprobe by a user (bridge pulls in stp and llc).
cat >"$WORK/mp-wrapper" <<'SH'
#!/bin/bash
echo $$ >"$1"
modprobe bridge
SH
# 4. nftables: the NAT chain needs nft_chain_nat.
cat >"$WORK/nft-wrapper" <<'SH'
#!/bin/bash
echo $$ >"$1"
nft add table ip nfsl_nat
nft 'add chain ip nfsl_nat post { type nat hook postrouting priority 100 ; }'
SH
# 5. Processes requesting different modules at the same moment: each
# waits for a start file right before its socket() call.
racer='import os, socket, sys, time
open(sys.argv[1], "w").write(str(os.getpid()))
deadline = time.monotonic() + 180
while not os.path.exists(sys.argv[2]):
    if time.monotonic() > deadline:
        sys.exit("no start signal")
    time.sleep(0.001)
socket.socket(int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]))'
chmod +x "$WORK"/{ipt-wrapper,mp-wrapper,nft-wrapper}

"$WORK/ipt-wrapper" "$WORK/ipt.pid"
# 2. A socket() autoload: SCTP.
PIDFILE="$WORK/sctp.pid" python3 -c 'import os, socket
open(os.environ["PIDFILE"], "w").write(str(os.getpid()))
socket.socket(socket.AF_INET, socket.SOCK_STREAM, 132)'
"$WORK/mp-wrapper" "$WORK/mp.pid"
"$WORK/nft-wrapper" "$WORK/nft.pid"
python3 -c "$racer" "$WORK/race-a.pid" "$WORK/go" 15 3 2 & # AF_KEY: net-pf-15 -> af_key
race_a=$!
python3 -c "$racer" "$WORK/race-b.pid" "$WORK/go" 38 5 0 & # AF_ALG: net-pf-38 -> af_alg
race_b=$!
until [[ -s "$WORK/race-a.pid" && -s "$WORK/race-b.pid" ]]; do sleep 0.05; done
# --pid: a tracer of racer A only, started now that its pid is known (the
# racers wait up to 180 s), on the only backend module events have.
start_nfsleuth pid modules --json --pid "$(cat "$WORK/race-a.pid")" --backend tracepoint
pid_pid=$NFSLEUTH_BG_PID
touch "$WORK/go"
wait "$race_a" "$race_b"
# A netlink-driven autoload too: rtnl-link-dummy.
ip link add nfsl0 type dummy
sleep 2 # let the last kernel-spawned modprobes finish and their events drain

stop_nfsleuth "$json_pid" || fail "nfsleuth modules --json exited with $? on SIGINT"
pass "JSON tracer exits 0 on SIGINT"
stop_nfsleuth "$human_pid" || fail "nfsleuth modules exited with $? on SIGINT"
pass "human tracer exits 0 on SIGINT"
stop_nfsleuth "$comm_pid" || fail "nfsleuth modules --comm nft exited with $? on SIGINT"
stop_nfsleuth "$pid_pid" || fail "nfsleuth modules --pid exited with $? on SIGINT"
pass "--comm and --pid tracers exit 0 on SIGINT"
J="$WORK/json.out"
jq -e . "$J" >/dev/null || fail "JSON output has a line that does not parse"
pass "every JSON line parses"

# --- 1. iptables-legacy -------------------------------------------------------
wrapper=$(cat "$WORK/ipt.pid")
req=$(jqf "$J" 'select(.type=="module_request" and .module=="iptable_nat")')
[[ -n $req ]] || fail "no module_request for iptable_nat"
req_pid=$(jq -r .pid <<<"$req")
comm=$(jq -r .comm <<<"$req")
[[ $comm == iptables* || $comm == xtables* ]] || fail "iptable_nat requester comm is '$comm'"
pass "iptable_nat requested by $comm[$req_pid]"
assert_eq "iptables-legacy -t nat -L" "$(jq -r .cmdline <<<"$req")" "requester cmdline"
assert_eq "{\"pid\":$wrapper,\"comm\":\"ipt-wrapper\"}" "$(jq -c '.ancestors[0] | {pid, comm}' <<<"$req")" "requester's parent is the wrapper"
assert_eq tracepoint "$(jq -r .backend <<<"$req")" "backend"
[[ $(jq '.kstack | length' <<<"$req") -gt 3 ]] || fail "request has no kernel stack"
pass "request carries a kernel stack"
for m in iptable_nat nf_nat nf_conntrack; do
  assert_eq "{\"pid\":$req_pid,\"comm\":\"$comm\",\"cmdline\":\"iptables-legacy -t nat -L\",\"requested\":\"iptable_nat\"}" \
    "$(jqf "$J" "select(.type==\"module_load\" and .module==\"$m\") | .trigger | {pid, comm, cmdline, requested}")" "trigger of $m"
  assert_eq modprobe "$(jqf "$J" "select(.type==\"module_load\" and .module==\"$m\") | .comm" | tr -d '"')" "loader of $m"
done
for m in ip_tables x_tables; do
  load=$(jqf "$J" "select(.type==\"module_load\" and .module==\"$m\")")
  [[ -n $load ]] || fail "no module_load for $m"
  assert_eq null "$(jq -c .trigger <<<"$load")" "$m has no trigger (iptables ran modprobe itself)"
  assert_eq modprobe "$(jq -r .comm <<<"$load")" "$m loaded by modprobe"
  assert_eq "$req_pid" "$(jq -c '.ancestors[0].pid' <<<"$load")" "$m: modprobe's parent is iptables"
  assert_eq "$wrapper" "$(jq -c '.ancestors[1].pid' <<<"$load")" "$m: then the wrapper"
done
grep -Eq "^  $comm\[$req_pid\] \(ipt-wrapper\[$wrapper\] <- .*\) \"iptables-legacy -t nat -L\" -> iptable_nat -> .*nf_conntrack.*, iptable_nat$" \
  "$WORK/human.out" || { cat "$WORK/human.out"; fail "human tree line for iptables"; }
pass "human summary has the iptables tree"

# --- 2. SCTP socket ------------------------------------------------------------
sctp_pid=$(cat "$WORK/sctp.pid")
sreq=$(jqf "$J" "select(.type==\"module_request\" and .pid==$sctp_pid)" | head -n1)
[[ -n $sreq ]] || fail "no module_request from the SCTP socket process"
assert_eq '"net-pf-2-proto-132-type-1"' "$(jq -c .module <<<"$sreq")" "SCTP request name"
assert_eq '"socket"' "$(jq -c .syscall <<<"$sreq")" "SCTP request came through socket()"
jq -e '.kstack | map(select(startswith("__sys_socket") or startswith("__x64_sys_socket"))) | length > 0' <<<"$sreq" >/dev/null ||
  fail "SCTP request stack shows no socket path"
pass "SCTP request stack shows the socket path"
assert_eq "$sctp_pid" "$(jqf "$J" 'select(.type=="module_load" and .module=="sctp") | .trigger.pid')" "trigger of sctp"

# --- 3. explicit modprobe --------------------------------------------------------
mp=$(cat "$WORK/mp.pid")
for m in bridge stp llc; do
  load=$(jqf "$J" "select(.type==\"module_load\" and .module==\"$m\")")
  [[ -n $load ]] || fail "no module_load for $m"
  assert_eq null "$(jq -c .trigger <<<"$load")" "explicit modprobe: $m has no trigger"
  assert_eq "modprobe bridge" "$(jq -r .cmdline <<<"$load")" "explicit modprobe: $m loader cmdline"
  assert_eq "{\"pid\":$mp,\"comm\":\"mp-wrapper\"}" "$(jq -c '.ancestors[0] | {pid, comm}' <<<"$load")" "explicit modprobe: $m loader's parent"
done

# --- 4. nftables ------------------------------------------------------------------
nft_wrapper=$(cat "$WORK/nft.pid")
for m in nf_tables nft_chain_nat; do
  t=$(jqf "$J" "select(.type==\"module_load\" and .module==\"$m\") | .trigger")
  assert_eq '"nft"' "$(jq -c .comm <<<"$t")" "trigger comm of $m"
  trig_pid=$(jq -r .pid <<<"$t")
  assert_eq "$nft_wrapper" "$(jqf "$J" "select(.type==\"module_request\" and .pid==$trig_pid) | .ancestors[0].pid" | head -n1)" \
    "the nft that triggered $m was run by the wrapper"
done

# --- 5. concurrent requests ---------------------------------------------------------
pid_a=$(cat "$WORK/race-a.pid")
pid_b=$(cat "$WORK/race-b.pid")
assert_eq "$pid_a" "$(jqf "$J" 'select(.type=="module_load" and .module=="af_key") | .trigger.pid')" "trigger of af_key"
assert_eq "$pid_b" "$(jqf "$J" 'select(.type=="module_load" and .module=="af_alg") | .trigger.pid')" "trigger of af_alg"
assert_eq '"net-pf-15"' "$(jqf "$J" 'select(.type=="module_load" and .module=="af_key") | .trigger.requested')" "af_key requested name"
assert_eq '"net-pf-38"' "$(jqf "$J" 'select(.type=="module_load" and .module=="af_alg") | .trigger.requested')" "af_alg requested name"
gap_ms=$(jq -rs --argjson a "$pid_a" --argjson b "$pid_b" \
  '[.[] | select(.type=="module_request" and (.pid==$a or .pid==$b)) | .ts | sub("Z$"; "") | split(":")[2] | tonumber]
   | ((max - min) * 1000 | floor)' "$J")
pass "the two racing requests were ${gap_ms} ms apart"
dummy=$(jqf "$J" 'select(.type=="module_request" and .module=="rtnl-link-dummy")')
assert_eq '"ip"' "$(jq -c .comm <<<"$dummy")" "rtnl-link-dummy requester"
assert_eq '"sendmsg"' "$(jq -c .syscall <<<"$dummy")" "rtnl-link-dummy came through sendmsg()"
assert_eq "$(jq -c .pid <<<"$dummy")" "$(jqf "$J" 'select(.type=="module_load" and .module=="dummy") | .trigger.pid')" "trigger of dummy"

# --- accounting and detach ---------------------------------------------------------
summary=$(tail -n1 "$J")
assert_eq '"summary"' "$(jq -c .type <<<"$summary")" "last JSON line is the summary"
assert_eq 0 "$(jq -c .events_lost <<<"$summary")" "no events lost"
assert_eq "$(jq -c .events_seen <<<"$summary")" "$(jq -c .events_delivered <<<"$summary")" "every event seen was delivered"
assert_eq "$(($(wc -l <"$J") - 1))" "$(jq -c .events_delivered <<<"$summary")" "one line per delivered event"
assert_eq 0 "$(bpftool prog show | grep -cE 'name (btf|raw)_module_' || true)" "no module programs left after SIGINT"

# --- options: --comm, --pid, --backend, --duration, -v, --btf ---------------------
# The module events of a filtered tracer, as "type module" lines.
events_of() { jq -r 'select(.type != "summary") | "\(.type) \(.module)"' "$1" | sort; }
# A filtered tracer (both it and the unfiltered one ran from before the
# scenarios to after) reported exactly the unfiltered events that match,
# among them one it must have, and nothing of the others.
assert_filtered() { # option filter-output jq-condition must-have must-not-regex
  jq -r "select(.type != \"summary\" and ($3)) | \"\(.type) \(.module)\"" "$J" | sort >"$WORK/$1.expected"
  events_of "$2" >"$WORK/$1.got"
  grep -qx "$4" "$WORK/$1.got" || fail "modules --$1: no $4"
  assert_eq "$(cat "$WORK/$1.expected")" "$(cat "$WORK/$1.got")" "modules --$1: its events, and only those"
  grep -q "$5" "$WORK/$1.got" && fail "modules --$1: reported another process's events"
  pass "modules --$1: nothing matching $5"
}
assert_filtered comm "$WORK/comm.out" '.comm == "nft" or .trigger.comm == "nft"' "module_load nf_tables" \
  "iptable_nat\|af_key"
# --pid: racer A's request and the loads it triggered; not B's, not later ones.
assert_filtered pid "$WORK/pid.out" ".pid == $pid_a or .trigger.pid == $pid_a" "module_load af_key" \
  "af_alg\|dummy"
# --backend tracepoint is the backend in use; fentry and kprobe, which the
# kernel has, are refused for module events.
assert_contains "$WORK/pid.err" "nfsleuth: tracing module events (backend tracepoint" "modules --backend tracepoint: the banner"
assert_eq '["tracepoint"]' "$(jq -s -c '[.[] | select(.type != "summary") | .backend] | unique' "$WORK/pid.out")" \
  "modules --backend tracepoint: every event's backend"
for b in fentry kprobe; do
  run_nfsleuth forced modules --backend "$b" --duration 1
  assert_eq 2 "$(cat "$WORK/forced.rc")" "modules --backend $b: exit code"
  assert_contains "$WORK/forced.err" "module events are only traced through tracepoints; --backend $b" \
    "modules --backend $b: says why"
done
# --duration: ends by itself about then, exit 0, with its summary.
start_nfsleuth dur modules --json --duration 3
attached=$EPOCHREALTIME
rc=0
wait "$NFSLEUTH_BG_PID" || rc=$?
secs=$(awk -v a="$attached" -v b="$EPOCHREALTIME" 'BEGIN {printf "%.1f", b - a}')
assert_eq 0 "$rc" "modules --duration 3: exit code"
awk -v s="$secs" 'BEGIN {exit !(s >= 2 && s <= 6)}' || fail "modules --duration 3 ran $secs s after attaching"
pass "modules --duration 3 ran $secs s after attaching"
assert_eq '"summary"' "$(tail -n1 "$WORK/dur.out" | jq -c .type)" "modules --duration: the summary at the end"
# -v: libbpf's debug lines on stderr, only with it.
run_nfsleuth verbose modules -v --duration 1
assert_eq 0 "$(cat "$WORK/verbose.rc")" "modules -v: exit code"
grep -q '^libbpf: ' "$WORK/verbose.err" || fail "modules -v printed no libbpf debug lines"
grep -q '^libbpf: ' "$WORK/json.err" && fail "modules without -v printed libbpf debug lines"
pass "modules -v: debug lines on stderr, only with it"
# --btf: the kernel's own file works; one without the kernel's types (a
# lone struct nf_conn) is the one used, and nothing can be traced with it.
run_nfsleuth btf modules --btf /sys/kernel/btf/vmlinux --duration 1
assert_eq 0 "$(cat "$WORK/btf.rc")" "modules --btf /sys/kernel/btf/vmlinux: exit code"
printf '\x9f\xeb\x01\x00\x18\x00\x00\x00\x00\x00\x00\x00\x0c\x00\x00\x00\x0c\x00\x00\x00\x09\x00\x00\x00' >"$WORK/tiny.btf"
printf '\x01\x00\x00\x00\x00\x00\x00\x04\xd2\x04\x00\x00\x00nf_conn\x00' >>"$WORK/tiny.btf"
run_nfsleuth tiny modules --btf "$WORK/tiny.btf" --duration 1
assert_eq 3 "$(cat "$WORK/tiny.rc")" "modules --btf (a BTF without the kernel's types): exit code"
