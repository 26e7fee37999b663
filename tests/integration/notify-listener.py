#!/usr/bin/env python3
"""A stand-in for systemd's notification socket: prints every sd_notify datagram
received on PATH, one field per line, until killed. notify-listener.py PATH OUT"""
import os
import socket
import sys

path, out = sys.argv[1], sys.argv[2]
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(path)
with open(out, "a", buffering=1) as f:
    f.write("LISTENING\n")
    while True:
        msg = s.recv(4096).decode()
        for field in msg.split("\n"):
            if field:
                f.write(field + "\n")
