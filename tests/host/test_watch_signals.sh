#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# Signals in every phase: SIGHUP never kills watch (with or without a
# journal, also while it is still loading, as systemd's ExecReload may send
# it), and SIGTERM while watch, drops or modules are still loading ends
# them with exit 0 once set up, with every BPF object released.
source "$(dirname "$0")/../lib.sh"
require_root

before=$(bpf_object_ids)

# Starts nfsleuth, sends `signal` after `delay` seconds and says whether it
# had attached by then. Sets BG_PID.
signal_early() { # name delay signal args...
  local name=$1 delay=$2 signal=$3
  shift 3
  "$NFSLEUTH" "$@" >"$WORK/$name.out" 2>"$WORK/$name.err" &
  BG_PID=$!
  on_exit "kill -KILL $BG_PID"
  sleep "$delay"
  if grep -q "^nfsleuth: tracing" "$WORK/$name.err"; then
    echo "note [$TEST_NAME]: $name had attached before SIG$signal"
  else
    pass "$name: SIG$signal sent while still loading"
  fi
  kill -"$signal" "$BG_PID"
}

wait_attached() { # name pid
  local deadline=$((SECONDS + 90))
  until grep -q "^nfsleuth: tracing" "$WORK/$1.err"; do
    kill -0 "$2" 2>/dev/null || { wait "$2" && rc=0 || rc=$?; cat "$WORK/$1.err"; fail "$1: exited (status $rc)"; }
    ((SECONDS < deadline)) || fail "$1: did not attach"
    sleep 0.2
  done
}

# SIGHUP without --journal, once running: ignored.
start_nfsleuth running watch -q --interval 0.2
kill -HUP "$NFSLEUTH_BG_PID"
sleep 0.5
kill -0 "$NFSLEUTH_BG_PID" 2>/dev/null || fail "SIGHUP without --journal ended watch"
rc=0
stop_nfsleuth "$NFSLEUTH_BG_PID" || rc=$?
assert_eq 0 "$rc" "SIGHUP without --journal is ignored; SIGINT then exits"

# SIGHUP 0.3 s after start, without and with a journal.
for journal in "" "$WORK/events.jsonl"; do
  name=early_hup${journal:+_journal}
  signal_early "$name" 0.3 HUP watch -q --interval 0.2 ${journal:+--journal "$journal"}
  wait_attached "$name" "$BG_PID"
  rc=0
  stop_nfsleuth "$BG_PID" || rc=$?
  assert_eq 0 "$rc" "$name: SIGHUP while loading does not kill; SIGINT then exits"
done

# SIGTERM while loading.
commands=(watch drops)
[[ -e /proc/modules ]] && commands+=(modules)
for cmd in "${commands[@]}"; do
  signal_early "term_$cmd" 0.3 TERM "$cmd" --json
  rc=0
  wait "$BG_PID" || rc=$?
  assert_eq 0 "$rc" "$cmd: SIGTERM while loading: exit code"
  summary='"type":"summary"'
  [[ $cmd == drops ]] && summary='"type":"drop_summary"'
  assert_contains "$WORK/term_$cmd.out" "$summary" "$cmd: the summary is printed"
done
assert_bpf_released "$before" "every BPF program and link released"
