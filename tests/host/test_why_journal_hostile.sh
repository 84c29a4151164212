#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# `why --journal` reads what the traced world may have written: nested,
# mistyped, huge and endless input, FIFOs and devices in the journal's
# place. Each bad line is skipped and counted, non-regular files are
# refused without blocking, memory stays bounded whatever the input, and
# journal strings are escaped in the text report.
source "$(dirname "$0")/../lib.sh"
require_root
require_conntrack
RSS_LIMIT_KB=$((100 * 1024))
good='{"type":"ct_activate","ts":"T","netns_name":"blue","family":"ipv4","pid":77,"comm":"iptables"}'

# why with a time limit and its peak resident memory in $WORK/NAME.rss (kB).
why_bounded() { # name args...
  local name=$1; shift
  set +e
  timeout 60 /usr/bin/time -f %M -o "$WORK/$name.rss" "$NFSLEUTH" why nf_conntrack "$@" \
    >"$WORK/$name.out" 2>"$WORK/$name.err"
  echo $? >"$WORK/$name.rc"
  set -e
}

# One record nested 50,000 objects deep, between good ones.
{
  echo "$good"
  printf '{"type":"ct_activate","pid":1,"ancestors":'
  for _ in $(seq 5000); do printf '{"a":{"a":{"a":{"a":{"a":{"a":{"a":{"a":{"a":{"a":'; done
  printf 1
  for _ in $(seq 5000); do printf '}}}}}}}}}}'; done
  echo '}'
  echo "$good"
} >"$WORK/deep.jsonl"
why_bounded deep --journal "$WORK/deep.jsonl" --json
assert_eq 0 "$(cat "$WORK/deep.rc")" "a record nested 50,000 deep: exit code"
assert_eq '1 2' "$(jq -c '"\(.history.skipped_lines) \(.history.events | length)"' -r "$WORK/deep.out")" \
  "the deep record skipped and counted, the others kept"

# Records whose type is not a string.
printf '%s\n' '{"type":5}' '{"type":null}' "$good" >"$WORK/types.jsonl"
why_bounded types --journal "$WORK/types.jsonl" --json
assert_eq 0 "$(cat "$WORK/types.rc")" "type 5 and null: exit code"
assert_eq 2 "$(jq .history.skipped_lines "$WORK/types.out")" "two lines skipped (JSON)"
why_bounded types_text --journal "$WORK/types.jsonl"
assert_contains "$WORK/types_text.out" "(2 journal lines skipped" "two lines skipped (text)"

# A FIFO as the journal, and among the rotated files.
mkfifo "$WORK/fifo.jsonl"
why_bounded fifo --journal "$WORK/fifo.jsonl"
assert_eq 1 "$(cat "$WORK/fifo.rc")" "a FIFO as the journal: exit code (124: it blocked)"
assert_contains "$WORK/fifo.err" "fifo.jsonl is not a regular file" "a FIFO as the journal: the reason"
echo "$good" >"$WORK/rot.jsonl"
echo "$good" >"$WORK/rot.jsonl.1"
mkfifo "$WORK/rot.jsonl.3"
why_bounded rot --journal "$WORK/rot.jsonl" --json
assert_eq 0 "$(cat "$WORK/rot.rc")" "a FIFO among the rotated files: exit code (124: it blocked)"
assert_eq "[\"$WORK/rot.jsonl.3 is not a regular file\"]" "$(jq -c .history.skipped_files "$WORK/rot.out")" \
  "the FIFO is skipped and named"
assert_eq 2 "$(jq '.history.events | length' "$WORK/rot.out")" "the regular files are read"
why_bounded rot_text --journal "$WORK/rot.jsonl"
assert_contains "$WORK/rot_text.out" "(not read: $WORK/rot.jsonl.3 is not a regular file)" "the FIFO named in text"

why_bounded zero --journal /dev/zero
assert_eq 1 "$(cat "$WORK/zero.rc")" "/dev/zero as the journal: exit code"
assert_contains "$WORK/zero.err" "/dev/zero is not a regular file" "/dev/zero as the journal: the reason"

# A 200 MB line, then a good record.
{ head -c 200M /dev/zero | tr '\0' a; echo; echo "$good"; } >"$WORK/long.jsonl"
why_bounded long --journal "$WORK/long.jsonl" --json
rm -f "$WORK/long.jsonl"
assert_eq 0 "$(cat "$WORK/long.rc")" "a 200 MB line: exit code"
assert_eq '1 1' "$(jq -r '"\(.history.skipped_lines) \(.history.events | length)"' "$WORK/long.out")" \
  "the long line skipped and counted, the record after it kept"
(($(cat "$WORK/long.rss") < RSS_LIMIT_KB)) || fail "a 200 MB line: peak RSS $(cat "$WORK/long.rss") kB"
pass "a 200 MB line: peak RSS $(cat "$WORK/long.rss") kB"

# 300,000 activations: the newest are shown, the rest counted.
awk 'BEGIN { for (i = 0; i < 300000; i++)
  printf "{\"type\":\"ct_activate\",\"ts\":\"T%d\",\"netns\":4026531840,\"family\":\"ipv4\",\"pid\":%d,\"comm\":\"iptables\",\"cmdline\":\"iptables -t nat -A POSTROUTING -j MASQUERADE\",\"ancestors\":[{\"pid\":1,\"comm\":\"systemd\"}],\"rules\":[{\"source\":\"nftables\",\"table\":\"ip nat\",\"chain\":\"POSTROUTING\",\"rule\":\"masquerade\",\"needs\":\"masquerade\"}]}\n", i, i % 4000000 + 1 }' \
  >"$WORK/many.jsonl"
for mode in --json ""; do
  why_bounded many --journal "$WORK/many.jsonl" $mode
  assert_eq 0 "$(cat "$WORK/many.rc")" "300,000 activations ${mode:-text}: exit code"
  (($(cat "$WORK/many.rss") < RSS_LIMIT_KB)) || fail "300,000 activations ${mode:-text}: peak RSS $(cat "$WORK/many.rss") kB"
  pass "300,000 activations ${mode:-text}: peak RSS $(cat "$WORK/many.rss") kB"
done
assert_contains "$WORK/many.out" "(299980 older ct_activate events not shown)" "the older ones counted"
assert_contains "$WORK/many.out" "T299999 ct_activate" "the newest shown"

# Numbers out of range are absent, strings escaped.
printf '%s\n' '{"type":"ct_activate","netns":1e300,"pid":-1e300,"comm":"\u001b[2Jevil","family":"ipv4"}' \
  >"$WORK/numbers.jsonl"
why_bounded numbers --journal "$WORK/numbers.jsonl"
assert_eq 0 "$(cat "$WORK/numbers.rc")" "out-of-range numbers: exit code"
assert_contains "$WORK/numbers.out" 'ct_activate ipv4 in netns ? by \x1b[2Jevil[?] ""' \
  "out-of-range numbers shown as unknown, the escape sequence escaped"
grep -q -- '-2147483648' "$WORK/numbers.out" && fail "a number was converted out of range"
grep -q $'\x1b' "$WORK/numbers.out" && fail "an escape character reached the terminal"
pass "nothing converted out of range, nothing unescaped"
