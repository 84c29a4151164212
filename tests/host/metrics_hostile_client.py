#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-only
"""Hostile clients of nfsleuth's metrics endpoint, for test_metrics_hostile.sh.

Every mode talks to 127.0.0.1 only and ends by itself (bounded loops and
socket timeouts). Modes:
  idle PORT COUNT SECONDS     open COUNT connections that say nothing
  slow PORT SECONDS           trickle a request head, a byte every 2 s
                              (reconnecting when closed)
  chunked PORT MEGABYTES      POST a chunked body of that size
  nocrlf PORT MEGABYTES       a request line that never ends
  headers PORT COUNT          a GET with COUNT headers
  range PORT COUNT            a GET asking for COUNT byte ranges
The sending modes print the status line of the answer, or "closed" when
the server closed without one, then "sent=BYTES". Long-running modes print
"ready" once set up.
"""
import socket
import sys
import threading
import time

HOST = "127.0.0.1"


def connect(port, timeout=5.0):
    s = socket.create_connection((HOST, port), timeout=timeout)
    s.settimeout(timeout)
    return s


def idle(port, count, seconds):
    held = []
    give_up = time.monotonic() + 20
    for _ in range(count):
        if time.monotonic() > give_up:
            break
        try:
            held.append(connect(port, timeout=1.0))
        except OSError:
            pass
    print(f"ready {len(held)}", flush=True)
    time.sleep(seconds)


def slow(port, seconds):
    head = b"GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: " + b"a" * 10000
    end = time.monotonic() + seconds
    announced = False
    while time.monotonic() < end:
        try:
            s = connect(port, timeout=2.0)
        except OSError:
            time.sleep(0.5)
            continue
        if not announced:
            print("ready", flush=True)
            announced = True
        try:
            for i in range(len(head)):
                if time.monotonic() >= end:
                    break
                s.sendall(head[i:i + 1])
                time.sleep(2)
        except OSError:
            pass
        finally:
            s.close()


def exchange(port, first, more=None, limit=0):
    """Sends `first`, then whatever `more` yields (up to `limit` bytes) from a
    thread, while reading the answer. Prints its status line and the bytes
    sent."""
    s = connect(port)
    sent = [0]

    def sender():
        try:
            s.sendall(first)
            sent[0] += len(first)
            if more:
                for block in more():
                    if sent[0] >= limit:
                        break
                    s.sendall(block)
                    sent[0] += len(block)
        except OSError:
            pass

    t = threading.Thread(target=sender, daemon=True)
    t.start()
    answer = b""
    try:
        while len(answer) < (1 << 22):
            data = s.recv(65536)
            if not data:
                break
            answer += data
    except OSError:
        pass
    s.close()
    t.join(timeout=5)
    line = answer.split(b"\r\n", 1)[0].decode("latin-1") if answer else "closed"
    print(line)
    print(f"sent={sent[0]}")
    return answer


def chunked(port, megabytes):
    head = b"POST /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n\r\n"
    block = b"10000\r\n" + b"x" * 0x10000 + b"\r\n"
    exchange(port, head, lambda: iter(lambda: block, None), megabytes << 20)


def nocrlf(port, megabytes):
    block = b"a" * 65536
    exchange(port, b"GET /", lambda: iter(lambda: block, None), megabytes << 20)


def headers(port, count):
    lines = b"".join(b"X-%d: v\r\n" % i for i in range(count))
    exchange(port, b"GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\n" + lines + b"\r\n")


def ranges(port, count):
    spec = ",".join(f"{i}-{i}" for i in range(count)).encode()
    answer = exchange(port, b"GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\nRange: bytes=" + spec + b"\r\n\r\n")
    head, _, body = answer.partition(b"\r\n\r\n")
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-type":
            print("content-type=" + value.strip().decode("latin-1"))
    print(f"body={len(body)}")


def main():
    mode, port, *rest = sys.argv[1:]
    port = int(port)
    args = [int(a) for a in rest]
    {"idle": idle, "slow": slow, "chunked": chunked, "nocrlf": nocrlf, "headers": headers,
     "range": ranges}[mode](port, *args)


if __name__ == "__main__":
    main()
