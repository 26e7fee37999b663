#!/usr/bin/env bash
# The SIGTERM drain, each case with requests in flight (held there by slow sim
# branches, not by sleeps): idle keep-alive connections are closed at once,
# an in-flight request on keep-alive gets its answer with Connection: close
# (steady keep-alive traffic stops instead of lasting the whole drain_ms),
# new connects are refused, the process exits as soon as nothing is in
# flight, and a request still in flight when drain_ms runs out gets a 503,
# never an EOF.
. "$SRCDIR/tests/integration/lib.sh"
command -v python3 >/dev/null || fail "python3 is needed"

# slow_config BRANCH_MS DRAIN_MS [sed args]: every /product branch takes exactly
# 2 x base_ms (p99 = base: no spread, no tail), within generous timeouts.
slow_config() {
	local branch_ms=$1 drain_ms=$2
	shift 2
	make_config "$@" -e "s/base_ms = 5; p99_ms = 200; tail_rate = 0.001/base_ms = $((branch_ms / 2)); p99_ms = $((branch_ms / 2)); tail_rate = 0/" \
		-e 's/timeout_ms = 250;/timeout_ms = 20000;/' -e "s/drain_ms = 10000;/drain_ms = $drain_ms;/"
}

# drain_py SCRIPT: runs python with rawhttp; FOD_PID is the daemon to stop.
drain_py() {
	PORT=$PORT FOD_PID=$FOD_PID PYTHONPATH="$SRCDIR/tests/integration" timeout 60 python3 -c "$1" ||
		fail "see above"
	# The script sent SIGTERM and saw the process end: reap it, it must exit 0.
	local rc=0
	wait "$FOD_PID" || rc=$?
	FOD_PID=
	[ "$rc" -eq 0 ] || fail "fanoutd exited $rc after SIGTERM"
}

common='
import os, signal, socket, threading, time
from rawhttp import *

pid = int(os.environ["FOD_PID"])

def exited():
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] in "ZX"
    except (FileNotFoundError, ProcessLookupError):  # gone, or going while we read
        return True

def refused():
    try:
        connect(timeout=0.5).close()
        return False
    except (ConnectionRefusedError, ConnectionResetError):  # reset: it met the listener closing
        return True

def in_flight(n):
    wait_for(f"{n} branches in flight", lambda: metric("fanoutd_branches_in_flight") == n)
'

# ---- drain_ms = 10 s, requests of 1.5 s: everything must end long before the 10 s.
start_fanoutd "$(slow_config 1500 10000)"
drain_py "$common"'
def test():
    idle = connect()
    idle.sendall(request("/healthz"))
    idle_reader = Reader(idle)
    if idle_reader.response().status != 200:
        fail("healthz")

    # Steady keep-alive traffic: each client sends its next request as soon as
    # it has an answer, for as long as the server keeps the connection.
    clients, results = 3, {}
    def client(i):
        s = connect(timeout=15)
        r, answers = Reader(s), []
        try:
            for n in range(20):
                s.sendall(request(f"/product/{i * 100 + n}?budget_ms=15000"))
                a = r.response()
                answers.append(a)
                if a.header("connection") == "close":
                    results[i] = (answers, r.eof(), time.monotonic())
                    return
            results[i] = (answers, "still serving after 20 requests", time.monotonic())
        except (EOFError, Fail) as e:
            results[i] = (answers, f"cut: {e}", time.monotonic())
        finally:
            s.close()
    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    for t in threads:
        t.start()
    # A request still being sent when SIGTERM comes is in progress too: it is finished.
    partial = connect(timeout=15)
    partial.sendall(b"GET /product/5?budget_ms=15000 HTTP/1.1\r\nHost: x\r\n")
    in_flight(5 * clients)

    t0 = time.monotonic()
    os.kill(pid, signal.SIGTERM)
    # The idle keep-alive connection is closed at once, not kept for a next request.
    idle.settimeout(1.0)
    if not idle_reader.eof():
        fail("the idle keep-alive connection got bytes instead of EOF")
    ok(f"idle keep-alive connection closed {time.monotonic() - t0:.3f} s after SIGTERM")
    # New connects are refused (the listener is closed), while requests are still in flight.
    wait_for("new connects refused", refused, timeout=1.0)
    ok(f"new connects refused {time.monotonic() - t0:.3f} s after SIGTERM")
    partial.sendall(b"\r\n")
    r = Reader(partial)
    a = r.response()
    if a.status != 200 or a.header("connection") != "close" or not r.eof():
        fail(f"the request sent across SIGTERM: {a.status} {a.headers}")
    partial_end = time.monotonic()
    ok("a request half-sent at SIGTERM, finished during the drain: 200 with Connection: close")

    for t in threads:
        t.join(20)
    for i in range(clients):
        answers, closed, t_end = results[i]
        if closed is not True:
            fail(f"client {i}: {closed} ({len(answers)} answers)")
        if [a.status for a in answers] != [200] * len(answers) or len(answers) != 1:
            fail(f"client {i}: answers {[a.status for a in answers]}: want the one in flight")
    ok(f"{clients} keep-alive clients: the request in flight answered 200 with Connection: close, then EOF")

    wait_for("the process to exit", exited, timeout=5.0, every=0.005)
    after = time.monotonic() - max([partial_end] + [r[2] for r in results.values()])
    took = time.monotonic() - t0
    # Bounds with room for sanitizers (TSan alone sleeps 1 s at exit), far from drain_ms.
    if after > 2.0 or took > 4.0:
        fail(f"exited {after:.3f} s after the last answer, {took:.3f} s after SIGTERM")
    ok(f"exited {took:.3f} s after SIGTERM ({after:.3f} s after the last answer), drain_ms is 10 s")
main(test)
'

# ---- drain_ms = 500 ms, requests of 3 s: what is still in flight gets a 503,
# counted and logged as 503; a client that left before is counted and logged
# as 499 (it got nothing), not as a downstream failure.
alog=$TMP/drain-access.log
start_fanoutd "$(slow_config 3000 500 -e "s|policy = \"besteffort\";|policy = \"besteffort\"; access_log = \"$alog\";|")"
drain_py "$common"'
def test():
    code = lambda c: metric(f"fanoutd_http_responses_total{{route=\"product\",code=\"{c}\"}}") or 0
    gone = connect(timeout=10)
    gone.sendall(request("/product/10?budget_ms=15000"))
    in_flight(5)
    gone.close()
    in_flight(0)
    wait_for("the left request counted 499", lambda: code(499) == 1)
    if code(502) or code(504):
        fail(f"a client that left counted as 502 ({code(502)}) or 504 ({code(504)})")
    ok("a client gone mid-request: counted 499, no 502/504")
    s = connect(timeout=10)
    s.sendall(request("/product/9?budget_ms=15000"))
    # A request whose headers are still arriving is in progress too.
    partial = connect(timeout=10)
    partial.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
    in_flight(5)
    t0 = time.monotonic()
    os.kill(pid, signal.SIGTERM)
    for name, sock in (("in flight", s), ("half-sent", partial)):
        r = Reader(sock)
        a = r.response()
        took = time.monotonic() - t0
        if a.status != 503 or a.header("connection") != "close":
            fail(f"{name}: {a.status} {a.headers}, want 503 with Connection: close")
        if "drain" not in a.json()["error"]:
            fail(f"{name}: body {a.body!r}")
        if took > 2.0:
            fail(f"{name}: the 503 came {took:.3f} s after SIGTERM, drain_ms is 0.5 s")
        if not r.eof():
            fail(f"{name}: more bytes after the 503")
        ok(f"{name} at drain_ms: 503 with Connection: close after {took:.3f} s, then EOF")
    wait_for("the process to exit", exited, timeout=3.0, every=0.005)
    ok(f"exited {time.monotonic() - t0:.3f} s after SIGTERM")
main(test)
'
grep -q " route=product id=10 status=499 " "$alog" || fail "the left request's access line: $(cat "$alog")"
grep -q " route=product id=9 status=503 " "$alog" || fail "the 503 at drain_ms logged otherwise: $(cat "$alog")"
pass "access log: the client that left as status=499, the request cut at drain_ms as status=503"

# ---- a request still arriving holds the drain (nothing else in flight): it
# runs into header_timeout_ms (1 s) and gets its 408, not an EOF at SIGTERM.
start_fanoutd "$(slow_config 1500 10000 -e 's/header_timeout_ms = 10000;/header_timeout_ms = 1000;/')"
drain_py "$common"'
def test():
    s = connect(timeout=10)
    # Once sent on loopback the bytes are with the daemon, read yet or not.
    s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
    t0 = time.monotonic()
    os.kill(pid, signal.SIGTERM)
    r = Reader(s)
    a = r.response()
    took = time.monotonic() - t0
    if a.status != 408 or a.header("connection") != "close" or not r.eof():
        fail(f"half-sent request: {a.status} {a.headers}, want 408 with Connection: close")
    ok(f"half-sent at SIGTERM: waited for, 408 at header_timeout_ms ({took:.3f} s), then EOF")
    wait_for("the process to exit", exited, timeout=3.0, every=0.005)
    ok(f"exited {time.monotonic() - t0:.3f} s after SIGTERM")
main(test)
'
