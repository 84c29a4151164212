#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# `watch --journal FILE` runs as root: it refuses a journal or lock file
# that is a symbolic link (whatever fs.protected_symlinks says) and a
# directory other users may write without the sticky bit, with exit 1 and
# before writing anything; the links' targets stay as they were.
source "$(dirname "$0")/../lib.sh"
require_root

echo precious >"$WORK/target"

ln -s "$WORK/target" "$WORK/linked.jsonl"
run_nfsleuth journal_link watch -q --duration 1 --journal "$WORK/linked.jsonl"
assert_eq 1 "$(cat "$WORK/journal_link.rc")" "journal as a symlink: exit code"
assert_contains "$WORK/journal_link.err" "the journal path $WORK/linked.jsonl is a symbolic link" "journal as a symlink: the reason"
assert_eq precious "$(cat "$WORK/target")" "journal as a symlink: its target untouched"
[[ ! -e $WORK/linked.jsonl.lock ]] || fail "a lock file was created for a refused journal"
pass "nothing created"

ln -s "$WORK/target" "$WORK/locked.jsonl.lock"
run_nfsleuth lock_link watch -q --duration 1 --journal "$WORK/locked.jsonl"
assert_eq 1 "$(cat "$WORK/lock_link.rc")" "lock as a symlink: exit code"
assert_contains "$WORK/lock_link.err" "lock file $WORK/locked.jsonl.lock is a symbolic link" "lock as a symlink: the reason"
assert_eq precious "$(cat "$WORK/target")" "lock as a symlink: its target untouched"
[[ ! -e $WORK/locked.jsonl ]] || fail "a journal was created beside a refused lock"
pass "no journal created"

for mode in 0777 0775; do
  mkdir -m "$mode" "$WORK/open$mode"
  run_nfsleuth open_dir watch -q --duration 1 --journal "$WORK/open$mode/events.jsonl"
  assert_eq 1 "$(cat "$WORK/open_dir.rc")" "directory mode $mode: exit code"
  assert_contains "$WORK/open_dir.err" "is writable by other users (mode $mode)" "directory mode $mode: the reason"
  assert_eq "" "$(ls -A "$WORK/open$mode")" "directory mode $mode: nothing created in it"
done

mkdir -m 1777 "$WORK/sticky"
run_nfsleuth sticky watch -q --duration 1 --journal "$WORK/sticky/events.jsonl"
assert_eq 0 "$(cat "$WORK/sticky.rc")" "a sticky world-writable directory (like /tmp): exit code"
[[ -s $WORK/sticky/events.jsonl ]] || fail "no journal written in the sticky directory"
pass "journal written in the sticky directory"
