#!/usr/bin/env bash
# Visible failure and logs: the request id (taken or generated, returned,
# logged), access logs (text and JSON lines, stderr or a file reopened on
# SIGUSR1 and reload), log_level and -v debug lines, the rate-limited log of
# a failing downstream branch, and the process, drain, reload and job series
# of /metrics (checked by promtool).
. "$SRCDIR/tests/integration/lib.sh"

ctl() { "$FANOUTCTL" -s "$TMP/api.sock" "$@"; }
# rid_of PATH [HEADER]: the X-Request-Id the answer carries
rid_of() {
	curl -s -m 10 -D "$TMP/headers" -o /dev/null ${2:+-H "$2"} "$(url "$1")" || true
	tr -d '\r' <"$TMP/headers" | awk -F': ' 'tolower($1) == "x-request-id" {print $2}'
}
# wait_log PATTERN [FILE]: until a line matches (5 s at most)
wait_log() {
	local f=${2:-$TMP/fanoutd.log}
	for _ in $(seq 100); do
		grep -q -- "$1" "$f" 2>/dev/null && return 0
		sleep 0.05
	done
	fail "no line matching '$1' in $f within 5 s"
}

# ---- request id and the access log to a file, text format; reopened on SIGUSR1
alog=$TMP/access.log
conf=$(make_config -e 's|mode = "0660";|mode = "0666";|' \
	-e "s|policy = \"besteffort\";|policy = \"besteffort\"; access_log = \"$alog\";|" \
	-e 's/always_fail = \[\];/always_fail = ["reviews"];/')
start_fanoutd "$conf"
rid=$(rid_of /product/7 "X-Request-Id: abc-123")
[ "$rid" = abc-123 ] || fail "X-Request-Id given abc-123, answered '$rid'"
gen1=$(rid_of /product/8)
gen2=$(rid_of /product/8)
[[ "$gen1" =~ ^[0-9a-f]{16}$ ]] && [ "$gen1" != "$gen2" ] || fail "generated ids: '$gen1' '$gen2'"
bad=$(rid_of /product/9 'X-Request-Id: has"quote')
[[ "$bad" =~ ^[0-9a-f]{16}$ ]] || fail "an unusable X-Request-Id was sent back: '$bad'"
pass "X-Request-Id: given one returned, else one generated (16 hex digits, distinct)"
# Refused before the headers were complete (431): an id not yet checked never goes back.
PORT=$PORT PYTHONPATH="$SRCDIR/tests/integration" timeout 30 python3 -c '
from rawhttp import *
def test():
    s = connect()
    s.sendall(b"GET /product/1 HTTP/1.1\r\nHost: x\r\nX-Request-Id: has\"quote\r\nX-Big: "
              + b"b" * 9000 + b"\r\n\r\n")
    a = Reader(s).response()
    rid = a.header("x-request-id")
    if a.status != 431 or (rid or "").startswith("has"):
        fail(f"{a.status} with X-Request-Id {rid!r}")
    ok(f"431 before the headers were read: X-Request-Id {rid!r}")
main(test)' || fail "see above"
wait_log "request_id=$gen2" "$alog"
line=$(grep "request_id=abc-123" "$alog") || fail "no access line for abc-123: $(cat "$alog")"
[[ "$line" =~ ^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:.]+Z\ route=product\ id=7\ status=200\ ms=[0-9.]+\ degraded=reviews\ request_id=abc-123$ ]] ||
	fail "access line format: $line"
pass "access log (text): $line"
mv "$alog" "$alog.1"
kill -USR1 "$FOD_PID"
wait_log "access logs reopened"
rid=$(rid_of /product/10)
wait_log "request_id=$rid" "$alog"
grep -q "request_id=$rid" "$alog.1" && fail "a line after SIGUSR1 went to the rotated file"
pass "SIGUSR1: the rotated access log is left, a new one written"
mv "$alog" "$alog.2"
ctl reload >/dev/null || fail "reload"
rid=$(rid_of /product/11)
wait_log "request_id=$rid" "$alog"
pass "reload: the access log reopened too"
grep -q "request_id=" "$TMP/fanoutd.log" && fail "access lines on stderr with a file configured"

# ---- /metrics: responses by route and status, process, drain, reload, jobs
curl -fs "$(url /metrics)" >"$TMP/metrics" || fail "/metrics"
for m in 'fanoutd_build_info{version="[0-9.]*"} 1' 'process_start_time_seconds [0-9]' \
	'process_cpu_seconds_total [0-9]' 'fanoutd_draining 0' 'fanoutd_config_last_reload_success 1' \
	'fanoutd_config_last_reload_timestamp_seconds [0-9]' 'fanoutd_jobs_open 0' \
	'fanoutd_job_rows_in_flight 0' 'fanoutd_job_rows_total{outcome="failed"} 0' \
	'fanoutd_http_responses_total{route="product",code="200"} 6' \
	'fanoutd_http_internal_responses_total{endpoint="/healthz",code="200"} [0-9]'; do
	grep -q "^$m" "$TMP/metrics" || fail "no sample '$m' in /metrics"
done
grep -q '^fanoutd_http_responses_total{route="product",code="[0-9]*"}' "$TMP/metrics" || fail "by route"
start=$(awk '$1 == "process_start_time_seconds" {print $2}' "$TMP/metrics")
now=$(date +%s)
awk -v s="$start" -v n="$now" 'BEGIN { exit !(s > n - 600 && s <= n + 1) }' || fail "start time $start, now $now"
if have promtool "the /metrics exposition format"; then
	promtool check metrics <"$TMP/metrics" || fail "promtool check metrics"
	pass "promtool check metrics: clean"
fi
ctl drain >/dev/null
[ "$(metric fanoutd_draining)" = 1 ] || fail "fanoutd_draining while drained"
ctl drain --off >/dev/null
sed -i 's/budget_ms = 300;/budget_ms = 300; nonsense/' "$conf"
ctl reload >/dev/null 2>&1 && fail "a broken config reloaded"
[ "$(metric fanoutd_config_last_reload_success)" = 0 ] || fail "last reload success after a failed reload"
pass "/metrics: build info, start time, CPU, draining gauge, last reload result, job series"
stop_fanoutd

# ---- access log as JSON lines on stderr
conf=$(make_config -e 's/policy = "besteffort";/policy = "besteffort"; access_log = "stderr"; access_log_format = "json";/' \
	-e 's/always_fail = \[\];/always_fail = ["reviews"];/')
start_fanoutd "$conf"
rid=$(rid_of /product/12 "X-Request-Id: json-1")
wait_log '"request_id":"json-1"'
line=$(grep '"request_id":"json-1"' "$TMP/fanoutd.log")
echo "${line#<6>}" | python3 -c '
import json, sys
e = json.loads(sys.stdin.read())
assert set(e) == {"time", "route", "id", "status", "ms", "degraded", "request_id"}, e
assert e["route"] == "product" and e["id"] == 12 and e["status"] == 200, e
assert e["degraded"] == ["reviews"] and e["request_id"] == "json-1", e
assert isinstance(e["ms"], float) and e["time"].endswith("Z"), e
' || fail "JSON access line: $line"
[[ "$line" == "<6>{"* ]] || fail "no journald priority on the stderr access line: $line"
pass "access log (JSON lines, stderr with <6>): $line"

# ---- the failing branch is logged, one line per interval with counts
# (log_failure_interval_ms = 1000 here: the first failure at once, the rest
# of the burst one interval later)
stop_fanoutd
conf=$(make_config -e 's/always_fail = \[\];/always_fail = ["reviews"];/' \
	-e '1i log_failure_interval_ms = 1000;' \
	-e 's/base_ms = 5; p99_ms = 200; tail_rate = 0.001/base_ms = 1; p99_ms = 2; tail_rate = 0/')
start_fanoutd "$conf"
t0=$(date +%s%N)
for i in $(seq 20); do curl -s -o /dev/null "$(url "/product/$i")"; done
burst_ms=$((($(date +%s%N) - t0) / 1000000))
wait_log "route product branch reviews: 1 failure (error 1); last: sim: injected downstream error"
total=0
for _ in $(seq 100); do
	total=$(sed -n 's/.*route product branch reviews: \([0-9]*\) failures\{0,1\}.*/\1/p' "$TMP/fanoutd.log" | awk '{n += $1} END {print n + 0}')
	[ "$total" = 20 ] && break
	sleep 0.05
done
[ "$total" = 20 ] || fail "the failure lines count $total of 20 failures: $(grep 'branch reviews' "$TMP/fanoutd.log")"
lines=$(grep -c "route product branch reviews" "$TMP/fanoutd.log")
# One line at the first failure, one per interval after it, one for what is left.
[ "$lines" -le $((2 + burst_ms / 1000)) ] || fail "$lines failure lines for 20 failures in $burst_ms ms"
[ "$lines" -ge 2 ] || fail "$lines failure line for 20 failures: no count of the rest"
grep -q "branch price" "$TMP/fanoutd.log" && fail "a healthy branch logged as failing"
pass "a broken branch: $lines lines for 20 failures in $burst_ms ms ($(grep 'branch reviews' "$TMP/fanoutd.log" | tail -1))"
stop_fanoutd

# ---- job gauges: a job of slow rows is seen open with rows in flight, then gone
conf=$(make_config -e 's|mode = "0660";|mode = "0666";|' -e 's/budget_ms = 1000;/budget_ms = 8000;/' \
	-e 's/timeout_ms = 500;/timeout_ms = 8000;/g' \
	-e 's/base_ms = 5; p99_ms = 200; tail_rate = 0.001/base_ms = 1500; p99_ms = 1600; tail_rate = 0/')
start_fanoutd "$conf"
"$FANOUT_GEN" --seed 1 --count 4 --kind enrich >"$TMP/rows"
ctl submit --kind enrich -i "$TMP/rows" -o /dev/null 2>"$TMP/submit.err" &
submit_pid=$!
open=
for _ in $(seq 100); do
	[ "$(metric fanoutd_jobs_open)" = 1 ] && [ "$(metric fanoutd_job_rows_in_flight)" = 4 ] && open=1 && break
	sleep 0.05
done
[ -n "$open" ] || fail "job not seen: jobs_open $(metric fanoutd_jobs_open), rows $(metric fanoutd_job_rows_in_flight)"
wait "$submit_pid" || fail "submit: $(cat "$TMP/submit.err")"
for _ in $(seq 100); do
	[ "$(metric fanoutd_jobs_open)" = 0 ] && [ "$(metric fanoutd_job_rows_in_flight)" = 0 ] && open= && break
	sleep 0.05
done
[ -z "$open" ] || fail "job still counted after it ended: $(metric fanoutd_jobs_open)"
pass "fanoutd_jobs_open and fanoutd_job_rows_in_flight: 1 job, 4 rows while it ran; 0 after"
stop_fanoutd

# ---- log_level and -v: debug lines where an operator needs them
slow='s/base_ms = 5; p99_ms = 200; tail_rate = 0.001/base_ms = 200; p99_ms = 400; tail_rate = 0/'
conf=$(make_config -e "$slow")
start_fanoutd "$conf"
get '/product/3?budget_ms=20' >/dev/null
grep -q '^<7>' "$TMP/fanoutd.log" && fail "debug lines at the default log_level info"
stop_fanoutd
start_fanoutd "$conf" -v
rid=$(rid_of '/product/3?budget_ms=20' "X-Request-Id: cut-1")
wait_log "<7>route product id 3 request cut-1: cut at the deadline"
pass "-v: $(grep 'request cut-1: cut' "$TMP/fanoutd.log")"
kill -HUP "$FOD_PID"
wait_log "<7>reload: built generation 2"
pass "-v: reload steps logged ($(grep -c '^<7>reload' "$TMP/fanoutd.log") debug lines)"
stop_fanoutd
# Admission waits: a limiter of 1, five branches queue for it.
conf=$(make_config -e '1i log_level = "debug";' -e 's/module = "aimd";/module = "fixed"; limit = 1;/' \
	-e '/initial = 2000;/d' -e '/min = 200;/d' -e '/max = 20000;/d' -e '/backoff = 0.9;/d' \
	-e '/latency_threshold_ms = 0;/d' -e '/partitions = /d' \
	-e 's/base_ms = 5; p99_ms = 200; tail_rate = 0.001/base_ms = 5; p99_ms = 6; tail_rate = 0/')
start_fanoutd "$conf"
get '/product/4?budget_ms=5000' >/dev/null
wait_log "<7>route product id 4 request [0-9a-f]*: branches waited [0-9.]* ms in all for admission to limiter downstreams"
pass "log_level = \"debug\": $(grep 'waited' "$TMP/fanoutd.log")"
stop_fanoutd
# log_level = "warning": no info lines; a reload to "debug" applies at once.
conf=$(make_config -e '1i log_level = "warning";' -e "$slow")
start_fanoutd "$conf"
grep -q '^<[567]>' "$TMP/fanoutd.log" && fail "lines under warning at log_level warning: $(cat "$TMP/fanoutd.log")"
sed -i 's/^log_level = "warning";/log_level = "debug";/' "$conf"
kill -HUP "$FOD_PID"
wait_log "reloaded .*generation 2"
rid=$(rid_of '/product/3?budget_ms=20' "X-Request-Id: cut-2")
wait_log "<7>route product id 3 request cut-2: cut at the deadline"
pass "log_level warning: no info lines; reloaded to debug: debug lines at once"
stop_fanoutd
conf=$(make_config -e '1i log_level = "loud";')
rc=0
out=$("$FANOUTD" -t -c "$conf" --modules "$MODULES" 2>&1) || rc=$?
[ "$rc" = 1 ] && echo "$out" | grep -q "fanoutd.conf:1: 'log_level' must be err, warning, notice, info or debug" ||
	fail "log_level loud: $rc $out"
pass "a bad log_level is refused with file:line"
