#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# `drops --pcap` and `watch --pcap`: the first bytes of the first packets of
# each dropped flow in a pcapng file that Debian's tshark (Wireshark's
# dissectors) reads back: exactly --pcap-per-flow packets per flow, their
# addresses, ports, lengths, payload and time, each with a comment naming
# the cause, namespace, hook, interfaces and sending process; rule drops
# over IPv4 and IPv6 and table-full drops; --pcap-per-second and
# --pcap-snaplen; the summary's and the metrics' counts exact; an empty
# capture is a valid file; a path that cannot be created is refused.
# PCAP_BACKEND_ONLY=1 runs only what depends on the drop backend: `drops`
# capturing (the VM lab runs that on each backend, where tshark alone takes
# 10 s to start).
source "$(dirname "$0")/../lib.sh"
require_root
require_traffic
require_conntrack
command -v tshark >/dev/null || fail "tshark is not installed (scripts/install-deps.sh installs it)"

ns="nfsl-pcap-$$"
make_netns "$ns"
nsx() { ip netns exec "$ns" "$@"; }
inode=$(stat -L -c %i "/run/netns/$ns")
# Conntrack on in the namespace, for the table-full part; the rules drop
# UDP to 7000 and 7100 at output over both families.
conntrack_on "$ns" ipv6
for ipt in iptables ip6tables; do
  nsx "$ipt" -A OUTPUT -p udp --dport 7000 -j DROP
  nsx "$ipt" -A OUTPUT -p udp --dport 7100 -j DROP
done

# The packets of a capture as tshark dissects them, one tab-separated line
# each: source (IPv4, IPv6), ports, frame and captured length, time,
# comment, UDP payload (hex). A file tshark cannot read fails the test.
# tshark is slow to start under the VM lab's emulation: read each file once.
packets() { # file
  tshark -r "$1" -T fields -E separator=/t -e ip.src -e ipv6.src -e udp.srcport -e udp.dstport -e frame.len \
    -e frame.cap_len -e frame.time_epoch -e frame.comment -e data.data 2>"$WORK/tshark.err" ||
    { cat "$WORK/tshark.err"; fail "tshark cannot read $1"; }
}
# One column of the packets (a file of packets' output) to a destination port, sorted.
column_of() { # tsv dport column
  awk -F'\t' -v p="$2" -v c="$3" '$4 == p {print $c}' "$1" | sort
}
# "frame length/captured length" of the packets to a port, once each.
lengths_of() { # tsv dport
  awk -F'\t' -v p="$2" '$4 == p {print $5 "/" $6}' "$1" | sort -u
}

backend_only=${PCAP_BACKEND_ONLY:-0}

# --- a path that cannot be created, and a limit without a capture ---------------
if [[ $backend_only != 1 ]]; then
  run_nfsleuth nodir drops --pcap "$WORK/missing/d.pcapng" --duration 1
  assert_eq 1 "$(cat "$WORK/nodir.rc")" "drops --pcap in a missing directory: exit code"
  assert_contains "$WORK/nodir.err" "cannot create the pcapng file $WORK/missing/d.pcapng" "the error names the file"
  run_nfsleuth nolimit drops --pcap-per-flow 2 --duration 1
  assert_eq 2 "$(cat "$WORK/nolimit.rc")" "--pcap-per-flow without --pcap: exit code"
  assert_contains "$WORK/nolimit.err" "--pcap-per-flow: needs --pcap FILE" "--pcap-per-flow without --pcap: says why"
fi

# --- drops --pcap: rule drops (IPv4, IPv6) and table-full drops ---------------------
D="$WORK/drops.pcapng"
start_nfsleuth drops drops --json --interval 0.5 --pcap "$D" --pcap-per-flow 3 --backend "${DROPS_BACKEND:-auto}"
tracer=$NFSLEUTH_BG_PID
assert_contains "$WORK/drops.err" \
  "pcap: $D (the first 128 bytes of the first 3 dropped packets of each flow, at most 100 a second)" \
  "the banner names the capture and its limits"
# Created at start: a valid capture of no packets yet (read while the
# traffic runs).
cp "$D" "$WORK/empty.pcapng"
packets "$WORK/empty.pcapng" >"$WORK/empty.tsv" &
empty_reader=$!
t0=$EPOCHREALTIME

# 5 flows of 10 datagrams of 200 bytes each (IP packets of 228 bytes).
nsx "$TRAFFIC" udp-send --dst 127.0.0.1 --port 7000 --count 50 --flows 5 --payload 200 >"$WORK/udp4.out"
sender4=$(jqf "$WORK/udp4.out" 'select(.event=="summary") | .pid')
# 4 IPv6 datagrams of 16 bytes in one flow (packets of 64 bytes).
nsx "$TRAFFIC" udp-send --dst ::1 --port 7100 --count 4 --payload 16 >"$WORK/udp6.out"
sender6=$(jqf "$WORK/udp6.out" 'select(.event=="summary") | .pid')
# A full table: one held connection fills it; 2 flows of 3 datagrams to
# 7200 are refused entries (packets of 44 bytes).
hold_one_entry "$ns"
ct_max=$(sysctl -n net.netfilter.nf_conntrack_max)
set_conntrack_max 1
nsx "$TRAFFIC" udp-send --dst 127.0.0.1 --port 7200 --count 6 --flows 2 >"$WORK/full.out"
senderf=$(jqf "$WORK/full.out" 'select(.event=="summary") | .pid')
sleep 0.5 # one more interval: the last counts are read live too
t1=$EPOCHREALTIME
stop_nfsleuth "$tracer" || fail "nfsleuth drops --pcap exited with $? on SIGINT"
jq -e . "$WORK/drops.out" >/dev/null || fail "a JSON line does not parse"
wait "$empty_reader" || fail "tshark cannot read the capture as created"
assert_eq 0 "$(wc -l <"$WORK/empty.tsv")" "the capture is a valid pcapng file before any drop"
T="$WORK/drops.tsv"
packets "$D" >"$T"
echo "--- $D as tshark reads it:"
cut -f1-8 "$T"

expect_comment() { # cause pid
  echo "cause=$1 netns=$inode($ns) hook=output in=- out=lo pid=$2 comm=\"nfsl-traffic\""
}
# IPv4: 3 packets of each of the 5 flows, from their own source ports.
assert_eq "$(jqf "$WORK/udp4.out" 'select(.proto=="udp") | .sport' | sort | awk '{for (i = 0; i < 3; i++) print}')" \
  "$(column_of "$T" 7000 3)" "IPv4: 3 packets of each of the 5 flows, by source port"
assert_eq "127.0.0.1" "$(column_of "$T" 7000 1 | uniq)" "IPv4: the source address"
assert_eq "228/128" "$(lengths_of "$T" 7000)" "IPv4: frame length 228, captured 128 (the default --pcap-snaplen)"
assert_eq "$(expect_comment rule "$sender4")" "$(column_of "$T" 7000 8 | uniq)" "IPv4: every packet's comment"
# The bytes are the packet's: the payload's first 100 bytes ('n') after the
# IPv4 and UDP headers.
assert_eq "$(printf '6e%.0s' {1..100})" "$(column_of "$T" 7000 9 | uniq)" "IPv4: the payload bytes"
# IPv6: the first 3 of the flow's 4, whole.
assert_eq "$(printf '::1\n::1\n::1')" "$(column_of "$T" 7100 2)" "IPv6: 3 packets of the flow"
assert_eq "64/64" "$(lengths_of "$T" 7100)" "IPv6: frame length 64, all captured"
assert_eq "$(expect_comment rule "$sender6")" "$(column_of "$T" 7100 8 | uniq)" "IPv6: every packet's comment"
# Table full: all 3 of each of the 2 flows.
assert_eq 6 "$(column_of "$T" 7200 3 | wc -l)" "table full: 3 packets of each of the 2 flows"
assert_eq "44/44" "$(lengths_of "$T" 7200)" "table full: 44-byte packets"
assert_eq "$(expect_comment table_full "$senderf")" "$(column_of "$T" 7200 8 | uniq)" "table full: every packet's comment"
# Times are wall-clock times of this run.
awk -F'\t' -v a="$t0" -v b="$t1" '$7 < a || $7 > b {bad++} END {exit bad > 0}' "$T" ||
  fail "a packet's time is outside the run ($t0 .. $t1)"
pass "every packet's time is within the run"
assert_eq 24 "$(wc -l <"$T")" "24 packets in all"

# The summary: 24 written; 35 + 1 later drops skipped per flow; nothing
# else. Its drop counts are the file's flows' too.
summary=$(tail -n1 "$WORK/drops.out")
assert_eq "{\"file\":\"$D\",\"written\":24,\"skipped_flow\":36,\"skipped_rate\":0,\"lost\":0,\"unreadable\":0,\"malformed\":0,\"write_errors\":0,\"unavailable\":null}" \
  "$(jq -c '.pcap | del(.bytes)' <<<"$summary")" "drops summary: the capture's counts"
assert_eq "$(stat -c %s "$D")" "$(jq -c .pcap.bytes <<<"$summary")" "drops summary: the file's size"
assert_eq '{"rule":54,"table_full":6}' \
  "$(jq -s -c "[.[] | select(.type==\"ct_drop\" and .netns==$inode)] | group_by(.cause) | map({(.[0].cause): (map(.count) | add)}) | add" "$WORK/drops.out")" \
  "the drop records count every drop, captured or not"
assert_nothing_missed "$summary"

[[ $backend_only != 1 ]] || exit 0

# --- watch --pcap: --pcap-per-second, --pcap-snaplen, the metrics -----------------
set_conntrack_max "$ct_max"  # room again: the rule drops what follows
W="$WORK/watch.pcapng"
start_nfsleuth watch watch --json --interval 0.5 --metrics 127.0.0.1:0 --pcap "$W" --pcap-snaplen 60 --pcap-per-flow 2 \
  --pcap-per-second 10 --backend "${DROPS_BACKEND:-auto}"
daemon=$NFSLEUTH_BG_PID
port=$(metrics_port watch)
assert_contains "$WORK/watch.err" \
  "pcap: $W (the first 60 bytes of the first 2 dropped packets of each flow, at most 10 a second)" \
  "watch's banner names the capture and its limits"
# 30 flows of 3 datagrams at once: 2 of each flow are offered (60), 10 fit
# in the second they arrive in.
nsx "$TRAFFIC" udp-send --dst 127.0.0.1 --port 7000 --count 90 --flows 30 --payload 200 >"$WORK/burst.out"
sleep 1.2
curl -fsS "http://127.0.0.1:$port/metrics" >"$WORK/watch.metrics" || fail "no metrics on port $port"
stop_nfsleuth "$daemon" || fail "nfsleuth watch --pcap exited with $? on SIGINT"
packets "$W" >"$WORK/watch.tsv"
cut -f1-8 "$WORK/watch.tsv"
assert_eq 10 "$(wc -l <"$WORK/watch.tsv")" "watch --pcap-per-second 10: 10 packets"
assert_eq "228/60" "$(awk -F'\t' '{print $5 "/" $6}' "$WORK/watch.tsv" | sort -u)" \
  "watch --pcap-snaplen 60: frame length 228, captured 60"
sender=$(jqf "$WORK/burst.out" 'select(.event=="summary") | .pid')
assert_eq "$(expect_comment rule "$sender")" "$(cut -f8 "$WORK/watch.tsv" | sort -u)" "watch: every packet's comment"
(($(cut -f3 "$WORK/watch.tsv" | sort | uniq -c | awk '$1 > 2' | wc -l) == 0)) || fail "watch: a flow has more than 2 packets"
pass "watch: no flow has more than 2 packets"
assert_eq "{\"file\":\"$W\",\"written\":10,\"skipped_flow\":30,\"skipped_rate\":50,\"lost\":0,\"unreadable\":0,\"malformed\":0,\"write_errors\":0,\"unavailable\":null}" \
  "$(tail -n1 "$WORK/watch.out" | jq -c '.drops.pcap | del(.bytes)')" "watch summary: the capture's counts"
metric() { awk -v o="nfsleuth_pcap_packets_total{outcome=\"$1\"}" '$1 == o {print $2}' "$WORK/watch.metrics"; }
assert_eq "10 30 50 0" "$(metric written) $(metric skipped_flow) $(metric skipped_rate) $(metric lost)" \
  "nfsleuth_pcap_packets_total: written, skipped_flow, skipped_rate, lost"
