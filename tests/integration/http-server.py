#!/usr/bin/env python3
# A scripted HTTP/1.1 downstream for tests/integration/http-downstream.sh, on
# loopback only. It counts its open connections (now and at most) and records
# when things happen, so the test can see what fanoutd did to its connections.
#
#   http-server.py PORTFILE    writes "DATA_PORT CONTROL_PORT" to PORTFILE
#
# Data port paths (keep-alive unless said otherwise):
#   /json/N       200 {"id":N}
#   /hold/MS/N    200 {"id":N} after MS milliseconds
#   /slow/N       never answers; the close of the connection is recorded
#   /fail/N       500 at once; the time it was sent is recorded
#   /status/C/N   status C with a JSON body (204: no body, no Content-Length)
#   /empty/C/N    status C with Content-Length: 0
#   /big/BYTES/N[/C]  status C (200) with a JSON string of BYTES bytes
#   /bad/N        200 with a body that is not JSON
#   /reset/N      the head and part of the body, then a TCP reset
#   POST /echo/N  200 with the request body as it came
#   /once-slow/N  the first request for N never answers (as /slow), later ones 200 {"id":N}
#   /rid/N        200 {"id":N,"request_id":X} with the request's X-Request-Id (null: none)
# Not HTTP at all (a TLS ClientHello): a 400 and close.
# Control port: GET /stats -> {"open":..,"max":..,"accepted":..,"holding":..,"slow_closed":[..],"fail_sent":[..],
#   "slow_started":[..]} (times: time.monotonic() seconds); GET /reset-max zeroes max.
import asyncio
import json
import os
import socket
import struct
import sys
import time

once_seen = set()
state = {"open": 0, "max": 0, "accepted": 0, "holding": 0, "slow_started": [], "slow_closed": [], "fail_sent": []}


def response(code, body, ctype="application/json", close=False):
    head = "HTTP/1.1 %d X\r\nContent-Type: %s\r\n" % (code, ctype)
    if code != 204:  # a 204 has no content and says no length (RFC 9110 8.6)
        head += "Content-Length: %d\r\n" % len(body)
    if close:
        head += "Connection: close\r\n"
    return head.encode() + b"\r\n" + body


async def read_request(reader, first=b""):
    head = first + await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    method, path, _ = lines[0].split(" ", 2)
    headers = {}
    for line in lines[1:]:
        if ":" in line:
            name, value = line.split(":", 1)
            headers[name.strip().lower()] = value.strip()
    length = int(headers.get("content-length", "0"))
    body = await reader.readexactly(length) if length else b""
    return method, path, body, headers


async def serve(reader, writer):
    state["open"] += 1
    state["accepted"] += 1
    state["max"] = max(state["max"], state["open"])
    slow = False
    try:
        first = await reader.read(1)
        if not first:
            return
        if not (b"A" <= first <= b"Z"):
            writer.write(response(400, b'{"error":"not http"}', close=True))
            await writer.drain()
            return
        while True:
            try:
                method, path, body, headers = await read_request(reader, first)
                first = b""
            except (asyncio.IncompleteReadError, ConnectionError):
                return
            parts = path.strip("/").split("/")
            kind = parts[0]
            if kind == "json":
                writer.write(response(200, json.dumps({"id": int(parts[1])}, separators=(",", ":")).encode()))
            elif kind == "hold":
                state["holding"] += 1
                try:
                    await asyncio.sleep(int(parts[1]) / 1000)
                finally:
                    state["holding"] -= 1
                writer.write(response(200, json.dumps({"id": int(parts[2])}, separators=(",", ":")).encode()))
            elif kind == "once-slow" and int(parts[1]) in once_seen:
                writer.write(response(200, json.dumps({"id": int(parts[1])}, separators=(",", ":")).encode()))
            elif kind == "slow" or kind == "once-slow":
                once_seen.add(int(parts[1]))
                slow = True
                state["slow_started"].append(time.monotonic())
                await reader.read()  # until the client closes
                return
            elif kind == "fail":
                writer.write(response(500, b'{"error":"injected"}'))
                await writer.drain()
                state["fail_sent"].append(time.monotonic())
                continue
            elif kind == "status":
                code = int(parts[1])
                writer.write(response(code, b"" if code == 204 else b'{"status":%d}' % code))
            elif kind == "empty":
                writer.write(response(int(parts[1]), b""))
            elif kind == "big":
                code = int(parts[3]) if len(parts) > 3 else 200
                writer.write(response(code, b'"' + b"x" * (int(parts[1]) - 2) + b'"'))
            elif kind == "bad":
                writer.write(response(200, b"<html>not json</html>", ctype="text/html"))
            elif kind == "reset":
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n{\"partial\":")
                await writer.drain()
                sock = writer.get_extra_info("socket")
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                writer.transport.abort()
                return
            elif kind == "rid":
                rid = {"id": int(parts[1]), "request_id": headers.get("x-request-id")}
                writer.write(response(200, json.dumps(rid, separators=(",", ":")).encode()))
            elif kind == "echo" and method == "POST":
                writer.write(response(200, body))
            else:
                writer.write(response(404, b'{"error":"no such path"}'))
            await writer.drain()
    except ConnectionError:
        pass
    finally:
        state["open"] -= 1
        if slow:
            state["slow_closed"].append(time.monotonic())
        writer.close()


async def control(reader, writer):
    try:
        _, path, _, _ = await read_request(reader)
        if path == "/reset-max":
            state["max"] = state["open"]
        writer.write(response(200, json.dumps(state).encode(), close=True))
        await writer.drain()
    finally:
        writer.close()


async def main():
    data = await asyncio.start_server(serve, "127.0.0.1", 0, backlog=1024)
    ctl = await asyncio.start_server(control, "127.0.0.1", 0)
    ports = "%d %d\n" % (data.sockets[0].getsockname()[1], ctl.sockets[0].getsockname()[1])
    with open(sys.argv[1] + ".tmp", "w") as f:
        f.write(ports)
    os.rename(sys.argv[1] + ".tmp", sys.argv[1])
    # Bounded: a test that forgets the server does not leave it running.
    await asyncio.sleep(600)


asyncio.run(main())
