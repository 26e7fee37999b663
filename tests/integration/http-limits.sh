#!/usr/bin/env bash
# What bad HTTP input gets (DESIGN.md section 8): 414, 431, 413/405, 400, 408,
# 503 over max_connections; the daemon keeps serving others throughout.
. "$SRCDIR/tests/integration/lib.sh"

conf=$(make_config -e 's/header_timeout_ms = 10000;/header_timeout_ms = 300;/' \
	-e 's/max_connections = 10000;/max_connections = 3;/')
start_fanoutd "$conf"

# raw REQUEST: sends bytes on a fresh connection, prints the status line's code.
raw() {
	exec 3<>"/dev/tcp/127.0.0.1/$PORT"
	printf '%b' "$1" >&3
	timeout 5 head -c 12 <&3 | awk '{print $2}'
	exec 3<&-
}

long=$(head -c 3000 /dev/zero | tr '\0' a)
[ "$(raw "GET /product/$long HTTP/1.1\r\nHost: x\r\n\r\n")" = 414 ] || fail "long URL"
pass "request target over max_url: 414"
hdr=$(head -c 9000 /dev/zero | tr '\0' b)
[ "$(raw "GET /product/1 HTTP/1.1\r\nHost: x\r\nX-Big: $hdr\r\n\r\n")" = 431 ] || fail "big headers"
pass "headers over max_headers: 431"
[ "$(raw "POST /product/1 HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello")" = 413 ] || fail "body"
pass "a body over max_body: 413"
[ "$(raw "DELETE /product/1 HTTP/1.1\r\nHost: x\r\n\r\n")" = 405 ] || fail "method"
pass "a method other than GET: 405"
[ "$(raw "GARBAGE\r\n\r\n")" = 400 ] || fail "garbage"
pass "malformed request: 400"
[ "$(raw "GET /product/1 HTTP/1.1\r\nHost: x\r\n")" = 408 ] || fail "slow headers"
pass "headers not complete within header_timeout_ms: 408"

# Keep-alive: two requests on one connection.
out=$(curl -s -o /dev/null -o /dev/null -w '%{num_connects} ' "$(url /healthz)" "$(url /healthz)")
[ "$out" = "1 0 " ] || fail "keep-alive: connects per request '$out'"
pass "keep-alive: the second request reuses the connection"

# limits_py SCRIPT: python with rawhttp against this daemon.
limits_py() {
	PORT=$PORT PYTHONPATH="$SRCDIR/tests/integration" timeout 60 python3 -c "
import json, socket, time
from rawhttp import *
$1
main(test)" || fail "see above"
}

# Boundaries: exactly at max_url / max_headers is served, one byte more is refused.
# The request target is counted whole (path and query); header bytes as each
# line is sent, name + ": " + value + CRLF ("Host: x" is 9 of them).
limits_py '
def test():
    for extra, want in ((0, 200), (1, 414)):
        path = "/healthz?pad="
        path += "a" * (2048 - len(path) + extra)
        a = get(path)
        if a.status != want:
            fail(f"a {len(path)}-byte target with max_url 2048: {a.status}, want {want}")
    ok("max_url 2048: a 2048-byte target is served, 2049 bytes get 414")
    for extra, want in ((0, 200), (1, 431)):
        value = "b" * (8192 - 9 - len("X-Big") - 4 + extra)
        s = connect()
        s.sendall(f"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: {value}\r\n\r\n".encode())
        a = Reader(s).response()
        s.close()
        if a.status != want:
            fail(f"headers of 8192{extra:+d} bytes with max_headers 8192: {a.status}, want {want}")
    ok("max_headers 8192: 8192 bytes of headers are served, 8193 get 431")
'

# HEAD: the headers a GET would get (Content-Length included), no body. The
# GET right behind it on the same connection must start where the HEAD answer ends.
limits_py '
def test():
    s = connect()
    s.sendall(request("/healthz", method="HEAD") + request("/healthz"))
    r = Reader(s)
    h = r.response(head=True)
    g = r.response()
    s.close()
    if h.status != 200 or g.status != 200:
        fail(f"HEAD {h.status}, GET {g.status}")
    cl = h.header("content-length")
    if int(cl) != len(g.body):
        fail(f"HEAD Content-Length {cl}, GET body {len(g.body)} bytes")
    ok(f"HEAD: 200, Content-Length {len(g.body)}, no body (the next answer follows at once)")
'

# fanoutd_http_responses_total counts every answer by route and exact status
# (route="" for no route); the internal endpoints are counted apart.
limits_py '
def test():
    healthz = "fanoutd_http_internal_responses_total{endpoint=\"/healthz\",code=\"200\"}"
    scrape = "fanoutd_http_internal_responses_total{endpoint=\"/metrics\",code=\"200\"}"
    nf = "fanoutd_http_responses_total{route=\"\",code=\"404\"}"
    prod = "fanoutd_http_responses_total{route=\"product\",code=\"200\"}"
    keys = (healthz, scrape, nf, prod)
    m = metrics()
    before = {k: m.get(k, 0) for k in keys}
    for _ in range(5):
        if get("/healthz").status != 200:
            fail("healthz")
    for _ in range(3):
        if get("/no/such/route").status != 404:
            fail("404")
    for _ in range(2):
        if get("/product/1?budget_ms=5000").status != 200:
            fail("product")
    m = metrics()
    after = {k: m.get(k, 0) for k in keys}
    # The first /metrics read is an answer too, counted once it was sent.
    want = {healthz: 5, scrape: 1, nf: 3, prod: 2}
    got = {k: after[k] - before[k] for k in keys}
    if got != want:
        fail(f"responses counted: {got}, want {want}")
    classes = [k for k in m if k.startswith("fanoutd_http_responses_total") and "xx" in k]
    if classes:
        fail(f"status classes left: {classes}")
    ok(f"responses by route and status, internal endpoints apart: {got}")
'

# A connection that sends nothing is closed after header_timeout_ms (300 ms
# here), not kept for idle_timeout_ms (60 s): no request, so no 408 either.
limits_py '
def test():
    s = connect(timeout=5)
    t0 = time.monotonic()
    if not Reader(s).eof():
        fail("bytes on a silent connection")
    took = time.monotonic() - t0
    if not 0.25 < took < 2.0:
        fail(f"a silent connection was closed after {took:.3f} s, header_timeout_ms is 0.3 s")
    ok(f"a silent connection is closed after {took:.3f} s (header_timeout_ms 300, idle_timeout_ms 60000)")
'

# max_connections = 3, plus 8 reserved for /metrics and /healthz: at 3 open,
# monitoring still gets through, other paths get 503; past the reserve, every
# connection gets the 503 (a whole, valid JSON body) and is closed.
limits_py '
def test():
    held = []
    def hold(path, want):
        s = connect()
        s.sendall(request(path))
        a = Reader(s).response()
        if a.status != want:
            fail(f"connection {len(held) + 1}: {path}: {a.status}, want {want}")
        held.append(s)
    for _ in range(3):
        hold("/healthz", 200)
    for i in range(8):
        hold("/metrics" if i % 2 else "/healthz", 200)
    ok("at max_connections 3: 8 more connections still get /healthz and /metrics")
    s = connect()
    s.sendall(request("/healthz"))
    r = Reader(s)
    a = r.response()
    if a.status != 503 or a.header("connection") != "close" or not r.eof():
        fail(f"past the reserve: {a.status} {a.headers}")
    if a.json() != {"error": "too many connections", "field": ""}:
        fail(f"the 503 body: {a.body!r}")
    s.close()
    ok("past the reserve: 503, Content-Length matching a valid JSON body, closed")
    held.pop().close()
    wait_for("a reserve slot free", lambda: get("/healthz").status == 200, timeout=5)
    s = connect()
    s.sendall(request("/product/1"))
    r = Reader(s)
    a = r.response()
    if a.status != 503 or a.json()["error"] != "too many connections" or not r.eof():
        fail(f"/product/1 in the reserve: {a.status} {a.body!r}")
    s.close()
    ok("a reserve connection asking for /product/1: 503 and closed")
    for h in held:
        h.close()
    wait_for("served again", lambda: get("/product/1?budget_ms=5000").status == 200, timeout=5)
    ok("served again once the connections left")
'
stop_fanoutd

# A 405 says what is allowed. "Expect: 100-continue" gets its 100 before the
# body is sent (curl otherwise waits 1 s), when the body may come: a length
# over max_body gets the 413 straight away, with no 100 before it.
conf=$(make_config -e 's/max_body = 0;/max_body = 100;/')
start_fanoutd "$conf"
limits_py '
def test():
    a = get("/product/1", method="DELETE")
    if a.status != 405 or a.header("allow") != "GET, HEAD":
        fail(f"DELETE: {a.status}, headers {a.headers}, want 405 with Allow: GET, HEAD")
    ok("405 with Allow: GET, HEAD")
    s = connect()
    r = Reader(s)
    s.sendall(request("/healthz", extra="Content-Length: 5\r\nExpect: 100-Continue\r\n"))
    interim = r.response()  # before any body byte is sent
    if interim.status != 100:
        fail(f"Expect: 100-continue, nothing sent yet: {interim.status}, want 100")
    s.sendall(b"hello")
    a = r.response()
    if a.status != 200:
        fail(f"the request after its 100: {a.status}")
    s.sendall(request("/healthz"))  # the connection goes on: the next request, no 100
    a = r.response()
    if a.status != 200:
        fail(f"the next request on the connection: {a.status}")
    s.close()
    ok("Expect: 100-continue within max_body: 100 before the body, then 200; the connection goes on")
    s = connect()
    s.sendall(request("/healthz", extra="Content-Length: 500\r\nExpect: 100-continue\r\n"))
    a = Reader(s).response()
    if a.status != 413:
        fail(f"Expect: 100-continue with a body over max_body: {a.status}, want 413 (no 100)")
    s.close()
    s = connect()
    r = Reader(s)
    s.sendall(request("/healthz", extra="Content-Length: 5\r\n") + b"hello")
    a = r.response()
    if a.status != 200:
        fail(f"a body without Expect: {a.status}")
    s.close()
    ok("a body over max_body with Expect: 413 at once; no Expect: no 100")
    # The trailers of a chunked body are not headers: an X-Request-Id there (with a
    # quote, never accepted in a header) must not replace the one of the headers.
    s = connect()
    s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
              b"X-Request-Id: from-headers\r\n\r\n0\r\nX-Request-Id: a\"b\r\n\r\n")
    a = Reader(s).response()
    s.close()
    if a.status != 200 or a.header("x-request-id") != "from-headers":
        fail(f"X-Request-Id in a trailer: {a.status}, answered with {a.headers}")
    ok("an X-Request-Id in a chunked trailer is not taken")
'
stop_fanoutd

# Pipelining: 1,000 requests in one write (more than the 16 KiB read buffer) are
# answered in order, /healthz (answered at once) and /product/N (after its
# branches) alike. Under a 256 KiB stack (the plain build: the sanitizers'
# own frames need more than that to start): serving the next pipelined
# request from inside the previous answer's call chain nested ~1,000 chains
# deep and overflowed it (SIGSEGV).
conf=$SRCDIR/etc/fanoutd.conf
stack=256
[ -z "${SANITIZED:-}" ] || stack=$(ulimit -s) # as it is
(ulimit -s "$stack" && exec true) || fail "cannot set a $stack KiB stack limit"
PORT=$(free_port)
(ulimit -s "$stack" && exec "$FANOUTD" -c "$conf" --modules "$MODULES" --listen "127.0.0.1:$PORT" \
	--socket "$TMP/api.sock" >"$TMP/fanoutd.log" 2>&1) &
FOD_PID=$!
for _ in $(seq 200); do
	curl -fs "$(url /healthz)" >/dev/null 2>&1 && break
	kill -0 "$FOD_PID" 2>/dev/null || fail "fanoutd exited at start (stack limit: $stack)"
	sleep 0.05
done
limits_py '
def test():
    s = connect(timeout=30)
    r = Reader(s)
    s.sendall(b"".join(request("/healthz") for _ in range(1000)))
    for i in range(1000):
        a = r.response()
        if a.status != 200:
            fail(f"pipelined /healthz {i}: {a.status}")
    s.sendall(b"".join(request(f"/product/{i}?budget_ms=5000") for i in range(1, 201)))
    for i in range(1, 201):
        a = r.response()
        if a.status != 200 or a.json()["id"] != i:
            fail(f"pipelined /product/{i}: {a.status} {a.body[:80]!r}")
    s.close()
    ok("1,000 pipelined /healthz and 200 pipelined /product/N in one write each: all answered, in order")
'
kill -0 "$FOD_PID" 2>/dev/null || fail "fanoutd died serving pipelined requests (stack limit: $stack)"
stop_fanoutd

# The top of both ranges works: http_parser's own 80 KiB cap on a request's
# head (process-wide) used to refuse, with a 400, what max_url = 65536 and
# max_headers = 1 MiB allow. At the limits: served; a byte over: 414 / 431.
conf=$(make_config -e 's/max_headers = 8192;/max_headers = 1048576;/' -e 's/max_url = 2048;/max_url = 65536;/')
start_fanoutd "$conf"
limits_py '
def test():
    def ask(path_len, header_bytes):
        path = "/healthz?pad="
        path += "a" * (path_len - len(path))
        value = "b" * (header_bytes - 9 - len("X-Big") - 4)
        s = connect(timeout=20)
        s.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\nX-Big: {value}\r\n\r\n".encode())
        a = Reader(s).response()
        s.close()
        return a.status
    for url, hdr, want in ((65536, 1048576, 200), (65536, 1048577, 431), (65537, 100, 414),
                           (60000, 90000, 200), (100, 500000, 200)):
        got = ask(url, hdr)
        if got != want:
            fail(f"a {url}-byte target with {hdr} bytes of headers (max_url 65536, "
                 f"max_headers 1048576): {got}, want {want}")
    ok("max_url 65536 and max_headers 1 MiB: both at their limits served, a byte over 414 / 431")
'
stop_fanoutd

# Header bytes are counted once, however they arrive: 1,700 bytes of headers
# sent a byte at a time (1 ms apart, so each read is one byte) stay under
# max_headers = 2048; each piece used to be charged 4 bytes more.
conf=$(make_config -e 's/max_headers = 8192;/max_headers = 2048;/')
start_fanoutd "$conf"
limits_py '
def test():
    s = connect()
    msg = request("/healthz", extra="X-Pad: " + "p" * 1680 + "\r\n")
    try:
        for i in range(len(msg)):
            s.send(msg[i:i + 1])
            time.sleep(0.001)
    except OSError as e:
        # Refused mid-request: the answer came before the request was whole.
        try:
            got = s.recv(200)
        except OSError:
            got = b"(reset)"
        fail(f"closed after {i} of {len(msg)} bytes ({e}), answer {got[:40]!r}")
    a = Reader(s).response()
    s.close()
    if a.status != 200:
        fail(f"{len(msg)} bytes sent one at a time with max_headers 2048: {a.status}")
    ok(f"a {len(msg)}-byte request sent in 1-byte segments is served with max_headers 2048")
'
stop_fanoutd
