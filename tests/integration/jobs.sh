#!/usr/bin/env bash
# Batch jobs over the socket (fanoutctl submit, a raw-socket client):
# unordered and ordered results, ids up to 2^64-1 kept exact, the outcome and
# exit status under collect-all and best-effort, a client that disconnects
# mid-job (its rows cancelled, branches back to 0 within 1 s), also while its
# job is at its limit and not being read, a client that stops reading (the
# daemon stops reading it: the writer blocks, memory stays flat), job cancel
# and SIGTERM with a job whose rows outlast shutdown.drain_ms (its rows cancelled at
# drain_ms under every policy; job-endings.sh has rows that finish within it).
. "$SRCDIR/tests/integration/lib.sh"

# Extra job routes: echo (instant), slow (every call 3 s), flaky (half the calls fail),
# flaky2 (two such branches).
conf=$(make_config -e 's|mode = "0660";|mode = "0666";|' -e 's|drain_ms = 10000;|drain_ms = 1000;|' -e 's|^routes = (|routes = (\
  { name = "echo"; job = "echo"; policy = "collectall"; limiter = "downstreams";\
    branches = ( { name = "a"; downstream = "echo"; }, { name = "b"; downstream = "echo"; } ); },\
  { name = "slow"; job = "slow"; policy = "collectall"; budget_ms = 20000; limiter = "downstreams";\
    sim = { base_ms = 3000; p99_ms = 3000; tail_rate = 0.0; };\
    branches = ( { name = "x"; downstream = "sim"; timeout_ms = 20000; }, { name = "y"; downstream = "sim"; timeout_ms = 20000; } ); },\
  { name = "flaky"; job = "flaky"; policy = "collectall"; limiter = "downstreams";\
    sim = { base_ms = 1; p99_ms = 2; tail_rate = 0.0; err_rate = 0.5; };\
    branches = ( { name = "f"; downstream = "sim"; } ); },\
  { name = "flaky2"; job = "flaky2"; policy = "collectall"; limiter = "downstreams";\
    sim = { base_ms = 1; p99_ms = 2; tail_rate = 0.0; err_rate = 0.5; };\
    branches = ( { name = "f"; downstream = "sim"; }, { name = "g"; downstream = "sim"; } ); },|')
start_fanoutd "$conf"
ctl() { "$FANOUTCTL" -s "$TMP/api.sock" "$@"; }
gen() { "$FANOUT_GEN" --seed 7 "$@"; }
status_field() { ctl --json status | python3 -c "import json,sys; print(json.load(sys.stdin)['$1'])"; }

# Unordered: every row exactly once, each with both branch values.
gen --count 20000 --kind echo >"$TMP/tasks"
ctl submit -i "$TMP/tasks" -o "$TMP/out" 2>"$TMP/err" || fail "echo job: $(cat "$TMP/err")"
[ "$(wc -l <"$TMP/out")" = 20000 ] || fail "echo job: $(wc -l <"$TMP/out") results"
python3 - "$TMP/out" <<'PY' || fail "echo results"
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
assert sorted(r["id"] for r in rows) == list(range(1, 20001))
assert all(r["outcome"] == "ok" and len(r["branches"]["a"]["value"]) == 32 for r in rows)
PY
grep -q "20000 rows: 20000 ok, 0 degraded, 0 failed" "$TMP/err" || fail "summary: $(cat "$TMP/err")"
[ "$(metric 'fanoutd_job_rows_total{outcome="ok"}')" = 20000 ] ||
	fail "fanoutd_job_rows_total{outcome=\"ok\"}: $(metric 'fanoutd_job_rows_total{outcome="ok"}')"
pass "echo job: 20,000 rows, each once, with its values; summary; exit 0"

# On a terminal, submit shows progress (done/total from fanout-gen's header, rate, ETA).
if have script "submit's progress line on a terminal"; then
	script -qec "$FANOUT_GEN --seed 7 --count 300000 --kind echo | $FANOUTCTL -s $TMP/api.sock submit -o /dev/null" \
		/dev/null >"$TMP/tty" 2>&1 || fail "submit on a tty: $(cat "$TMP/tty")"
	grep -q "rows (.*%) .* rows/s  ETA" "$TMP/tty" || fail "no progress line on a tty: $(cat "$TMP/tty")"
	pass "submit on a terminal: progress line with total, rate and ETA"
fi

# Ids are unsigned 64-bit on the wire: the largest come back as sent, never negative.
gen --count 3 --kind echo --first-id 18446744073709551613 >"$TMP/bigids"
ctl submit -i "$TMP/bigids" -o "$TMP/bigout" 2>"$TMP/err" || fail "big ids: $(cat "$TMP/err")"
ctl submit --raw -i "$TMP/bigids" -o "$TMP/bigraw" 2>"$TMP/err" || fail "big ids raw: $(cat "$TMP/err")"
python3 - "$TMP/bigout" "$TMP/bigraw" <<'PY' || fail "big ids: $(cat "$TMP/bigout")"
import json, struct, sys
ids = sorted(json.loads(l)["id"] for l in open(sys.argv[1]))
assert ids == [2**64 - 3, 2**64 - 2, 2**64 - 1], ids
raw, wire = open(sys.argv[2], "rb").read(), []
while raw:   # each result frame begins {"id": <uint64>: 0xcf and 8 big-endian bytes}
    n = struct.unpack(">I", raw[:4])[0]; f = raw[4:4 + n]; raw = raw[4 + n:]
    assert f[1:5] == b"\xa2id\xcf", f[:12]
    wire.append(struct.unpack(">Q", f[5:13])[0])
assert sorted(wire) == ids, wire
PY
pass "ids 2^64-3 .. 2^64-1: sent as uint64 by the daemon, printed exactly by fanoutctl"

# Ordered: results in input order, though rows finish out of order (sim latencies).
gen --count 3000 --kind enrich | ctl submit --ordered --limit 500 --policy besteffort >"$TMP/ordered" 2>"$TMP/err" ||
	fail "ordered job: $(cat "$TMP/err")"
python3 - "$TMP/ordered" <<'PY' || fail "ordered results"
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
assert [r["id"] for r in rows] == list(range(1, 3001)), "out of order"
ms = [r["ms"] for r in rows]
assert any(ms[i] > ms[i + 1] for i in range(len(ms) - 1)), "rows never finished out of order"
PY
pass "ordered job: 3,000 results in input order (rows finished out of order)"

# Under a policy: collect-all with failing calls fails those rows and the job (exit 1); the
# summary counts them. Best-effort (below) accepts failed branches: such rows are degraded.
rc=0; gen --count 400 --kind flaky | ctl submit -o /dev/null 2>"$TMP/err" || rc=$?
[ "$rc" = 1 ] || fail "flaky collectall exit $rc: $(cat "$TMP/err")"
failed=$(sed -n 's/.* \([0-9]*\) failed,.*/\1/p' "$TMP/err")
[ "$failed" -gt 100 ] && [ "$failed" -lt 300 ] || fail "flaky: $failed failed of 400 at err_rate 0.5"
pass "collectall job with 50 % failing calls: $failed of 400 rows failed, exit 1"
# Best-effort: a row that lost any of its branches is degraded (never ok; best-effort fails no
# row), with two branches and with one; the summary counts what the rows say; exit 0.
gen --count 400 --kind flaky2 | ctl submit --policy besteffort -o "$TMP/be" 2>"$TMP/err" || true
python3 - "$TMP/be" "$TMP/err" <<'PY' || fail "besteffort flaky2: $(cat "$TMP/err")"
import json, re, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
assert len(rows) == 400, len(rows)
count = {}
for r in rows:
    bad = sum(b["outcome"] != "ok" for b in r["branches"].values())
    want = "degraded" if bad else "ok"
    assert r["outcome"] == want, (r, want)
    count[want] = count.get(want, 0) + 1
assert count.get("degraded", 0) > 100, count
summary = open(sys.argv[2]).read()
m = re.search(r"(\d+) ok, (\d+) degraded, (\d+) failed", summary)
assert m and (int(m[1]), int(m[2]), int(m[3])) == (count.get("ok", 0), count["degraded"], 0), (summary, count)
PY
rc=0; gen --count 200 --kind flaky | ctl submit --policy besteffort -o "$TMP/be1" 2>"$TMP/err" || rc=$?
degraded=$(sed -n 's/.* \([0-9]*\) degraded,.*/\1/p' "$TMP/err")
bad=$(grep -c '"f":{"outcome":"error"' "$TMP/be1" || true)
[ "$rc" = 0 ] && [ "$degraded" -gt 30 ] && [ "$degraded" = "$bad" ] && grep -q " 0 failed," "$TMP/err" ||
	fail "besteffort flaky (one branch): exit $rc, $bad rows with a failed branch, $(cat "$TMP/err")"
pass "besteffort: every row with a failed branch is degraded (two branches and one: $degraded of 200), summary agrees, exit 0"
rc=0; out=$(ctl submit --kind nosuch -i /dev/null 2>&1) || rc=$?
[ "$rc" = 1 ] && echo "$out" | grep -q "no job kind 'nosuch'" || fail "unknown kind: $rc $out"
pass "unknown kind refused (exit 1)"

# A client that disconnects mid-job: every row it left is cancelled.
gen --count 2000 --kind slow >"$TMP/slow"
python3 - "$TMP/api.sock" "$TMP/slow" <<'PY' || fail "disconnect client"
import socket, struct, sys
s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1])
req = b"\x83\xa2op\xa8job.open\xa4kind\xa4slow\xa5limit\xcd\x03\xe8"   # {op, kind: slow, limit: 1000}
s.sendall(struct.pack(">I", len(req)) + req)
n = struct.unpack(">I", s.recv(4))[0]; reply = s.recv(n)
assert b"job open" in reply, reply
data = open(sys.argv[2], "rb").read()
first = 4 + struct.unpack(">I", data[:4])[0]      # skip fanout-gen's header frame
s.sendall(data[first:])
s.close()                                          # gone, rows in flight
PY
# The rows were admitted before the close: they would hold their branches for 3 s.
ok=0
for _ in $(seq 100); do
	b=$(status_field branches_in_flight)
	r=$(status_field rows_in_flight)
	[ "$b" = 0 ] && [ "$r" = 0 ] && { ok=1; break; }
	sleep 0.01
done
[ "$ok" = 1 ] || fail "1 s after the disconnect: $b branches, $r rows still in flight"
ctl jobs | grep -q "(none)" || fail "job still listed after its client left: $(ctl jobs)"
cancelled=$(curl -fs "$(url /metrics)" | awk -F' ' '/^fanoutd_branch_outcomes_total\{route="slow",branch="x",outcome="cancelled"\}/ {print $2}')
[ "${cancelled:-0}" -gt 0 ] || fail "no cancelled branches recorded for the slow job"
pass "disconnect mid-job: $cancelled x-branches cancelled, branches and rows back to 0 within 1 s"

# A client that disconnects while its job is at its limit (the daemon is not reading it): the
# hang-up is noticed at once, not when a row frees room 3 s later; its rows are cancelled.
python3 - "$TMP/api.sock" "$TMP/slow" "$FANOUTCTL" <<'PY' || fail "disconnect at the limit"
import json, socket, struct, subprocess, sys, time
def rows_in_flight():   # a raw status call: quicker than fanoutctl, so the clock is honest
    c = socket.socket(socket.AF_UNIX); c.connect(sys.argv[1])
    q = b"\x81\xa2op\xa6status"
    c.sendall(struct.pack(">I", len(q)) + q)
    n = struct.unpack(">I", c.recv(4))[0]; b = b""
    while len(b) < n: b += c.recv(n - len(b))
    c.close()
    i = b.index(b"\xaerows_in_flight") + 15   # a positive fixint, or 0xcc/0xcd + bytes
    return b[i] if b[i] < 0x80 else int.from_bytes(b[i + 1:i + 1 + {0xcc: 1, 0xcd: 2}[b[i]]], "big")
s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1])
req = b"\x83\xa2op\xa8job.open\xa4kind\xa4slow\xa5limit\x0a"   # {op, kind: slow, limit: 10}
s.sendall(struct.pack(">I", len(req)) + req)
n = struct.unpack(">I", s.recv(4))[0]; reply = s.recv(n)
assert b"job open" in reply, reply
data = open(sys.argv[2], "rb").read()
s.sendall(data[4 + struct.unpack(">I", data[:4])[0]:][:20000])   # far more than 10 rows
deadline = time.monotonic() + 10
while True:   # the job holds its 10 rows: the daemon has stopped reading this socket
    jobs = json.loads(subprocess.check_output([sys.argv[3], "-s", sys.argv[1], "--json", "jobs"]))
    if jobs and jobs[0]["in_flight"] == 10 and jobs[0]["rows_in"] == 10:
        break
    assert time.monotonic() < deadline, jobs
    time.sleep(0.02)
s.close()
closed = time.monotonic()
while (r := rows_in_flight()) != 0:
    assert time.monotonic() - closed < 1.0, f"1 s after a disconnect at the limit: {r} rows still in flight"
    time.sleep(0.01)
print(f"{time.monotonic() - closed:.3f}")
PY
ctl jobs | grep -q "(none)" || fail "job at its limit still listed after its client left: $(ctl jobs)"
pass "disconnect while the job is at its limit: its 10 rows cancelled within 1 s"

# A client that writes and never reads: the daemon stops reading it, its writes block,
# the daemon's memory stays flat.
rss() { awk '/^VmRSS/ {print $2}' "/proc/$FOD_PID/status"; }
before=$(rss)
gen --count 400000 --kind echo >"$TMP/many"
python3 - "$TMP/api.sock" "$TMP/many" "$FOD_PID" <<'PY' >"$TMP/bp" || fail "backpressure client: $(cat "$TMP/bp")"
import socket, struct, sys, time
s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1])
req = b"\x84\xa2op\xa8job.open\xa4kind\xa4echo\xa5limit\xcc\x64\xa6window\xcc\x64"  # limit 100, window 100
s.sendall(struct.pack(">I", len(req)) + req)
n = struct.unpack(">I", s.recv(4))[0]; s.recv(n)
data = open(sys.argv[2], "rb").read()
data = data[4 + struct.unpack(">I", data[:4])[0]:]
s.setblocking(False)
sent, stalled_since = 0, None
def rss():
    return int([l for l in open("/proc/%s/status" % sys.argv[3]) if l.startswith("VmRSS")][0].split()[1])
samples = []
while True:   # write as fast as the socket takes it; never read
    try:
        sent += s.send(data[sent:sent + 65536])
        stalled_since = None
    except BlockingIOError:
        # The daemon fills its bounded buffers first; then it must stay put.
        stalled_since = stalled_since or time.monotonic()
        stalled = time.monotonic() - stalled_since
        if stalled > 2.0:
            break
        if stalled > 0.5:
            samples.append(rss())
        time.sleep(0.05)
    if sent >= len(data):
        break
print(sent, len(data), min(samples) if samples else 0, max(samples) if samples else 0)
s.close()
PY
read -r sent total lo hi <"$TMP/bp"
[ "$sent" -lt "$total" ] || fail "the writer never blocked: $sent of $total bytes taken"
[ "$((hi - lo))" -lt 1024 ] || fail "RSS moved $lo..$hi KiB while the writer was blocked"
# (ASan's quarantine keeps freed memory: the absolute bound holds in plain builds only.)
[ -n "${SANITIZED:-}" ] || [ "$((hi - before))" -lt 32768 ] || fail "RSS grew from $before to $hi KiB"
pass "non-reading client: writer blocked after $sent of $total bytes; RSS $lo..$hi KiB while blocked (started at $before)"
for _ in $(seq 100); do [ "$(status_field rows_in_flight)" = 0 ] && break; sleep 0.01; done

# job cancel: the submitter gets the summary with status cancelled and exits 1. Under
# best-effort (which returns 0 over lost branches) too: cancelled rows count as cancelled.
gen --count 100000 --kind slow | ctl submit --policy besteffort -o /dev/null 2>"$TMP/cerr" &
sub=$!
id=
for _ in $(seq 200); do
	id=$(ctl --json jobs | python3 -c 'import json,sys; j=json.load(sys.stdin); print(j[0]["job"] if j and j[0]["in_flight"] else "")')
	[ -n "$id" ] && break
	sleep 0.05
done
[ -n "$id" ] || fail "the submitted job never showed in jobs"
ctl job cancel "$id" >/dev/null || fail "job cancel $id"
rc=0; wait "$sub" || rc=$?
[ "$rc" = 1 ] && grep -q "CANCELLED" "$TMP/cerr" || fail "cancelled submit: exit $rc, $(cat "$TMP/cerr")"
grep -q " 0 degraded, .* [1-9][0-9]* cancelled" "$TMP/cerr" || fail "besteffort rows cancelled by job.cancel not counted cancelled: $(cat "$TMP/cerr")"
[ "$(status_field rows_in_flight)" = 0 ] || fail "rows left after job cancel"
pass "job cancel $id (besteffort): submitter told (CANCELLED, exit 1), rows counted cancelled, back to 0"

# SIGTERM with a job running whose rows (6 s) outlast drain_ms (1 s): they are cancelled at
# drain_ms, its client told, exit 0.
gen --count 100000 --kind slow | ctl submit --policy besteffort -o /dev/null 2>"$TMP/terr" &
sub=$!
for _ in $(seq 200); do [ "$(status_field rows_in_flight)" -gt 0 ] && break; sleep 0.05; done
stop_fanoutd
rc=0; wait "$sub" || rc=$?
[ "$rc" = 1 ] && grep -q "CANCELLED" "$TMP/terr" && grep -q "job ended by shutdown" "$TMP/terr" ||
	fail "submit across SIGTERM: exit $rc, $(cat "$TMP/terr")"
grep -q " 0 degraded, .* [1-9][0-9]* cancelled" "$TMP/terr" || fail "besteffort rows cancelled by shutdown not counted cancelled: $(cat "$TMP/terr")"
pass "SIGTERM mid-job, rows longer than drain_ms (besteffort): client told (CANCELLED, ended by shutdown), rows counted cancelled, daemon exit 0"
