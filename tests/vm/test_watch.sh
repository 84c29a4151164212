#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# Runs inside the VM lab: the host's `watch` scenario on Debian's distro
# kernel, where conntrack's allocation function can be hooked: creations are
# counted at allocation (fentry, then kprobe) instead of from netlink, and
# module events are traced alongside.
source "$(dirname "$0")/../lib.sh"
require_root
host_tests=$(cd "$(dirname "$0")/../host" && pwd)

modprobe nf_conntrack
for backend in fentry kprobe; do
  echo "=== test_watch with --backend $backend"
  DROPS_BACKEND=$backend bash "$host_tests/test_watch.sh" "$NFSLEUTH" "$TRAFFIC" >"$WORK/watch-$backend.log" 2>&1 ||
    { cat "$WORK/watch-$backend.log"; fail "test_watch with --backend $backend"; }
  cat "$WORK/watch-$backend.log"
  grep -q "creations: allocation ($backend)" "$WORK/watch-$backend.log" || fail "creations counted at allocation with $backend"
  pass "watch with $backend: creations from the allocation path"
  grep -q "module events: module_request=" "$WORK/watch-$backend.log" || fail "module events traced by watch"
  pass "watch with $backend: module events traced too"
done
