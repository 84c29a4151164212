#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# The metrics endpoint of the root daemon against hostile local clients:
# idle connections by the hundred and slow clients do not starve scrapes;
# endless bodies, request lines and header lists are refused without the
# daemon's memory growing; Range gets the whole body; SIGINT and --duration
# end the daemon promptly whatever clients are connected. All traffic is on
# 127.0.0.1, from metrics_hostile_client.py.
source "$(dirname "$0")/../lib.sh"
require_root
command -v python3 >/dev/null && command -v curl >/dev/null || fail "python3 and curl are not installed"
client=(python3 "$(dirname "$(readlink -f "$0")")/metrics_hostile_client.py")

# Starts a client mode in the background and waits (at most 30 s) for its
# "ready"; sets CLIENT_PID.
start_client() { # name mode args...
  local name=$1; shift
  "${client[@]}" "$@" >"$WORK/$name.out" 2>&1 &
  CLIENT_PID=$!
  on_exit "kill $CLIENT_PID"
  local deadline=$((SECONDS + 30))
  until grep -q '^ready' "$WORK/$name.out"; do
    ((SECONDS < deadline)) || { cat "$WORK/$name.out"; fail "the $name client did not get ready"; }
    kill -0 "$CLIENT_PID" 2>/dev/null || { cat "$WORK/$name.out"; fail "the $name client exited"; }
    sleep 0.1
  done
}

start_watch() { # name [watch options...]
  local name=$1; shift
  start_nfsleuth "$name" watch -q --interval 0.5 --metrics 127.0.0.1:0 "$@"
  port=$(metrics_port "$name")
}

# A whole scrape within 2 s.
scrape() { # what
  curl -fsS --max-time 2 -o "$WORK/scrape.txt" "http://127.0.0.1:$port/metrics" || fail "$1: the scrape failed"
  grep -q '^nfsleuth_' "$WORK/scrape.txt" || fail "$1: the scrape holds no metric"
}

rss_kb() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }

now_ms() { date +%s%3N; }

# Waits for a background nfsleuth to exit, killing it after `limit` seconds;
# sets ELAPSED_MS (since `since_ms`) and EXIT_RC.
wait_exit() { # pid limit-seconds since-ms
  local deadline=$(($(now_ms) + $2 * 1000)) state
  # Until it is a zombie (or gone): its parent, this shell, has not reaped it.
  while state=$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null) && [[ $state != Z ]]; do
    (($(now_ms) < deadline)) || { kill -KILL "$1"; break; }
    sleep 0.05
  done
  ELAPSED_MS=$(($(now_ms) - $3))
  EXIT_RC=0
  wait "$1" || EXIT_RC=$?
}

start_watch watch
daemon=$NFSLEUTH_BG_PID
scrape "a first scrape"

# --- 500 idle connections ------------------------------------------------------
start_client idle idle "$port" 500 15
idle_client=$CLIENT_PID
pass "the idle client holds $(awk '/^ready/ {print $2}' "$WORK/idle.out") connections"
for i in 1 2 3 4 5; do scrape "scrape $i with 500 idle connections open"; sleep 0.3; done
pass "5 scrapes succeeded within 2 s each while 500 idle connections were open"
kill "$idle_client" 2>/dev/null || true

# --- two slowloris clients -----------------------------------------------------
start_client slow1 slow "$port" 12
start_client slow2 slow "$port" 12
for i in $(seq 1 8); do scrape "scrape $i with 2 slow clients"; sleep 1; done
pass "8 scrapes over 8 s succeeded within 2 s each while 2 clients trickled a byte every 2 s"

# --- oversized requests --------------------------------------------------------
rss_before=$(rss_kb "$daemon")
peak_file="$WORK/rss.peak"
echo "$rss_before" >"$peak_file"
(while kill -0 "$daemon" 2>/dev/null; do
  r=$(rss_kb "$daemon" 2>/dev/null) || break
  ((r > $(cat "$peak_file"))) && echo "$r" >"$peak_file"
  sleep 0.05
done) &
sampler=$!
on_exit "kill $sampler"

refused() { # name what mode args...
  local name=$1 what=$2; shift 2
  timeout 30 "${client[@]}" "$@" >"$WORK/$name.out" 2>&1 || { cat "$WORK/$name.out"; fail "$what: the client failed"; }
  local status sent
  status=$(head -n1 "$WORK/$name.out")
  sent=$(sed -n 's/^sent=//p' "$WORK/$name.out")
  [[ $status =~ ^HTTP/1\.1\ 4[0-9][0-9]\  || $status == closed ]] || fail "$what: answered '$status'"
  pass "$what: refused ('$status') after the client had sent $sent bytes"
}
refused chunked "a 500 MB chunked POST" chunked "$port" 500
refused nocrlf "a 100 MB request line without CRLF" nocrlf "$port" 100
refused headers "100,000 headers" headers "$port" 100000
assert_eq "HTTP/1.1 405 Method Not Allowed" "$(head -n1 "$WORK/chunked.out")" "the POST is refused by its method"
assert_eq "HTTP/1.1 414 URI Too Long" "$(head -n1 "$WORK/nocrlf.out")" "the endless request line"
assert_eq "HTTP/1.1 431 Request Header Fields Too Large" "$(head -n1 "$WORK/headers.out")" "the 100,000 headers"
kill "$sampler" 2>/dev/null || true
wait "$sampler" 2>/dev/null || true
growth=$(($(cat "$peak_file") - rss_before))
((growth < 20480)) || fail "VmRSS grew by $growth kB (from $rss_before kB) during the oversized requests"
pass "VmRSS grew by $growth kB at most (from $rss_before kB) during the oversized requests"
scrape "a scrape after the oversized requests"

# --- Range -------------------------------------------------------------------
timeout 30 "${client[@]}" range "$port" 100 >"$WORK/range.out" 2>&1 || { cat "$WORK/range.out"; fail "range client"; }
assert_eq "HTTP/1.1 200 OK" "$(head -n1 "$WORK/range.out")" "100 ranges get the whole body"
assert_eq "content-type=text/plain; version=0.0.4; charset=utf-8" "$(grep '^content-type=' "$WORK/range.out")" \
  "100 ranges get the metrics' content type, not multipart"
body=$(sed -n 's/^body=//p' "$WORK/range.out")
((body > 0 && body < 1048576)) || fail "the answer to 100 ranges has a body of $body bytes"
pass "the answer to 100 ranges has the whole body once ($body bytes)"

# --- SIGINT with idle and slow clients connected -------------------------------
start_client idle2 idle "$port" 200 30
start_client slow3 slow "$port" 30
start_client slow4 slow "$port" 30
kill -INT "$daemon"
since=$(now_ms)
wait_exit "$daemon" 10 "$since"
assert_eq 0 "$EXIT_RC" "watch exits 0 on SIGINT with idle and slow clients connected"
((ELAPSED_MS < 3000)) || fail "watch took $ELAPSED_MS ms to exit on SIGINT"
pass "watch exited $ELAPSED_MS ms after SIGINT"

# --- --duration with slow clients ----------------------------------------------
start_watch timed --duration 3
timed=$NFSLEUTH_BG_PID
since=$(now_ms)
start_client slow5 slow "$port" 30
start_client slow6 slow "$port" 30
start_client idle3 idle "$port" 100 30
wait_exit "$timed" 15 "$since"
assert_eq 0 "$EXIT_RC" "watch --duration 3 exits 0 with slow clients connected"
((ELAPSED_MS < 5000)) || fail "watch --duration 3 ran $ELAPSED_MS ms after attaching"
pass "watch --duration 3 ended $ELAPSED_MS ms after attaching"
