#!/usr/bin/env bash
# Job rows that reach their deadline while queued for the global limiter.
#
# Regression: the row's deadline fired on libfanout's timer thread, ended the
# row's unit through its parent context, and the unit's done callback freed
# the unit and its group context while the group's cancel was still running
# its hooks (heap-use-after-free in fo_ctx_cancel; SIGSEGV or a glibc mutex
# assertion in 4 of 10 plain runs, every run under ASan). Here a small
# limiter and a short budget make most rows expire in the admission queue;
# the daemon must survive every job, account every row once, and end with
# nothing in flight.
. "$SRCDIR/tests/integration/lib.sh"

conf=$(make_config -e 's|mode = "0660";|mode = "0600";|' \
	-e 's|initial = 2000;|initial = 100;|' -e 's|min = 200;|min = 50;|' -e 's|max = 20000;|max = 100;|' \
	-e 's|budget_ms = 1000;|budget_ms = 100;|')
start_fanoutd "$conf"
ctl() { "$FANOUTCTL" -s "$TMP/api.sock" "$@"; }
status_field() { ctl --json status | python3 -c "import json,sys; print(json.load(sys.stdin)['$1'])"; }

rows=20000
for job in 1 2 3; do
	rc=0
	"$FANOUT_GEN" --seed "$job" --count "$rows" --kind enrich |
		timeout 120 "$FANOUTCTL" -s "$TMP/api.sock" submit --limit "$rows" -o "$TMP/out" 2>"$TMP/err" || rc=$?
	kill -0 "$FOD_PID" 2>/dev/null || fail "fanoutd died during job $job"
	# Most rows fail (collect-all, branches shed at their deadline): exit 1, never a broken connection.
	[ "$rc" = 0 ] || [ "$rc" = 1 ] || fail "job $job: submit exit $rc: $(cat "$TMP/err")"
	[ "$(wc -l <"$TMP/out")" = "$rows" ] || fail "job $job: $(wc -l <"$TMP/out") results of $rows"
	python3 - "$TMP/err" "$rows" <<'PY' || fail "job $job: summary: $(cat "$TMP/err")"
import re, sys
m = re.search(r"(\d+) rows: (\d+) ok, (\d+) degraded, (\d+) failed, (\d+) skipped, (\d+) cancelled, (\d+) rejected",
              open(sys.argv[1]).read())
total, *parts = map(int, m.groups())
assert total == int(sys.argv[2]) == sum(parts), (total, parts)
assert parts[2] > 0, "no row expired: the test does not reach the admission queue's deadline"
PY
done
pass "3 jobs of $rows rows expiring in the limiter's queue: daemon alive, every row counted once"

[ "$(status_field branches_in_flight)" = 0 ] || fail "branches left in flight"
[ "$(status_field rows_in_flight)" = 0 ] || fail "rows left in flight"
[ "$(get /product/42 | cut -d' ' -f1)" = 200 ] || fail "HTTP does not answer after the jobs"
pass "nothing left in flight; HTTP answers"
stop_fanoutd
