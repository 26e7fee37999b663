#!/usr/bin/env bash
# fanoutctl as operators use it: --version everywhere, an unknown command named, the socket
# found from $FANOUTCTL_SOCKET or the config file; submit streaming results to a pipe, flushing
# and cancelling on SIGINT/SIGTERM and when its output closes, never truncating -o FILE before
# the job is accepted, result lines with JSON values, error texts and milliseconds; top with
# every table at -n 1, capped percentiles, no success ratio for idle branches, an HTTP line,
# --json samples, q to quit and lines within the terminal's width.
. "$SRCDIR/tests/integration/lib.sh"

# Job routes: trickle (a row every 200 ms at limit 1), mixed (a JSON value and a timed-out
# branch), capped (every call cut at its 250 ms timeout: the 250-500 ms bucket), idle (never
# used).
# An HTTP route that always fails: 5xx answers.
conf=$(make_config -e "s|socket = \"/run/fanoutd/fanoutd.sock\";|socket = \"$TMP/api.sock\";|" \
	-e 's|^routes = (|routes = (\
  { name = "trickle"; job = "trickle"; policy = "collectall"; budget_ms = 5000; limiter = "downstreams";\
    sim = { base_ms = 200; p99_ms = 200; tail_rate = 0.0; };\
    branches = ( { name = "t"; downstream = "sim"; timeout_ms = 5000; } ); },\
  { name = "mixed"; job = "mixed"; policy = "besteffort"; budget_ms = 1000; limiter = "downstreams";\
    branches = ( { name = "fast"; downstream = "sim"; sim = { base_ms = 1; p99_ms = 2; tail_rate = 0.0; }; },\
                 { name = "late"; downstream = "sim"; timeout_ms = 50; sim = { base_ms = 400; p99_ms = 400; tail_rate = 0.0; }; } ); },\
  { name = "capped"; job = "capped"; policy = "besteffort"; budget_ms = 2000; limiter = "downstreams";\
    sim = { base_ms = 400; p99_ms = 400; tail_rate = 0.0; };\
    branches = ( { name = "x"; downstream = "sim"; timeout_ms = 250; } ); },\
  { name = "broken"; http = "/broken/{id}"; policy = "collectall"; limiter = "downstreams"; always_fail = ["a"];\
    branches = ( { name = "a"; downstream = "sim"; } ); },\
  { name = "idle"; job = "idle"; limiter = "downstreams"; branches = ( { name = "i"; downstream = "echo"; } ); },|')
grep -q "$TMP/api.sock" "$conf" || fail "the test config does not name the socket"
start_fanoutd "$conf"
ctl() { "$FANOUTCTL" -s "$TMP/api.sock" "$@"; }
gen() { "$FANOUT_GEN" --seed 7 "$@"; }
status_field() { ctl --json status | python3 -c "import json,sys; print(json.load(sys.stdin)['$1'])"; }
wait_rows_zero() {
	for _ in $(seq 100); do [ "$(status_field rows_in_flight)" = 0 ] && return 0; sleep 0.02; done
	fail "$1: rows still in flight 2 s later"
}

# ---- --version: the package version of config.h
want=$(sed -n 's/^#define PACKAGE_VERSION "\(.*\)"$/\1/p' "$BUILDDIR/config.h")
[ -n "$want" ] || fail "no PACKAGE_VERSION in $BUILDDIR/config.h"
for p in "$FANOUTCTL" "$FANOUT_GEN" "$BUILDDIR/tools/fanout-load"; do
	out=$("$p" --version 2>&1) || fail "$p --version: exit $?: $out"
	[ "$out" = "$(basename "$p") $want" ] || fail "$p --version: '$out', not '$(basename "$p") $want'"
done
pass "fanoutctl, fanout-gen and fanout-load --version: $want"

# ---- an unknown command is named before the usage
rc=0; "$FANOUTCTL" -s "$TMP/api.sock" frobnicate 2>"$TMP/err" || rc=$?
[ "$rc" = 2 ] && head -1 "$TMP/err" | grep -q "unknown command 'frobnicate'" ||
	fail "unknown command: exit $rc, $(head -3 "$TMP/err")"
pass "unknown command: named on the first line, then the usage, exit 2"

# ---- the socket: $FANOUTCTL_SOCKET, the config file (-c), -s first
FANOUTCTL_SOCKET="$TMP/api.sock" "$FANOUTCTL" status >/dev/null 2>"$TMP/err" ||
	fail "FANOUTCTL_SOCKET not used: $(cat "$TMP/err")"
FANOUTCTL_SOCKET=/nonexistent/sock "$FANOUTCTL" -c "$conf" status >/dev/null 2>"$TMP/err" ||
	fail "-c CONFIG: api.socket not used: $(cat "$TMP/err")"
"$FANOUTCTL" --config "$conf" -s "$TMP/api.sock" status >/dev/null 2>"$TMP/err" || fail "-s with -c: $(cat "$TMP/err")"
rc=0; FANOUTCTL_SOCKET="$TMP/api.sock" "$FANOUTCTL" -s "$TMP/none.sock" status 2>"$TMP/err" >/dev/null || rc=$?
[ "$rc" = 3 ] && grep -q "$TMP/none.sock" "$TMP/err" || fail "-s does not come first: exit $rc, $(cat "$TMP/err")"
printf 'api = { socket = "%s"; };\nbroken\n' "$TMP/api.sock" >"$TMP/bad.conf"
rc=0; FANOUTCTL_SOCKET="$TMP/api.sock" "$FANOUTCTL" -c "$TMP/bad.conf" status >/dev/null 2>"$TMP/err" || rc=$?
[ "$rc" = 0 ] && grep -q "warning: $TMP/bad.conf:3" "$TMP/err" ||
	fail "an unreadable config: exit $rc, $(cat "$TMP/err")"
pass "socket from \$FANOUTCTL_SOCKET and from -c's api.socket; -s first; a broken config warns (file:line)"

# ---- submit: results reach a pipe as they come; SIGINT flushes, cancels, exits 130
gen --count 100 --kind trickle >"$TMP/trickle"
python3 - "$FANOUTCTL" "$TMP/api.sock" "$TMP/trickle" <<'PY' || fail "submit to a pipe, then SIGINT"
import json, select, signal, subprocess, sys, time
p = subprocess.Popen([sys.argv[1], "-s", sys.argv[2], "submit", "--limit", "1", "-i", sys.argv[3]],
                     stdout=subprocess.PIPE, stderr=subprocess.PIPE)
start = time.monotonic()
# A row takes 200 ms: the first result is due within a second, not at the job's end (20 s).
r, _, _ = select.select([p.stdout], [], [], 5.0)
assert r, "no result on the pipe within 5 s"
first = p.stdout.readline()
took = time.monotonic() - start
assert json.loads(first)["outcome"] == "ok", first
p.send_signal(signal.SIGINT)
out, err = p.communicate(timeout=5)
assert p.returncode == 130, (p.returncode, err)
rows = [json.loads(l) for l in (first + out).splitlines()]
assert len(rows) < 100 and len({r["id"] for r in rows}) == len(rows), len(rows)
assert b"interrupted: job" in err and b"cancelled" in err, err
print(f"first result after {took:.2f} s, {len(rows)} results before SIGINT")
PY
wait_rows_zero "after SIGINT"
pass "submit | pipe: each result as it comes; SIGINT: results written, job cancelled, exit 130"

# SIGTERM with -o FILE (fully buffered): what completed is in the file; exit 143.
"$FANOUTCTL" -s "$TMP/api.sock" submit --limit 1 -i "$TMP/trickle" -o "$TMP/term.out" 2>"$TMP/err" &
sub=$!
done_rows=0
for _ in $(seq 250); do
	done_rows=$(ctl --json jobs | python3 -c 'import json,sys; j=json.load(sys.stdin); print(j[0]["rows_done"] if j else 0)')
	[ "$done_rows" -ge 3 ] && break
	sleep 0.02
done
[ "$done_rows" -ge 3 ] || fail "the trickle job did not get 3 rows done in 5 s"
kill -TERM "$sub"
rc=0; wait "$sub" || rc=$?
lines=$(wc -l <"$TMP/term.out")
[ "$rc" = 143 ] && [ "$lines" -ge "$done_rows" ] ||
	fail "SIGTERM: exit $rc, $lines lines written of $done_rows rows done: $(cat "$TMP/err")"
python3 -c 'import json,sys; [json.loads(l) for l in open(sys.argv[1])]' "$TMP/term.out" || fail "SIGTERM: a cut line"
wait_rows_zero "after SIGTERM"
pass "submit -o FILE, SIGTERM: $lines whole result lines written ($done_rows rows were done), job cancelled, exit 143"

# Its output closing stops it and cancels the job (| head -2 ends at once, not after 20 s).
start=$(date +%s)
set +o pipefail
gen --count 100 --kind trickle | timeout 15 "$FANOUTCTL" -s "$TMP/api.sock" submit --limit 1 2>"$TMP/err" |
	head -2 >"$TMP/head"
codes=("${PIPESTATUS[@]}")
set -o pipefail
took=$(($(date +%s) - start))
[ "${codes[1]}" = 141 ] && [ "$(wc -l <"$TMP/head")" = 2 ] && [ "$took" -lt 10 ] ||
	fail "| head -2: submit exit ${codes[1]} after $took s, $(wc -l <"$TMP/head") lines: $(cat "$TMP/err")"
wait_rows_zero "after head -2 closed"
pass "submit | head -2: stopped when the output closed (${took} s), job cancelled, exit 141"

# -o FILE is left alone until the daemon accepted the job.
seq 30000 >"$TMP/keep"
cp "$TMP/keep" "$TMP/keep.orig"
gen --count 5 --kind mixed >"$TMP/five"
rc=0; "$FANOUTCTL" -s "$TMP/gone.sock" submit -i "$TMP/five" -o "$TMP/keep" 2>/dev/null || rc=$?
[ "$rc" = 3 ] && cmp -s "$TMP/keep" "$TMP/keep.orig" || fail "unreachable daemon: exit $rc, -o FILE changed"
rc=0; ctl submit --kind nosuch -i "$TMP/five" -o "$TMP/keep" 2>/dev/null || rc=$?
[ "$rc" = 1 ] && cmp -s "$TMP/keep" "$TMP/keep.orig" || fail "refused job: exit $rc, -o FILE changed"
pass "-o FILE untouched when the daemon is unreachable (exit 3) or refuses the job (exit 1)"

# Result lines: JSON values embedded as JSON, a timed-out branch's error text, milliseconds.
gen --count 20 --kind mixed | ctl submit -o "$TMP/mixed" 2>"$TMP/err" || fail "mixed job: $(cat "$TMP/err")"
python3 - "$TMP/mixed" <<'PY' || fail "result lines: $(head -2 "$TMP/mixed")"
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
assert len(rows) == 20, len(rows)
for r in rows:
    fast, late = r["branches"]["fast"], r["branches"]["late"]
    assert fast["outcome"] == "ok" and isinstance(fast["value"], dict) and "v" in fast["value"], fast
    assert late["outcome"] == "timeout" and late["value"] is None, late
    assert isinstance(late.get("error"), str) and late["error"], late
    assert "error" not in fast, fast
    assert "us" not in r and isinstance(r["ms"], float), r
    assert 50 <= r["ms"] < 1000, r["ms"]   # cut at the 50 ms timeout: milliseconds, not us
    assert r["outcome"] == "degraded", r
print(rows[0])
PY
pass "result lines: {\"v\":N} as JSON, the timed-out branch's error text, ms like HTTP answers"

# ---- top
gen --count 20 --kind capped | ctl submit --limit 20 -o /dev/null 2>"$TMP/err" || fail "capped job: $(cat "$TMP/err")"
for i in 1 2 3; do curl -s -o /dev/null "$(url /broken/$i)"; done
for i in 1 2 3 4; do curl -s -o /dev/null "$(url /product/$i)"; done
# -n 1 on a pipe: every table, with the daemon's life so far.
"$FANOUTCTL" -s "$TMP/api.sock" -c "$conf" top -n 1 >"$TMP/top" 2>"$TMP/err" || fail "top -n 1: $(cat "$TMP/err")"
for h in "LIMITER" "ROUTE/BRANCH" "JOB" "HTTP requests/s"; do
	grep -q "$h" "$TMP/top" || fail "top -n 1 has no '$h': $(cat "$TMP/top")"
done
awk '$1 == "idle/i" {print $5}' "$TMP/top" | grep -qx -- - ||
	fail "an idle branch shows a success ratio: $(grep idle/i "$TMP/top")"
pass "top -n 1: every table, an HTTP line; an idle branch has no OK%"
# --json: one sample per interval.
"$FANOUTCTL" -s "$TMP/api.sock" -c "$conf" top -n 2 -d 0.2 --json >"$TMP/topj" 2>"$TMP/err" ||
	fail "top --json: $(cat "$TMP/err")"
python3 - "$TMP/topj" <<'PY' || fail "top --json: $(cat "$TMP/topj")"
import json, sys
lines = open(sys.argv[1]).read().splitlines()
assert len(lines) == 2, len(lines)
s = [json.loads(l) for l in lines]
assert s[0]["since_start"] is True and s[1]["since_start"] is False
b = {(x["route"], x["branch"]): x for x in s[0]["branches"]}
capped = b[("capped", "x")]
# Every call was cut at 250 ms: interpolating in the 250-500 ms bucket gave up to 497 ms.
assert capped["calls"] == 20 and capped["outcomes"]["timeout"] == 20, capped
assert 0 < capped["p99_ms"] <= 250 and capped["p50_ms"] <= 250, capped
assert b[("idle", "i")]["ok_ratio"] is None and b[("idle", "i")]["p99_ms"] is None
assert s[0]["http"]["requests_per_s"] > 0 and s[0]["http"]["5xx_per_s"] > 0, s[0]["http"]
assert 0 < s[0]["http"]["5xx_ratio"] < 1, s[0]["http"]
print("p99", capped["p99_ms"], "5xx ratio", s[0]["http"]["5xx_ratio"])
PY
pass "top --json: one sample per interval; p99 of calls cut at 250 ms is <= 250 ms; 5xx rate"

# On a terminal: lines within its width, q quits.
python3 - "$FANOUTCTL" "$TMP/api.sock" "$conf" <<'PY' || fail "top on a terminal"
import fcntl, os, pty, re, select, struct, sys, termios, time
pid, fd = pty.fork()
if pid == 0:
    os.execv(sys.argv[1], [sys.argv[1], "-s", sys.argv[2], "-c", sys.argv[3], "top", "-d", "0.3"])
fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 60, 0, 0))
buf, deadline = b"", time.monotonic() + 10
def read_until(pred):
    global buf
    while not pred(buf):
        assert time.monotonic() < deadline, buf[-2000:]
        r, _, _ = select.select([fd], [], [], 0.5)
        if r:
            try:
                buf += os.read(fd, 65536)
            except OSError:
                break
# The second screen is drawn after the resize: wait for it, then check it.
read_until(lambda b: b.count(b"ROUTE/BRANCH") >= 3)
screen = buf.split(b"\x1b[H\x1b[2J")[-2]
for l in screen.decode().replace("\r", "").split("\n"):
    assert len(l) <= 60, (len(l), l)
os.write(fd, b"q")
end = time.monotonic() + 3
while time.monotonic() < end:
    done, status = os.waitpid(pid, os.WNOHANG)
    if done:
        assert os.waitstatus_to_exitcode(status) == 0, status
        break
    try:
        select.select([fd], [], [], 0.1) and os.read(fd, 65536)
    except OSError:
        pass
else:
    os.kill(pid, 9)
    raise AssertionError("q did not quit top within 3 s")
PY
pass "top on a 60-column terminal: every line fits; q quits (exit 0)"
