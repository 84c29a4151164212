# SPDX-License-Identifier: GPL-2.0-only
# Shared helpers for the host integration tests. Each test script gets the
# nfsleuth binary as $1, creates what it needs (namespaces, rules) under a
# unique name, and removes it in an EXIT trap even when an assertion fails.
set -euo pipefail

NFSLEUTH=${1:?usage: $0 PATH-TO-NFSLEUTH [PATH-TO-NFSL-TRAFFIC]}
NFSLEUTH=$(readlink -f "$NFSLEUTH")
TRAFFIC=${2:+$(readlink -f "$2")}
TEST_NAME=$(basename "$0" .sh)
WORK=$(mktemp -d "/tmp/nfsleuth-${TEST_NAME}.XXXXXX")
SKIP=77
_cleanups=()

# Runs registered cleanups in reverse order; never fails the trap itself.
_run_cleanups() {
  local rc=$? _cleanup_at
  # A cleanup may use any variable name: the loop's own is local.
  for ((_cleanup_at = ${#_cleanups[@]} - 1; _cleanup_at >= 0; _cleanup_at--)); do
    eval "${_cleanups[_cleanup_at]}" >/dev/null 2>&1 || true
  done
  rm -rf "$WORK"
  exit "$rc"
}
trap _run_cleanups EXIT
on_exit() { _cleanups+=("$1"); }
# In the VM lab, keep every output for the host to inspect (also on failure).
[[ -n ${VMLAB_OUT:-} ]] && on_exit "cp -r \"$WORK\" \"$VMLAB_OUT/$TEST_NAME\""

fail() { echo "FAIL [$TEST_NAME]: $*" >&2; exit 1; }
pass() { echo "ok   [$TEST_NAME]: $*"; }

assert_eq() { # expected actual what
  [[ "$1" == "$2" ]] || fail "$3: expected '$1', got '$2'"
  pass "$3 = '$2'"
}

assert_contains() { # haystack-file needle what
  grep -qF -- "$2" "$1" || { echo "--- $1:"; cat "$1"; fail "$3: '$2' not found"; }
  pass "$3"
}

# Runs nfsleuth, capturing stdout/stderr/exit code into $WORK/NAME.{out,err,rc}.
run_nfsleuth() { # name args...
  local name=$1; shift
  set +e
  "$NFSLEUTH" "$@" >"$WORK/$name.out" 2>"$WORK/$name.err"
  echo $? >"$WORK/$name.rc"
  set -e
}

# Bad usage: exit 2, nothing on stdout, one message on stderr (and its
# hint) naming what was wrong.
assert_refused() { # expected-message args...
  local expect=$1; shift
  run_nfsleuth bad "$@"
  assert_eq 2 "$(cat "$WORK/bad.rc")" "refused with exit 2: nfsleuth $*"
  assert_eq 0 "$(wc -c <"$WORK/bad.out")" "nothing on stdout: nfsleuth $*"
  assert_contains "$WORK/bad.err" "$expect" "the message names it: nfsleuth $*"
  (($(wc -l <"$WORK/bad.err") <= 2)) || { cat "$WORK/bad.err"; fail "more than one message for: nfsleuth $*"; }
}

# A network namespace that is deleted when the test exits.
make_netns() { # name
  ip netns add "$1"
  on_exit "ip netns del $1"
  ip -n "$1" link set lo up
}

# Runs a command inside a namespace in the background (stdout to a file,
# stderr beside it in FILE.err),
# killed when the test exits. `ip netns exec` execs the command, so the pid
# killed is the command's own.
start_in_netns() { # netns output-file command...
  local ns=$1 out=$2
  shift 2
  ip netns exec "$ns" "$@" >"$out" 2>"$out.err" &
  on_exit "kill $!"
}

require_root() { [[ $(id -u) == 0 ]] || { echo "skip [$TEST_NAME]: needs root"; exit "$SKIP"; }; }

# Starts a long-running nfsleuth in the background and waits until it has
# attached (its "tracing" line on stderr). Sets NFSLEUTH_BG_PID.
# The port `watch --metrics 127.0.0.1:0` announced in its banner
# ($WORK/NAME.err); fails the test when there is none.
metrics_port() { # name
  local port
  port=$(sed -n 's|^nfsleuth: tracing.*metrics: http://127.0.0.1:\([0-9]*\)/metrics.*|\1|p' "$WORK/$1.err")
  [[ -n $port ]] || fail "the banner of $1 names no metrics address: $(cat "$WORK/$1.err")"
  echo "$port"
}

start_nfsleuth() { # name args...
  local name=$1; shift
  "$NFSLEUTH" "$@" >"$WORK/$name.out" 2>"$WORK/$name.err" &
  NFSLEUTH_BG_PID=$!
  on_exit "kill -KILL $NFSLEUTH_BG_PID"
  local deadline=$((SECONDS + ${ATTACH_TIMEOUT:-90}))
  until grep -q "^nfsleuth: tracing" "$WORK/$name.err"; do
    kill -0 "$NFSLEUTH_BG_PID" 2>/dev/null || { cat "$WORK/$name.err"; fail "nfsleuth $* exited before attaching"; }
    ((SECONDS < deadline)) || { cat "$WORK/$name.err"; fail "nfsleuth $* did not attach within ${ATTACH_TIMEOUT:-90}s"; }
    sleep 0.2
  done
}

# Stops a background nfsleuth with SIGINT and returns its exit code.
stop_nfsleuth() { # pid
  kill -INT "$1"
  local rc=0
  wait "$1" || rc=$?
  return "$rc"
}

# jq over a JSON-lines file, compact output.
jqf() { # file filter
  jq -c "$2" "$1"
}

# Waits until FILE has a JSON line matching the jq condition (a line still
# being written is skipped), for SECONDS at most (default 20).
wait_for_json() { # file condition what [seconds]
  local limit=${4:-20}
  local deadline=$((SECONDS + limit))
  until [[ -n $(jq -cR "fromjson? | select($2)" "$1" 2>/dev/null) ]]; do
    ((SECONDS < deadline)) || fail "$3: not seen within $limit s"
    sleep 0.1
  done
}

# Sum over CPUs of one column (by header name) of a namespace's
# /proc/net/stat/nf_conntrack.
ct_stat_sum() { # netns column
  ip netns exec "$1" cat /proc/net/stat/nf_conntrack | awk -v col="$2" '
    function hex(s,   i, n, d) { n = 0; s = tolower(s)
      for (i = 1; i <= length(s); i++) { d = index("0123456789abcdef", substr(s, i, 1)) - 1; n = n * 16 + d }
      return n }
    NR == 1 { for (i = 1; i <= NF; i++) if ($i == col) c = i; next }
    { sum += hex($c) }
    END { print sum + 0 }'
}

# Lowers the global conntrack limit; the original is restored on exit.
# Tests that change it run one at a time (the lock is held until the test
# exits): a test started while another had lowered it would otherwise save
# the lowered value and "restore" it.
set_conntrack_max() { # value
  local old lock
  if [[ -z ${CONNTRACK_MAX_LOCKED:-} ]]; then
    exec {lock}>"${TMPDIR:-/tmp}/nfsleuth-tests-conntrack-max.lock"
    flock "$lock"
    CONNTRACK_MAX_LOCKED=1
  fi
  old=$(sysctl -n net.netfilter.nf_conntrack_max)
  on_exit "sysctl -qw net.netfilter.nf_conntrack_max=$old"
  sysctl -qw net.netfilter.nf_conntrack_max="$1"
}

require_conntrack() {
  [[ -e /proc/sys/net/netfilter/nf_conntrack_max ]] || { echo "skip [$TEST_NAME]: no conntrack"; exit "$SKIP"; }
}

# Turns conntrack on in a namespace: a NAT rule that never matches (there is
# no eth0) needs it. ipv6 too with a second argument.
conntrack_on() { # ns [ipv6]
  ip netns exec "$1" iptables -t nat -A POSTROUTING -o eth0 -j MASQUERADE
  [[ -z ${2:-} ]] || ip netns exec "$1" ip6tables -t nat -A POSTROUTING -o eth0 -j MASQUERADE
}

# One established TCP connection in NS, held open for a minute: once the
# table is lowered to one entry, it is the only one, and early_drop() never
# evicts an assured entry, so every new flow after it is refused.
hold_one_entry() { # ns
  start_in_netns "$1" "$WORK/listen.out" "$TRAFFIC" tcp-listen --addr 127.0.0.1 --port 5000 --duration-ms 60000
  until [[ -s $WORK/listen.out ]]; do sleep 0.05; done
  start_in_netns "$1" "$WORK/seed.out" "$TRAFFIC" tcp-connect --dst 127.0.0.1 --port 5000 --count 1 --hold-ms 60000
  until [[ -s $WORK/seed.out ]]; do sleep 0.05; done
  assert_eq true "$(jqf "$WORK/seed.out" 'select(.proto=="tcp") | .ok')" "the seed connection is up"
}

# `drops` twice, JSON (output "drops", pid in JSON_TRACER) and text (output
# "text", pid in TEXT_TRACER), on the backend the VM lab asks for.
start_drop_tracers() {
  start_nfsleuth drops drops --json --interval 0.5 --backend "${DROPS_BACKEND:-auto}"
  JSON_TRACER=$NFSLEUTH_BG_PID
  start_nfsleuth text drops --interval 0.5 --backend "${DROPS_BACKEND:-auto}"
  TEXT_TRACER=$NFSLEUTH_BG_PID
}

# Stops them after one more interval (so the last counts are read live too);
# the JSON output must parse.
stop_drop_tracers() {
  sleep 1
  stop_nfsleuth "$JSON_TRACER" || fail "nfsleuth drops --json exited with $? on SIGINT"
  stop_nfsleuth "$TEXT_TRACER" || fail "nfsleuth drops exited with $? on SIGINT"
  jq -e . "$WORK/drops.out" >/dev/null || fail "a JSON line does not parse"
}

# A `drops --json` summary line that accounts for every drop it saw.
assert_nothing_missed() { # summary
  assert_eq '"drop_summary"' "$(jq -c .type <<<"$1")" "last line is the summary"
  assert_eq 0 "$(jq -c .missed <<<"$1")" "nothing missed"
  assert_eq "$(jq -c .seen <<<"$1")" "$(jq -c .reported <<<"$1")" "seen equals reported"
}

require_traffic() { [[ -x ${TRAFFIC:-} ]] || fail "nfsl-traffic binary not given as the second argument"; }

# IDs of the loaded BPF programs and links, one "prog ID"/"link ID" per line.
bpf_object_ids() {
  { bpftool prog show | sed -n 's/^\([0-9]*\):.*/prog \1/p'
    bpftool link show | sed -n 's/^\([0-9]*\):.*/link \1/p'; } | sort
}

# Asserts that every BPF program and link that appeared since `before` (an
# earlier bpf_object_ids) is gone. The kernel frees a dead process's
# programs asynchronously (after an RCU grace period), so this waits up to
# 10 s for them.
assert_bpf_released() { # before what
  local left deadline=$((SECONDS + 10))
  while left=$(comm -13 <(echo "$1") <(bpf_object_ids)) && [[ -n $left ]]; do
    ((SECONDS < deadline)) || fail "$2: still loaded after 10 s: $(tr '\n' ' ' <<<"$left")"
    sleep 0.2
  done
  pass "$2"
}

# For tests of `watch` started as `start_nfsleuth watch watch --json
# --metrics 127.0.0.1:0 ...` with its port in $port (metrics_port watch).
scrape() { curl -fsS --max-time 5 "http://127.0.0.1:$port/metrics" || fail "the metrics scrape failed"; }
# The value of one series in a scrape; empty when it is absent.
value() { # scrape series
  awk -v s="$2" 'index($0, s " ") == 1 {print $2}' <<<"$1"
}
# Scrapes until a series has a value (each --interval updates them).
wait_for_value() { # series value
  local deadline=$((SECONDS + 20)) m
  until m=$(scrape) && [[ $(value "$m" "$1") == "$2" ]]; do
    ((SECONDS < deadline)) || fail "$1 is '$(value "$m" "$1")', not $2, after 20 s"
    sleep 0.2
  done
  pass "$1 $2"
}
# watch's JSON lines matching a jq condition (a line being written is skipped).
events() { # condition
  jq -cR "fromjson? | select($1)" "$WORK/watch.out"
}
wait_for_event() { wait_for_json "$WORK/watch.out" "$@"; } # condition what
# Waits until a tcp-connect has an outcome for all its connections (it
# prints them before --hold-ms) and asserts that every one is up.
wait_connected() { # output-file count what
  local deadline=$((SECONDS + 30))
  until (($(jq -cR 'fromjson? | select(.proto == "tcp")' "$1" | wc -l) >= $2)); do
    ((SECONDS < deadline)) || { cat "$1.err"; fail "$3: not all $2 connections done within 30 s"; }
    sleep 0.1
  done
  assert_eq "$2" "$(jqf "$1" 'select(.proto == "tcp" and .ok)' | wc -l)" "$3: connections up"
}

# The cgroup v2 hierarchy (/sys/fs/cgroup on unified hosts,
# /sys/fs/cgroup/unified on hybrid ones); the test skips without one.
require_cgroup2() {
  local root
  root=$(awk '$3 == "cgroup2" {print $2; exit}' /proc/mounts)
  [[ -n $root ]] || { echo "skip [$TEST_NAME]: no cgroup v2 hierarchy mounted" >&2; exit "$SKIP"; }
  echo "$root"
}

# Makes a cgroup of the test's (parents too), removed with everything made
# under it once its processes are gone: the kills of start_in_cgroup,
# registered later, run first. Skips when the hierarchy refuses it.
make_cgroup() { # dir
  mkdir -p "$1" || { echo "skip [$TEST_NAME]: cannot create a cgroup at $1"; exit "$SKIP"; }
  on_exit "for try in \$(seq 50); do find '$1' -depth -type d -exec rmdir {} + 2>/dev/null; [[ -d '$1' ]] || break; sleep 0.1; done"
}

# A real Prometheus on a free loopback port ($pport, pid $prom), scraping
# every second what the scrape_configs entries given (YAML) say;
# `query EXPR` asks it.
start_prometheus() { # scrape-configs
  pport=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  printf 'global:\n  scrape_interval: 1s\nscrape_configs:\n%s\n' "$1" >"$WORK/prometheus.yml"
  prometheus --config.file="$WORK/prometheus.yml" --storage.tsdb.path="$WORK/tsdb" \
    --web.listen-address="127.0.0.1:$pport" >"$WORK/prometheus.log" 2>&1 &
  prom=$!
  on_exit "kill $prom; wait $prom"
}
query() { curl -sS "http://127.0.0.1:$pport/api/v1/query" --data-urlencode "query=$1"; }

# Runs a command in the background inside a cgroup, moved there before it
# execs (sh, then `ip netns exec`, then the command: one pid, in $!).
start_in_cgroup() { # cgroup output-file command...
  local cg=$1 out=$2
  shift 2
  sh -c 'echo $$ >"$0/cgroup.procs" && exec "$@"' "$cg" "$@" >"$out" 2>"$out.err" &
  on_exit "kill $!"
}
