#!/usr/bin/env bash
# Honest health: a best-effort answer with fewer successful branches than the
# route's min_ok is a 502 listing every branch's outcome; partial and complete
# answers say so in X-Fanout-Completed; /healthz is liveness only while
# /readyz is false while draining and while a route's recent success ratio is
# under its floor; /readyz gets through the monitoring reserve.
. "$SRCDIR/tests/integration/lib.sh"

ctl() { "$FANOUTCTL" -s "$TMP/api.sock" "$@"; }
# hget PATH: prints "STATUS COMPLETED-HEADER BODY" ("-" when the header is absent)
hget() {
	curl -s -m 10 -D "$TMP/headers" -o "$TMP/body" -w '%{http_code}' "$(url "$1")" >"$TMP/code" || true
	local completed
	completed=$(tr -d '\r' <"$TMP/headers" | awk -F': ' 'tolower($1) == "x-fanout-completed" {print $2}')
	echo "$(cat "$TMP/code") ${completed:--} $(cat "$TMP/body")"
}

# ---- min_ok and X-Fanout-Completed
all5='["price", "inventory", "reviews", "recommendations", "shipping"]'
conf=$(make_config -e "s/always_fail = \[\];/always_fail = $all5;/")
start_fanoutd "$conf"
read -r code completed body <<<"$(hget /product/1)"
[ "$code" = 502 ] || fail "besteffort with every branch failing: $code, want 502: $body"
for b in price inventory reviews recommendations shipping; do
	echo "$body" | grep -q "{\"branch\":\"$b\",\"outcome\":\"error\"" || fail "502 without $b's outcome: $body"
done
[ "$completed" = false ] || fail "X-Fanout-Completed on the 502: $completed"
pass "besteffort, 0 of 5 branches ok (min_ok 1 by default): 502 listing all 5 outcomes"
stop_fanoutd

conf=$(make_config -e 's/always_fail = \[\];/always_fail = ["reviews", "shipping"];/' \
	-e 's/policy = "besteffort";/policy = "besteffort"; min_ok = 3;/')
start_fanoutd "$conf"
read -r code completed body <<<"$(hget /product/2)"
[ "$code" = 200 ] && [ "$completed" = false ] || fail "3 of 5 with min_ok 3: $code completed=$completed $body"
echo "$body" | grep -q '"degraded":\[{"branch":"reviews"' || fail "degraded list: $body"
pass "min_ok 3, 3 of 5 ok: 200, X-Fanout-Completed: false, degraded listed"
stop_fanoutd
conf=$(make_config -e 's/always_fail = \[\];/always_fail = ["reviews", "shipping"];/' \
	-e 's/policy = "besteffort";/policy = "besteffort"; min_ok = 4;/')
start_fanoutd "$conf"
read -r code completed body <<<"$(hget /product/2)"
[ "$code" = 502 ] || fail "3 of 5 with min_ok 4: $code $body"
echo "$body" | grep -q '"errors":\[{"branch":"reviews","outcome":"error"' || fail "502 outcomes: $body"
echo "$body" | grep -q '"error":"fewer than min_ok branches succeeded' || fail "502 reason: $body"
pass "min_ok 4, 3 of 5 ok: 502 with the failed branches' outcomes"
stop_fanoutd

conf=$(make_config -e 's/policy = "besteffort";/policy = "besteffort"; min_ok = 6;/')
rc=0
out=$("$FANOUTD" -t -c "$conf" --modules "$MODULES" 2>&1) || rc=$?
[ "$rc" = 1 ] && echo "$out" | grep -q "min_ok.*5 branches" || fail "min_ok 6 of 5 branches accepted: $rc $out"
pass "min_ok above the branch count refused: $out"

conf=$(make_config -e 's|mode = "0660";|mode = "0666";|' \
	-e 's/base_ms = 5; p99_ms = 200; tail_rate = 0.001/base_ms = 1; p99_ms = 2; tail_rate = 0/')
start_fanoutd "$conf"
read -r code completed body <<<"$(hget /product/3)"
[ "$code" = 200 ] && [ "$completed" = true ] || fail "complete answer: $code completed=$completed $body"
pass "a complete answer: 200, X-Fanout-Completed: true"

# ---- /healthz is liveness; /readyz is false while draining
read -r code body <<<"$(get /readyz)"
[ "$code" = 200 ] && echo "$body" | grep -q '"status":"ready"' || fail "readyz serving: $code $body"
ctl drain >/dev/null || fail "fanoutctl drain"
read -r code body <<<"$(get /healthz)"
[ "$code" = 200 ] && echo "$body" | grep -q '"status":"alive"' || fail "healthz while draining: $code $body"
read -r code body <<<"$(get /readyz)"
[ "$code" = 503 ] && echo "$body" | grep -q '"reason":"draining"' || fail "readyz while draining: $code $body"
ctl drain --off >/dev/null || fail "fanoutctl drain --off"
read -r code body <<<"$(get /readyz)"
[ "$code" = 200 ] || fail "readyz after drain --off: $code $body"
pass "draining: /healthz 200 (alive), /readyz 503 (draining); drain --off: ready again"
stop_fanoutd

# ---- /readyz is false while a route's recent success ratio is under its floor
conf=$(make_config -e "s/always_fail = \[\];/always_fail = $all5;/" \
	-e 's/policy = "besteffort";/policy = "besteffort"; ready_min_success = 0.5; ready_window_ms = 2000; ready_min_requests = 4;/')
start_fanoutd "$conf"
for i in 1 2 3; do get "/product/$i" >/dev/null; done
read -r code body <<<"$(get /readyz)"
[ "$code" = 200 ] || fail "readyz under ready_min_requests failures: $code $body"
get /product/4 >/dev/null
read -r code body <<<"$(get /readyz)"
[ "$code" = 503 ] && echo "$body" | grep -q '"route":"product"' || fail "readyz with 4 of 4 failing: $code $body"
read -r code body <<<"$(get /healthz)"
[ "$code" = 200 ] || fail "healthz with a failing route: $code $body"
pass "4 of 4 requests failed within the window, floor 0.5: /readyz 503 naming the route, /healthz 200"
ready=
for _ in $(seq 100); do
	read -r code _ <<<"$(get /readyz)"
	[ "$code" = 200 ] && ready=1 && break
	sleep 0.05
done
[ -n "$ready" ] || fail "readyz still $code 5 s after the failures left the 2 s window"
pass "the failures left the window: /readyz 200 again"
stop_fanoutd

# ---- /readyz answers through the monitoring reserve
conf=$(make_config -e 's/max_connections = 10000;/max_connections = 1;/')
start_fanoutd "$conf"
PORT=$PORT PYTHONPATH="$SRCDIR/tests/integration" timeout 30 python3 -c '
from rawhttp import *
def test():
    held = connect()
    held.sendall(request("/healthz"))
    if Reader(held).response().status != 200:
        fail("the one regular connection")
    s = connect()
    s.sendall(request("/readyz"))
    a = Reader(s).response()
    if a.status != 200:
        fail(f"/readyz in the monitoring reserve: {a.status} {a.body!r}")
    ok("at max_connections 1: a reserve connection gets /readyz 200")
main(test)' || fail "see above"
stop_fanoutd
