#!/usr/bin/env bash
# fanout-load's options: a bad numeric value exits 2 with one line naming the
# option, the value and the range; --path drives another route, whose overhead
# fields are null (the ideal latency models the product route only) unless
# --branches says what that route has.
. "$SRCDIR/tests/integration/lib.sh"
need python3 "reading fanout-load's JSON line"
LOAD=$BUILDDIR/tools/fanout-load
[ -x "$LOAD" ] || fail "$LOAD is not built (it needs libcurl: libcurl4-openssl-dev)"

# ---- bad values: exit 2, one line naming the option and the value, nothing run
# (--port 1 is valid: a value check that let the run start would show as rc 1 or 0.)
bad() {
	local opt=$1 val=$2 rc=0
	shift 2
	timeout 10 "$LOAD" --port 1 --duration 0.01 "$@" "$opt" "$val" >"$TMP/out" 2>"$TMP/err" || rc=$?
	[ "$rc" = 2 ] || fail "$opt '$val': exit $rc, want 2 ($(cat "$TMP/err"))"
	[ ! -s "$TMP/out" ] || fail "$opt '$val': printed a result: $(cat "$TMP/out")"
	[ "$(wc -l <"$TMP/err")" = 1 ] || fail "$opt '$val': want one line, got: $(cat "$TMP/err")"
	grep -qF -- "$opt '$val'" "$TMP/err" || fail "$opt '$val': message does not name it: $(cat "$TMP/err")"
}
bad --rate abc
bad --rate 10x
bad --rate 0
bad --rate nan
bad --port 99999
bad --port 0
bad --conns -3
bad --duration 0
bad --duration ''
bad --branches 0
bad --branches 2.5
bad --timeout-ms -5
bad --budget-ms x
bad --base-ms -1
bad --tail-rate 1.5
bad --reserve-ms -1
bad --drain -1
bad --max-in-flight 0
bad --first-id -1
bad --seed 12abc
bad --pid abc
bad --path product
bad --path '/a?b'
bad --query 'a b'
bad --query 'a#b'
grep -qF -- "--rate 'abc': not a number from 0.001 to 1000000" <(timeout 10 "$LOAD" --port 1 --rate abc 2>&1) ||
	fail "--rate abc: the message does not state the range"
rc=0
timeout 10 "$LOAD" --rate 5 >/dev/null 2>"$TMP/err" || rc=$?
[ "$rc" = 2 ] && grep -q -- "--port is missing" "$TMP/err" || fail "no --port: exit $rc: $(cat "$TMP/err")"
# Checked once the options are read, each refused with one line saying why.
after() { # PATTERN ARGS...
	local want=$1 rc=0
	shift
	timeout 10 "$LOAD" --port 1 "$@" >"$TMP/out" 2>"$TMP/err" || rc=$?
	[ "$rc" = 2 ] && [ ! -s "$TMP/out" ] && [ "$(wc -l <"$TMP/err")" = 1 ] && grep -q -- "$want" "$TMP/err" ||
		fail "$*: exit $rc, want 2 and '$want': $(cat "$TMP/err")"
}
after "--reserve-ms 300 is not below --budget-ms 300" --budget-ms 300 --reserve-ms 300
after "sends no request" --rate 0.001 --duration 1
after "passes 2^64-1" --first-id 18446744073709551615 --rate 10 --duration 1
after "bytes together, at most 200" --query "$(printf 'a%.0s' $(seq 250))"
pass "bad values and a missing --port exit 2 naming the option, the value and the range; so do a reserve not below the budget, no request to send, ids past 2^64-1 and an over-long path and query"

# ---- --path on a second HTTP route of the shipped config
conf=$(make_config -e '/^routes = (/a\
  { name = "item"; http = "/item/{id}"; policy = "besteffort"; budget_ms = 300;\
    sim = { seed = 1; base_ms = 1; p99_ms = 5; tail_rate = 0.0; tail_ms = 10; err_rate = 0.0; };\
    branches = ( { name = "a"; downstream = "sim"; timeout_ms = 250; },\
                 { name = "b"; downstream = "sim"; timeout_ms = 250; } ); },')
start_fanoutd "$conf"
read -r code body <<<"$(get /item/7)"
[ "$code" = 200 ] || fail "GET /item/7: $code $body"

# count ROUTE: the route's answered requests, from /metrics (all status classes)
count() {
	curl -fs "$(url /metrics)" |
		awk -v r="route=\"$1\"" '/^fanoutd_http_responses_total\{/ && index($1, r) {n += $2} END {print n + 0}'
}
# field NAME: a field of the JSON line in $TMP/load, as JSON
field() { python3 -c 'import json,sys; print(json.dumps(json.load(open(sys.argv[1]))[sys.argv[2]]))' "$TMP/load" "$1"; }
# run ARGS: one second at 20/s; prints how many the run sent
run() {
	timeout 30 "$LOAD" --port "$PORT" --rate 20 --duration 1 --drain 5 "$@" >"$TMP/load" ||
		fail "fanout-load $*: exit $?: $(cat "$TMP/load")"
	[ "$(field 2xx)" = 20 ] || fail "fanout-load $*: $(cat "$TMP/load")"
}

item0=$(count item) product0=$(count product)
run --path /item/
[ "$(count item)" = $((item0 + 20)) ] || fail "--path /item/: route item answered $(($(count item) - item0)), want 20"
[ "$(count product)" = "$product0" ] || fail "--path /item/: requests reached the product route"
for f in overhead_p50_ms overhead_p99_ms overhead_p999_ms; do
	[ "$(field $f)" = null ] || fail "--path /item/: $f = $(field $f), want null: $(cat "$TMP/load")"
done
pass "--path /item/: 20 requests on route item, none on product, overhead null"

# With --branches the user vouches for the route's shape: the overhead is computed.
run --path /item/ --branches 2 --base-ms 1 --p99-ms 5 --tail-rate 0 --tail-ms 10
for f in overhead_p50_ms overhead_p99_ms overhead_p999_ms; do
	field $f | grep -Eq '^-?[0-9]+(\.[0-9]+)?$' || fail "--path /item/ --branches 2: $f = $(field $f), want a number"
done
pass "--path /item/ --branches 2: overhead is a number"

product0=$(count product) item0=$(count item)
run
[ "$(count product)" = $((product0 + 20)) ] || fail "default path: route product answered $(($(count product) - product0)), want 20"
[ "$(count item)" = "$item0" ] || fail "default path: requests reached route item"
for f in overhead_p50_ms overhead_p99_ms overhead_p999_ms; do
	field $f | grep -Eq '^-?[0-9]+(\.[0-9]+)?$' || fail "default path: $f = $(field $f), want a number"
done
pass "default path: 20 requests on route product, overhead a number"
stop_fanoutd
