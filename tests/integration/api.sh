#!/usr/bin/env bash
# The admin socket API and fanoutctl: every op, access levels (an unprivileged
# peer is refused operator/admin ops before they run), malformed and oversized
# frames, string arguments of the wrong type or too long refused (never
# replaced by a default), a live limit change seen in /metrics, an aimd limit
# out of its range clamped and said so, a synchronous reload that fails with
# file:line.
. "$SRCDIR/tests/integration/lib.sh"

conf=$(make_config -e 's|mode = "0660";|mode = "0666";|')
start_fanoutd "$conf"
ctl() { "$FANOUTCTL" -s "$TMP/api.sock" "$@"; }

ctl status | grep -q "^generation *1$" || fail "status: $(ctl status)"
ctl --json status | grep -q '"branches_in_flight":0' || fail "status --json"
ctl stats | grep -q "^reloads_ok" || fail "stats"
ctl --json modules | grep -q '"name":"aimd","type":"limiter"' || fail "modules: $(ctl --json modules)"
ctl limits | grep -q "^downstreams *aimd *2000" || fail "limits: $(ctl limits)"
ctl limit get downstreams | grep -q "^limit *2000$" || fail "limit get"
ctl jobs | grep -q "(none)" || fail "jobs: $(ctl jobs)"
curl -fs "$(url /product/1)" >/dev/null
ctl --json branches 2>/dev/null | grep -q '"route":"product","branch":"price","count":1' ||
	fail "branches: $(ctl --json branches)"
pass "status, stats, modules, limits, limit get, jobs, branches"

# drain: new requests get 503, /readyz too (for load balancers), /healthz stays 200
# (alive: nothing a restart would cure); --off serves again
ctl drain | grep -q "^draining *yes" || fail "drain: $(ctl drain)"
read -r code _ <<<"$(get /product/2)"
[ "$code" = 503 ] || fail "drained but /product answered $code"
read -r code body <<<"$(get /readyz)"
[ "$code" = 503 ] && echo "$body" | grep -q draining || fail "drained readyz: $code $body"
read -r code body <<<"$(get /healthz)"
[ "$code" = 200 ] || fail "drained healthz: $code $body"
ctl drain --off | grep -q "^draining *no" || fail "drain --off"
read -r code _ <<<"$(get /product/2)"
[ "$code" = 200 ] || fail "after drain --off: $code"
pass "drain: 503 for requests and /readyz, /healthz 200; drain --off serves again"

ctl limit set downstreams 1234 >/dev/null || fail "limit set"
[ "$(metric 'fanoutd_limiter_limit{limiter="downstreams"}')" = 1234 ] || fail "limit not live in /metrics"
pass "limit set 1234: visible in /metrics at once"
rc=0; out=$(ctl limit set nosuch 5 2>&1) || rc=$?
[ "$rc" = 1 ] && echo "$out" | grep -q "no limiter named 'nosuch'" || fail "unknown limiter: $rc $out"
rc=0; out=$(ctl limit set downstreams 0 2>&1) || rc=$?
[ "$rc" = 1 ] || fail "limit 0 accepted: $out"
pass "bad limit set refused (exit 1, reason on stderr)"
# downstreams is aimd with initial 2000: its range is 1..20000 (max = initial x 10).
rc=0; out=$(ctl limit set downstreams 50000 2>&1) || rc=$?
[ "$rc" = 0 ] && echo "$out" | grep -q "limit 50000 is above the range of limiter 'downstreams' (aimd): set to its maximum, 20000" ||
	fail "aimd limit over its max: $rc $out"
[ "$(metric 'fanoutd_limiter_limit{limiter="downstreams"}')" = 20000 ] || fail "clamped limit not live"
ctl limit set downstreams 1234 >/dev/null 2>"$TMP/err" && [ ! -s "$TMP/err" ] || fail "in-range limit: $(cat "$TMP/err")"
pass "aimd limit set over its max: clamped to 20000, said on stderr, exit 0"
# Job ids are unsigned 64-bit: the largest is looked up as itself; "-1" and 2^64 are not ids.
rc=0; out=$(ctl job cancel 18446744073709551615 2>&1) || rc=$?
[ "$rc" = 1 ] && echo "$out" | grep -q "no job 18446744073709551615" || fail "job cancel 2^64-1: $rc $out"
for bad in -1 18446744073709551616; do
	rc=0; out=$(ctl job cancel "$bad" 2>&1) || rc=$?
	[ "$rc" = 2 ] && echo "$out" | grep -q "a job id is a positive integer, not '$bad'" || fail "job cancel $bad: $rc $out"
done
pass "job cancel: id 2^64-1 looked up as itself; -1 and 2^64 refused as usage errors"

out=$(ctl reload) || fail "reload: $out"
echo "$out" | grep -q "^generation *2$" || fail "reload output: $out"
sed -i 's/budget_ms = 300;/budget_ms = ;/' "$conf"
rc=0; out=$(ctl reload 2>&1) || rc=$?
[ "$rc" = 1 ] && echo "$out" | grep -q "fanoutd.conf:[0-9]*: syntax error" || fail "bad reload: $rc $out"
read -r code _ <<<"$(get /product/1)"
[ "$code" = 200 ] || fail "not serving after a refused reload"
pass "reload is synchronous: generation 2; a broken config fails with file:line, exit 1"

# An unprivileged peer: read-only ops only, refused before anything runs.
if have setpriv "access levels of an unprivileged peer"; then
	chmod 0755 "$TMP" # the peer must reach the socket (its mode, 0666 here, is the gate)
	as_nobody() { setpriv --reuid=65534 --regid=65534 --clear-groups "$FANOUTCTL" -s "$TMP/api.sock" "$@"; }
	as_nobody status >/dev/null || fail "nobody cannot read status"
	before=$(metric 'fanoutd_limiter_limit{limiter="downstreams"}')
	rc=0; out=$(as_nobody limit set downstreams 7 2>&1) || rc=$?
	[ "$rc" = 1 ] && echo "$out" | grep -q "needs the operator level; this peer has user" || fail "nobody: $rc $out"
	rc=0; out=$(as_nobody reload 2>&1) || rc=$?
	[ "$rc" = 1 ] && echo "$out" | grep -q "needs the admin level" || fail "nobody reload: $rc $out"
	[ "$(metric 'fanoutd_limiter_limit{limiter="downstreams"}')" = "$before" ] || fail "a refused op ran"
	for op in "drain" "job cancel 1"; do
		rc=0; out=$(as_nobody $op 2>&1) || rc=$?
		[ "$rc" = 1 ] && echo "$out" | grep -q "needs the operator level" || fail "nobody $op: $rc $out"
	done
	read -r code _ <<<"$(get /readyz)"
	[ "$code" = 200 ] || fail "a refused drain drained"
	as_nobody jobs >/dev/null || fail "nobody cannot list jobs"
	pass "uid 65534: status and jobs allowed; limit set, drain, job cancel and reload forbidden, nothing changed"

	# Jobs take limiter capacity: a reader may not run one; api.job_group grants it, nothing more.
	"$FANOUT_GEN" --seed 1 --count 10 --kind enrich >"$TMP/rows"
	chmod 0644 "$TMP/rows"
	rc=0; out=$(as_nobody submit -i "$TMP/rows" -o /dev/null 2>&1) || rc=$?
	[ "$rc" != 0 ] && echo "$out" | grep -q "needs the job level; this peer has user" ||
		fail "nobody submit: $rc $out"
	[ "$(ctl --json jobs)" = "[]" ] || fail "a refused job.open opened a job: $(ctl --json jobs)"
	sed -i -e 's/budget_ms = ;/budget_ms = 300;/' \
		-e 's|job_group = "";|job_group = "nogroup";|' "$conf"
	ctl reload >/dev/null || fail "reload with api.job_group"
	out=$(as_nobody submit -i "$TMP/rows" -o /dev/null 2>&1) || fail "nobody in api.job_group: $out"
	echo "$out" | grep -q "10 rows: 10 ok" || fail "nobody's job: $out"
	rc=0; out=$(as_nobody limit set downstreams 7 2>&1) || rc=$?
	[ "$rc" = 1 ] && echo "$out" | grep -q "needs the operator level; this peer has job" ||
		fail "job_group member limit set: $rc $out"
	pass "job.open needs the job level: refused to a reader, allowed to api.job_group, which may not operate"
fi

# Bad frames: garbage msgpack, unknown op, oversized length (then the connection closes).
python3 - "$TMP/api.sock" <<'PY' || fail "bad frames"
import socket, struct, sys
def ask(payload, raw=False):
    s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1])
    s.sendall(payload if raw else struct.pack(">I", len(payload)) + payload)
    s.shutdown(socket.SHUT_WR)  # done asking: the daemon answers, then closes
    s.settimeout(10)
    n = struct.unpack(">I", s.recv(4))[0]; body = b""
    while len(body) < n: body += s.recv(n - len(body))
    rest = s.recv(1)  # b"": the daemon closed the stream
    s.close(); return body, rest
body, _ = ask(b"\xc1\xc1\xc1")                       # never-used msgpack byte
assert b"malformed frame" in body, body
body, _ = ask(b"\x81\xa2op\xa4nope")                  # {"op": "nope"}
assert body[body.index(b"status") + 6] == 2 and b"unknown op 'nope'" in body, body
body, rest = ask(struct.pack(">I", 50 << 20), raw=True)
assert b"outside [1, 1048576]" in body and rest == b"", (body, rest)
deep = b"\x91" * 20 + b"\xc0"                         # 20 nested arrays
body, _ = ask(b"\x82\xa2op\xa6status\xa1x" + deep)
assert b"too deep" in body, body
body, _ = ask(b"\x81\xdf\x7f\xff\xff\xff")          # a map header claiming 2^31 entries
assert b"malformed frame" in body, body
PY
ctl status >/dev/null || fail "the daemon is hurt after bad frames"
pass "malformed, unknown-op, oversized and too-deep frames: error replies; daemon unaffected"

# String arguments: present but not a string, or too long, is refused with the reason (status 1),
# never replaced by a default.
python3 - "$TMP/api.sock" <<'PY' || fail "bad string arguments"
import socket, struct, sys
def enc(v):   # the little msgpack these requests need
    if isinstance(v, bool): return b"\xc3" if v else b"\xc2"
    if isinstance(v, int): return bytes([v]) if v < 128 else b"\xcd" + struct.pack(">H", v)
    if isinstance(v, str):
        b = v.encode(); return (bytes([0xa0 | len(b)]) if len(b) < 32 else b"\xd9" + bytes([len(b)])) + b
    if isinstance(v, list): return bytes([0x90 | len(v)]) + b"".join(enc(x) for x in v)
    return bytes([0x80 | len(v)]) + b"".join(enc(k) + enc(x) for k, x in v.items())
def ask(req):
    s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); s.settimeout(10)
    f = enc(req); s.sendall(struct.pack(">I", len(f)) + f)
    n = struct.unpack(">I", s.recv(4))[0]; body = b""
    while len(body) < n: body += s.recv(n - len(body))
    s.close()
    assert body[:8] == b"\x83\xa6status", body
    return body[8], body
cases = [
    ({"op": "job.open", "kind": "enrich", "policy": 5}, b"'policy' must be a string naming failfast, collectall or besteffort: not a string"),
    ({"op": "job.open", "kind": "enrich", "policy": ["besteffort"]}, b"not a string"),
    ({"op": "job.open", "kind": "enrich", "policy": "b" * 100}, b"'policy' must be a string naming failfast, collectall or besteffort: too long"),
    ({"op": "job.open", "kind": "enrich", "policy": "nosuch"}, b"policy must be failfast, collectall or besteffort"),
    ({"op": "job.open", "kind": 7}, b"'kind' (a string of at most 127 bytes) is required: not a string"),
    ({"op": "job.open", "kind": "k" * 200}, b"'kind' (a string of at most 127 bytes) is required: too long"),
    ({"op": "limit.get", "name": True}, b"'name' (a string of at most 127 bytes) is required: not a string"),
    ({"op": "limit.get", "name": "n" * 128}, b"too long"),
    ({"op": 1}, b"'op' (a string of at most 63 bytes) is required: not a string"),
    ({"op": "o" * 64}, b"'op' (a string of at most 63 bytes) is required: too long"),
]
for req, why in cases:
    st, body = ask(req)
    assert st == 1 and why in body, (req, body)
# In a job, a task frame whose op is not a string is rejected (not taken as a task).
s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); s.settimeout(10)
def send(req): f = enc(req); s.sendall(struct.pack(">I", len(f)) + f)
def recv():
    n = struct.unpack(">I", s.recv(4))[0]; b = b""
    while len(b) < n: b += s.recv(n - len(b))
    return b
send({"op": "job.open", "kind": "enrich"}); assert b"job open" in recv()
send({"op": 3, "id": 1}); b = recv(); assert b"'op' in a job is the string" in b, b
send({"op": "job.close"}); b = recv(); assert b"job done" in b and b"\xa8rejected\x01" in b, b
PY
pass "wrong-type and over-long string arguments (policy, kind, name, op, a job's op) refused with the reason"

# top: two samples while requests flow; the second shows rates and percentiles per branch.
(for _ in $(seq 60); do curl -fs "$(url /product/7)" >/dev/null; done) &
load=$!
ctl top -n 2 -d 0.5 >"$TMP/top" || fail "top"
wait "$load"
grep -q "^LIMITER" "$TMP/top" && grep -q "^downstreams" "$TMP/top" || fail "top limiters: $(cat "$TMP/top")"
awk '$1 == "product/price" && $2 > 0 && $4 != "-" {found = 1} END {exit !found}' "$TMP/top" ||
	fail "top shows no calls/s and p99 for product/price: $(cat "$TMP/top")"
pass "top: limiters, and per-branch calls/s and p99 over the interval"

ctl shutdown | grep -q stopping || fail "shutdown"
wait "$FOD_PID" || fail "exit status after shutdown"
FOD_PID=
[ ! -e "$TMP/api.sock" ] || fail "socket left behind"
pass "shutdown over the API: clean exit, socket removed"
