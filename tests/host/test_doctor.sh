#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# `doctor` tells the truth about this kernel: every answer is checked against
# an independent source (uname, /proc, /sys, a namespace we fill ourselves).
source "$(dirname "$0")/../lib.sh"
require_root

tracefs_mounted() { [[ -e /sys/kernel/tracing/events || -e /sys/kernel/debug/tracing/events ]]; }
bool() { if "$@"; then echo true; else echo false; fi; }

# A namespace whose conntrack table holds exactly 3 entries: the MASQUERADE
# rule turns conntrack on there; each loopback connection is one entry.
ns="nfsl-doctor-$$"
make_netns "$ns"
ip netns exec "$ns" iptables -t nat -A POSTROUTING -o eth0 -j MASQUERADE
ip netns exec "$ns" python3 - <<'PY'
import socket
srv = socket.socket(); srv.bind(("127.0.0.1", 0)); srv.listen(8)
conns = [socket.create_connection(srv.getsockname(), timeout=5) for _ in range(3)]
PY
ns_inode=$(stat -L -c %i "/run/netns/$ns")
global_max=$(cat /proc/sys/net/netfilter/nf_conntrack_max)

bpf_before=$(bpf_object_ids)
run_nfsleuth json doctor --json
assert_eq 0 "$(cat "$WORK/json.rc")" "doctor --json exit code"
assert_eq 1 "$(wc -l <"$WORK/json.out")" "doctor --json prints exactly one line"
jq -e . "$WORK/json.out" >/dev/null || fail "doctor --json output is not JSON"
q() { jq -c "$1" "$WORK/json.out"; }

assert_eq "\"$(uname -r)\"" "$(q .kernel_release)" "kernel_release"
assert_eq "$(bool test -e /sys/kernel/btf/vmlinux)" "$(q .btf.available)" "btf.available"
assert_eq "$(bool test -e /proc/modules)" "$(q .loadable_modules)" "loadable_modules"
assert_eq "$(bool tracefs_mounted)" "$(q .tracefs.mounted)" "tracefs.mounted"
assert_eq true "$(q .privileges.sufficient)" "privileges.sufficient as root"
assert_eq true "$(q .ringbuf)" "ringbuf"
assert_eq true "$(q .attach_types.tp_btf.works)" "tp_btf works"
assert_eq true "$(q .attach_types.raw_tp.works)" "raw_tp works"
assert_eq "$(bool tracefs_mounted)" "$(q .attach_types.tracepoint.works)" "classic tracepoint works iff tracefs is mounted"
if [[ ! -e /sys/bus/event_source/devices/kprobe/type ]]; then
  assert_eq false "$(q .attach_types.kprobe.works)" "kprobe without a kprobe PMU"
  assert_eq false "$(q .backends.kprobe)" "kprobe backend without a kprobe PMU"
fi

if [[ ! -e /proc/modules ]]; then
  # The development/CI host kind: no modules, no kprobes, no fentry.
  assert_eq false "$(q .attach_types.fentry.works)" "fentry on this host"
  assert_eq false "$(q .backends.fentry)" "fentry backend on this host"
  assert_eq false "$(q .module_tracepoints)" "module tracepoints without module support"
  assert_eq null "$(q '.hooks[] | select(.hook=="module_request") | .backend')" "module_request hook has no backend"
  if [[ -e /proc/sys/net/netfilter/nf_conntrack_max ]]; then
    assert_eq '"builtin"' "$(q .nf_conntrack.state)" "nf_conntrack state"
  fi
fi

assert_eq "{\"name\":\"$ns\",\"count\":3,\"max\":$global_max}" \
  "$(q ".nf_conntrack.namespaces[] | select(.netns==$ns_inode) | {name,count,max}")" "conntrack fill of our namespace"

run_nfsleuth human doctor
assert_eq 0 "$(cat "$WORK/human.rc")" "doctor exit code"
assert_contains "$WORK/human.out" "kernel release" "human report has the kernel release"
grep -Eq "^  $ns_inode +3 +$global_max +$ns\$" "$WORK/human.out" || { cat "$WORK/human.out"; fail "human report row for $ns"; }
pass "human report row for our namespace"
if [[ ! -e /proc/modules ]]; then
  assert_contains "$WORK/human.out" "fentry/fexit are unavailable on this kernel" "human report: fentry unavailable"
  assert_contains "$WORK/human.out" "kprobes are unavailable on this kernel" "human report: kprobes unavailable"
  assert_contains "$WORK/human.out" "no loadable-module support" "human report: no module support"
fi

# Probing leaves nothing loaded behind.
assert_bpf_released "$bpf_before" "no probe program left loaded"

# Classic tracepoints follow tracefs: mount it (restored on exit) and re-probe.
if ! tracefs_mounted; then
  mount -t tracefs nodev /sys/kernel/tracing
  on_exit "umount /sys/kernel/tracing"
  run_nfsleuth mounted doctor --json
  assert_eq true "$(jq -c .attach_types.tracepoint.works "$WORK/mounted.out")" "classic tracepoint once tracefs is mounted"
  assert_eq true "$(jq -c .tracefs.mounted "$WORK/mounted.out")" "tracefs.mounted once mounted"
fi

# Without privileges: exit 4, and the report says what was not probed.
if command -v setpriv >/dev/null; then
  cp "$NFSLEUTH" "$WORK/nfsleuth" && chmod 755 "$WORK" "$WORK/nfsleuth"
  set +e
  setpriv --reuid=65534 --regid=65534 --clear-groups --inh-caps=-all --bounding-set=-all \
    "$WORK/nfsleuth" doctor --json >"$WORK/nobody.out" 2>"$WORK/nobody.err"
  rc=$?
  set -e
  assert_eq 4 "$rc" "doctor exit code without privileges"
  assert_eq false "$(jq -c .privileges.sufficient "$WORK/nobody.out")" "privileges.sufficient without privileges"
  assert_contains "$WORK/nobody.out" "attach types were not probed" "unprivileged report says what was not probed"
fi
