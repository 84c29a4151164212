#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# Runs inside the VM lab (its root is an overlay: nothing reaches the
# host): the .deb installs with dpkg, `nfsleuth doctor` runs from it on
# Debian's kernel, the installed unit verifies, the service's exact command
# line (from /etc/default/nfsleuth) serves metrics and writes its journal,
# and removing then purging the package takes everything away again.
source "$(dirname "$0")/../lib.sh"
require_root
deb=${3:?the .deb as the third argument}
[[ -f $deb ]] || fail "no package at $deb"
! dpkg-query -W nfsleuth >/dev/null 2>&1 || fail "nfsleuth is already installed"

dpkg -i "$deb" >"$WORK/install.log" 2>&1 || { cat "$WORK/install.log"; fail "dpkg -i"; }
assert_eq "install ok installed" "$(dpkg-query -W -f='${Status}' nfsleuth)" "package status"
assert_eq "$("$NFSLEUTH" --version)" "$(/usr/sbin/nfsleuth --version)" "installed binary version"

modprobe nf_conntrack
/usr/sbin/nfsleuth doctor --json >"$WORK/doctor.json" 2>"$WORK/doctor.err" ||
  { cat "$WORK/doctor.err"; fail "doctor from the package"; }
assert_eq true "$(jq -c .loadable_modules "$WORK/doctor.json")" "doctor: loadable modules on Debian's kernel"
assert_eq '"kprobe"' "$(jq -c .drop_backend "$WORK/doctor.json")" "doctor: drop causes through kprobes (nf_conntrack is a module)"

systemd-analyze verify --man=no /usr/lib/systemd/system/nfsleuth.service >"$WORK/verify.out" 2>&1 ||
  { cat "$WORK/verify.out"; fail "systemd-analyze verify of the installed unit"; }
pass "systemd-analyze verify accepts the installed unit"

# The service's command line, as systemd would run it (LogsDirectory=
# creates the journal's directory).
mkdir -p /var/log/nfsleuth
# shellcheck source=/dev/null
source /etc/default/nfsleuth
read -ra args <<<"$NFSLEUTH_WATCH_ARGS"
NFSLEUTH=/usr/sbin/nfsleuth start_nfsleuth service watch "${args[@]}"
curl -fsS http://127.0.0.1:9836/metrics >"$WORK/metrics.txt" || fail "the service's metrics on 127.0.0.1:9836"
assert_contains "$WORK/metrics.txt" 'nfsleuth_build_info{version="0.1.0"' "the service's metrics"
kill -TERM "$NFSLEUTH_BG_PID"
rc=0
wait "$NFSLEUTH_BG_PID" || rc=$?
assert_eq 0 "$rc" "SIGTERM: the service exits 0"
assert_eq '"summary"' "$(tail -n1 /var/log/nfsleuth/events.jsonl | jq -c .type)" "the journal in /var/log/nfsleuth"

dpkg -r nfsleuth >"$WORK/remove.log" 2>&1 || { cat "$WORK/remove.log"; fail "dpkg -r"; }
[[ ! -e /usr/sbin/nfsleuth && ! -e /usr/lib/systemd/system/nfsleuth.service ]] || fail "remove left the binary or the unit"
[[ -f /etc/default/nfsleuth ]] || fail "remove took the conffile"
pass "dpkg -r removes the binary and the unit, keeps the configuration"
dpkg -P nfsleuth >"$WORK/purge.log" 2>&1 || { cat "$WORK/purge.log"; fail "dpkg -P"; }
[[ ! -e /etc/default/nfsleuth && ! -e /var/log/nfsleuth ]] || fail "purge left the configuration or the journal"
pass "dpkg -P removes the configuration and the journal"
