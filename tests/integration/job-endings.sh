#!/usr/bin/env bash
# How jobs end, and what the client and the log are told.
#
# 1. SIGTERM drains job rows like HTTP requests: rows in flight finish within
#    shutdown.drain_ms (ok, not cancelled), no further task frame is taken, each
#    row's result is sent, and the summary (status 6) says the job ended because of
#    the shutdown. Rows longer than drain_ms are cancelled at drain_ms, each with its
#    result, then the summary. (Regression: SIGTERM cancelled every row at once.)
# 2. Each job's open and close are logged as a pair, exactly once each, whatever
#    ended it: job.close, job.cancel, its client leaving, the shutdown.
#    (Regression: a job whose client left logged no close.)
. "$SRCDIR/tests/integration/lib.sh"

# quick: rows of ~300 ms (sim: 2 x base at the median); long: rows of ~4 s.
routes='s|^routes = (|routes = (\
  { name = "quick"; job = "quick"; policy = "collectall"; budget_ms = 20000;\
    sim = { base_ms = 150; p99_ms = 150; tail_rate = 0.0; };\
    branches = ( { name = "x"; downstream = "sim"; timeout_ms = 20000; }, { name = "y"; downstream = "sim"; timeout_ms = 20000; } ); },\
  { name = "long"; job = "long"; policy = "collectall"; budget_ms = 20000;\
    sim = { base_ms = 2000; p99_ms = 2000; tail_rate = 0.0; };\
    branches = ( { name = "x"; downstream = "sim"; timeout_ms = 20000; }, { name = "y"; downstream = "sim"; timeout_ms = 20000; } ); },|'
export PYTHONPATH="$SRCDIR/tests/integration"

# wait_exit: the daemon, signalled by the client script, must exit 0 on its own.
wait_exit() {
	local rc=0
	wait "$FOD_PID" || rc=$?
	FOD_PID=
	[ "$rc" = 0 ] || fail "fanoutd exited $rc after SIGTERM"
}

# log_pairs ID...: each job id has exactly one "opened" and one "closed" line.
log_pairs() {
	local id opened closed
	for id in "$@"; do
		opened=$(grep -c "^<6>job $id opened: " "$TMP/fanoutd.log" || true)
		closed=$(grep -c "^<6>job $id closed (" "$TMP/fanoutd.log" || true)
		[ "$opened" = 1 ] && [ "$closed" = 1 ] ||
			fail "job $id: $opened 'opened' and $closed 'closed' log lines, want 1 and 1"
	done
}

# ---- close, cancel, disconnect, then shutdown with rows shorter than drain_ms
conf=$(make_config -e 's|mode = "0660";|mode = "0600";|' -e 's|drain_ms = 10000;|drain_ms = 5000;|' -e "$routes")
start_fanoutd "$conf"
python3 - "$TMP/api.sock" "$FOD_PID" >"$TMP/out" 2>&1 <<'PY' || fail "job endings: $(cat "$TMP/out")"
import os, signal, sys, time
from jobclient import Conn, call
sock, pid = sys.argv[1], int(sys.argv[2])

def open_job(kind, **kw):
    c = Conn(sock, timeout=20)
    r = c.call({"op": "job.open", "kind": kind, **kw})
    assert r["status"] == 0, r
    return c, r["data"]["job"]

def until(what, pred, secs=10):
    deadline = time.monotonic() + secs
    while not (v := pred()):
        assert time.monotonic() < deadline, what
        time.sleep(0.01)
    return v

def job_row(job):
    return next((j for j in call(sock, {"op": "jobs"})["data"] if j["job"] == job), None)

def gone(job):
    return job_row(job) is None

def read_to_summary(c):
    results = []
    while "status" not in (f := c.recv()):
        results.append(f)
    return results, f

ids = []
# job.close
c, job = open_job("quick")
for i in range(1, 11):
    c.send({"id": i, "payload": b"p"})
c.send({"op": "job.close"})
results, s = read_to_summary(c)
assert s["status"] == 0 and s["data"]["ended"] == "closed" and len(results) == 10, s
c.close(); ids.append(job)
# job.cancel
c, job = open_job("long")
for i in range(1, 11):
    c.send({"id": i, "payload": b"p"})
until("10 rows in flight", lambda: (job_row(job) or {}).get("in_flight") == 10)
assert call(sock, {"op": "job.cancel", "job": job})["status"] == 0
results, s = read_to_summary(c)
assert s["status"] == 6 and s["data"]["ended"] == "cancelled" and s["data"]["cancelled"] == 10, s
c.close(); ids.append(job)
# the client leaves
c, job = open_job("long")
for i in range(1, 11):
    c.send({"id": i, "payload": b"p"})
until("10 rows in flight", lambda: (job_row(job) or {}).get("in_flight") == 10)
c.close()
until("the abandoned job gone", lambda: gone(job))
ids.append(job)

# Shutdown with 200 rows of ~300 ms in flight, drain_ms 5000.
c, job = open_job("quick", limit=1000)
for i in range(1, 201):
    c.send({"id": i, "payload": b"p"})
until("200 rows in flight", lambda: (job_row(job) or {}).get("in_flight") == 200)
t0 = time.monotonic()
os.kill(pid, signal.SIGTERM)
# The API listener closes (and its socket goes) when the shutdown begins: from then
# on, task frames are not taken.
until("the API socket removed", lambda: not os.path.exists(sock), 5)
for i in range(201, 251):
    c.send({"id": i, "payload": b"p"})
results, s = read_to_summary(c)
took = time.monotonic() - t0
outcomes = sorted({r["outcome"] for r in results})
assert sorted(r["id"] for r in results) == list(range(1, 201)), (len(results), outcomes)
assert outcomes == ["ok"], outcomes
d = s["data"]
assert s["status"] == 6 and d["ended"] == "shutdown" and "shutdown" in s["msg"], s
assert d["rows"] == d["ok"] == 200 and d["cancelled"] == 0, d
assert took < 4.0, f"summary {took:.2f} s after SIGTERM: rows of ~0.3 s waited for drain_ms?"
ids.append(job)
print(" ".join(map(str, ids)), f"{took:.2f}")
PY
read -r closed cancelled left shut took <"$TMP/out"
wait_exit
pass "SIGTERM with rows of ~0.3 s in flight (drain_ms 5000): 200 rows finished ok, 50 frames sent after it not taken, summary status 6 'ended: shutdown' after $took s, exit 0"
log_pairs "$closed" "$cancelled" "$left" "$shut"
for e in "$closed closed (quick): closed" "$cancelled closed (long): cancelled" \
	"$left closed (long): disconnected" "$shut closed (quick): shutdown"; do
	grep -q "^<6>job $e;" "$TMP/fanoutd.log" || fail "no log line 'job $e'"
done
pass "jobs ended by close, cancel, disconnect and shutdown: one open and one close line each, naming the ending"

# ---- shutdown with rows longer than drain_ms: cancelled at drain_ms
conf=$(make_config -e 's|mode = "0660";|mode = "0600";|' -e 's|drain_ms = 10000;|drain_ms = 500;|' -e "$routes")
start_fanoutd "$conf"
python3 - "$TMP/api.sock" "$FOD_PID" >"$TMP/out" 2>&1 <<'PY' || fail "drain cut: $(cat "$TMP/out")"
import os, signal, sys, time
from jobclient import Conn, call
sock, pid = sys.argv[1], int(sys.argv[2])
c = Conn(sock, timeout=20)
r = c.call({"op": "job.open", "kind": "long"})
assert r["status"] == 0, r
job = r["data"]["job"]
for i in range(1, 101):
    c.send({"id": i, "payload": b"p"})
deadline = time.monotonic() + 10
while call(sock, {"op": "jobs"})["data"][0]["in_flight"] != 100:
    assert time.monotonic() < deadline
    time.sleep(0.01)
t0 = time.monotonic()
os.kill(pid, signal.SIGTERM)
results = []
while "status" not in (f := c.recv()):
    results.append(f)
took = time.monotonic() - t0
assert sorted(r["id"] for r in results) == list(range(1, 101)), len(results)
assert {r["outcome"] for r in results} == {"cancelled"}, {r["outcome"] for r in results}
d = f["data"]
assert f["status"] == 6 and d["ended"] == "shutdown" and d["cancelled"] == 100, f
assert "drain_ms" in f["msg"], f["msg"]
# Cut at drain_ms (0.5 s), long before the rows' ~4 s.
assert 0.45 <= took < 3.0, f"summary {took:.2f} s after SIGTERM"
print(job, f"{took:.2f}")
PY
read -r job took <"$TMP/out"
wait_exit
log_pairs "$job"
grep -q "^<6>job $job closed (long): shutdown;.* 100 cancelled" "$TMP/fanoutd.log" || fail "no close line for job $job"
pass "SIGTERM with rows of ~4 s (drain_ms 500): 100 rows cancelled at drain_ms, each with its result; summary 'ended: shutdown' after $took s; one open and one close log line"
