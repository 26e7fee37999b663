#!/usr/bin/env bash
# A partitioned global limiter keeps a batch job from starving the gateway.
#
# One job with thousands of rows in flight saturates the shared limiter. On an
# unpartitioned limiter every /product request queues behind the job's
# branches (FIFO) and is answered 503 at its budget: the failure this guards
# against. With `partitions = { http = 0.8; jobs = 0.2; }` the gateway is
# owed 80 % of the limit: as job branches end, their slots go to waiting
# requests first, and the requests are answered 200. The limiter's size is
# never exceeded in either case (high water <= limit).
. "$SRCDIR/tests/integration/lib.sh"

ctl() { "$FANOUTCTL" -s "$TMP/api.sock" "$@"; }
status_field() { ctl --json status | python3 -c "import json,sys; print(json.load(sys.stdin)['$1'])"; }

# run_case PARTITIONS-LINE: sets ok, shed and hw for 60 requests during a saturating job.
run_case() {
	local conf
	conf=$(make_config -e 's|mode = "0660";|mode = "0600";|' \
		-e 's|module = "aimd";|module = "fixed"; limit = 40;'"$1"'|' \
		-e '/initial = 2000;/d' -e '/min = 200;/d' -e '/max = 20000;/d' -e '/backoff = 0.9;/d' \
		-e '/latency_threshold_ms = 0;/d' -e '/^    partitions = {/d' \
		-e 's|^routes = (|routes = (\
  { name = "bulk"; job = "bulk"; policy = "collectall"; budget_ms = 60000; limiter = "downstreams";\
    sim = { base_ms = 40; p99_ms = 60; tail_rate = 0.0; };\
    branches = ( { name = "x"; downstream = "sim"; timeout_ms = 60000; }, { name = "y"; downstream = "sim"; timeout_ms = 60000; } ); },|')
	start_fanoutd "$conf"
	"$FANOUT_GEN" --seed 3 --count 60000 --kind bulk >"$TMP/tasks"
	ctl submit --limit 4000 -i "$TMP/tasks" -o /dev/null 2>/dev/null &
	local job=$!
	# Saturated: the job holds the limit and has rows queued for admission.
	for _ in $(seq 200); do
		[ "$(metric 'fanoutd_limiter_waiting{limiter="downstreams"}')" -gt 100 ] 2>/dev/null && break
		sleep 0.05
	done
	[ "$(metric 'fanoutd_limiter_waiting{limiter="downstreams"}')" -gt 100 ] ||
		fail "the job did not saturate the limiter"
	local code
	ok=0 shed=0
	for i in $(seq 60); do
		code=$(curl -s -o /dev/null -w '%{http_code}' "$(url "/product/$i")")
		case $code in
		200) ok=$((ok + 1)) ;;
		503) shed=$((shed + 1)) ;;
		*) fail "GET /product/$i: $code" ;;
		esac
	done
	hw=$(metric 'fanoutd_limiter_in_flight_high_water{limiter="downstreams"}')
	kill "$job" 2>/dev/null || true
	wait "$job" 2>/dev/null || true
	stop_fanoutd
}

run_case ""
echo "unpartitioned: $ok answered 200, $shed answered 503, high water $hw of 40"
[ "$hw" -le 40 ] || fail "limiter exceeded its size: $hw"
[ "$shed" -ge 30 ] || fail "without partitions the job should starve the gateway (only $shed of 60 shed): the test does not load the limiter"
pass "unpartitioned: the job starves the gateway ($shed of 60 requests 503)"

run_case " partitions = { http = 0.8; jobs = 0.2; };"
echo "partitioned: $ok answered 200, $shed answered 503, high water $hw of 40"
[ "$hw" -le 40 ] || fail "limiter exceeded its size: $hw"
[ "$ok" -ge 57 ] || fail "with partitions only $ok of 60 requests answered 200"
pass "partitioned 80/20: the gateway answers $ok of 60 during the same job, limit never exceeded"

# Bad partition settings are refused with file:line.
bad=$(make_config -e 's|partitions = { http = 0.8; jobs = 0.2; };|partitions = { http = 0.8; jobz = 0.2; };|')
out=$("$FANOUTD" -t -c "$bad" --modules "$MODULES" 2>&1) && fail "unknown partition accepted"
echo "$out" | grep -q "fanoutd.conf:[0-9]*: unknown partition 'jobz'" || fail "message: $out"
bad=$(make_config -e 's|partitions = { http = 0.8; jobs = 0.2; };|partitions = { http = 0.9; jobs = 0.2; };|')
out=$("$FANOUTD" -t -c "$bad" --modules "$MODULES" 2>&1) && fail "shares over 1 accepted"
echo "$out" | grep -q "add up to 1.1: at most 1" || fail "message: $out"
pass "bad partitions refused: $out"
