#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-only
# Sends N small UDP datagrams over loopback as fast as one thread can (one
# sendto() system call each) and prints the rate: the load that makes every
# socket-send hook run once per call.
import socket
import sys
import time

count = int(sys.argv[1])
sender = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
receiver = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
receiver.bind(("127.0.0.1", 0))
target = receiver.getsockname()
payload = b"x" * 32
start = time.perf_counter()
for i in range(count):
    sender.sendto(payload, target)
    if i % 256 == 0:  # keep the receive queue from filling
        try:
            while True:
                receiver.recv(64, socket.MSG_DONTWAIT)
        except BlockingIOError:
            pass
print(f"{count / (time.perf_counter() - start):.0f}")
