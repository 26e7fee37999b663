# Raw-socket HTTP/1.1 for the integration tests: exact bytes on the wire,
# keep-alive under the test's control, and every wait bounded by a timeout.
# Imported by the python3 parts of http-limits.sh, gateway.sh and drain.sh.
import json
import os
import socket
import sys
import time


class Fail(Exception):
    pass


def fail(msg):
    raise Fail(msg)


def port():
    return int(os.environ["PORT"])


def connect(timeout=5.0):
    s = socket.create_connection(("127.0.0.1", port()), timeout=timeout)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s


def request(path, method="GET", close=False, extra=""):
    conn = "Connection: close\r\n" if close else ""
    return f"{method} {path} HTTP/1.1\r\nHost: x\r\n{conn}{extra}\r\n".encode()


class Response:
    def __init__(self, status, headers, body):
        self.status, self.headers, self.body = status, headers, body

    def header(self, name):
        return self.headers.get(name.lower())

    def json(self):
        return json.loads(self.body)


class Reader:
    """Reads whole responses from one socket; raises Fail on EOF or timeout mid-answer."""

    def __init__(self, sock):
        self.sock, self.buf = sock, b""

    def _more(self, what):
        try:
            data = self.sock.recv(65536)
        except socket.timeout:
            fail(f"timed out waiting for {what}")
        except ConnectionResetError:
            data = b""
        if not data:
            raise EOFError(what)
        self.buf += data

    def response(self, head=False):
        while b"\r\n\r\n" not in self.buf:
            self._more("the response headers")
        top, self.buf = self.buf.split(b"\r\n\r\n", 1)
        lines = top.decode("latin-1").split("\r\n")
        first = lines[0].split()
        if len(first) < 2 or not first[0].startswith("HTTP/") or not first[1].isdigit():
            fail(f"not a status line: {lines[0][:80]!r}")
        status = int(first[1])
        headers = {}
        for line in lines[1:]:
            k, v = line.split(":", 1)
            headers[k.strip().lower()] = v.strip()
        n = 0 if head else int(headers.get("content-length", "0"))
        while len(self.buf) < n:
            self._more(f"{n} body bytes")
        body, self.buf = self.buf[:n], self.buf[n:]
        return Response(status, headers, body)

    def eof(self):
        """True when the peer closes (with nothing more sent), False when more bytes come."""
        try:
            self._more("EOF")
        except EOFError:
            return not self.buf
        return False


def get(path, **kw):
    s = connect()
    try:
        s.sendall(request(path, close=True, **kw))
        return Reader(s).response(head=kw.get("method") == "HEAD")
    finally:
        s.close()


def metrics():
    """Every sample of one /metrics read: {name with labels: value}."""
    samples = {}
    for line in get("/metrics").body.decode().splitlines():
        parts = line.split()
        if len(parts) == 2 and not line.startswith("#"):
            samples[parts[0]] = float(parts[1])
    return samples


def metric(name):
    """The value of one sample in /metrics (name with labels), or None."""
    return metrics().get(name)


def wait_for(what, cond, timeout=10.0, every=0.02):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return
        time.sleep(every)
    fail(f"{what}: not within {timeout} s")


def ok(msg):
    print(f"ok: {msg}", flush=True)


def main(fn):
    """Runs fn, turning Fail (or an unexpected EOF) into a FAIL line and exit 1."""
    try:
        fn()
    except (Fail, EOFError) as e:
        print(f"FAIL: {type(e).__name__}: {e}", file=sys.stderr, flush=True)
        sys.exit(1)
