#!/usr/bin/env bash
# GET /product/{id}: the joined answer under each policy, bad input, metrics,
# the global limiter's cap, and cancellation reaching every branch when the
# client leaves.
. "$SRCDIR/tests/integration/lib.sh"

# ---- the shipped distribution
start_fanoutd "$SRCDIR/etc/fanoutd.conf"
read -r code body <<<"$(get /product/42)"
[ "$code" = 200 ] || fail "GET /product/42: $code $body"
for b in price inventory reviews recommendations shipping; do
	echo "$body" | grep -q "\"$b\":{\"v\":[0-9]*}" || fail "branch $b missing: $body"
done
echo "$body" | grep -q '"degraded":\[\]' || fail "degraded not empty: $body"
pass "F=5 joined: $body"
# Deterministic: the same id gives the same values.
read -r _ again <<<"$(get /product/42)"
[ "${body%%,\"degraded\"*}" = "${again%%,\"degraded\"*}" ] || fail "values differ between calls"
pass "deterministic values for the same id"

read -r code body <<<"$(get /product/abc)"
[ "$code" = 400 ] && echo "$body" | grep -q '"field":"id"' || fail "bad id: $code $body"
read -r code body <<<"$(get '/product/1?policy=sometimes')"
[ "$code" = 400 ] && echo "$body" | grep -q '"field":"policy"' || fail "bad policy: $code $body"
read -r code body <<<"$(get '/product/1?budget_ms=0')"
[ "$code" = 400 ] && echo "$body" | grep -q '"field":"budget_ms"' || fail "bad budget: $code $body"
read -r code body <<<"$(get /nothing/here)"
[ "$code" = 404 ] || fail "unknown route: $code $body"
pass "bad input: 400 naming the field, 404 for unknown routes"
# Guardrails: by default a client may ask for up to 60 s (max_budget_ms), not 600.
read -r code body <<<"$(get '/product/1?budget_ms=60001')"
[ "$code" = 400 ] && echo "$body" | grep -q '"field":"budget_ms"' && echo "$body" | grep -q '\[4, 60000\]' ||
	fail "budget over the default max_budget_ms: $code $body"
# ... and not less than the branches need to start: join_reserve_ms 2 + min_branch_ms 1 + 1.
read -r code body <<<"$(get '/product/1?budget_ms=3')"
[ "$code" = 400 ] && echo "$body" | grep -q '\[4, 60000\]' || fail "budget_ms=3 (branches cannot start): $code $body"
read -r code body <<<"$(get '/product/1?budget_ms=4')"
[ "$code" != 400 ] || fail "budget_ms=4 refused: $body"
read -r code body <<<"$(get '/product/1?budget_ms=60000&policy=failfast')"
[ "$code" = 200 ] || fail "budget at the default max_budget_ms, policy override allowed by default: $code $body"
pass "default guardrails: budget_ms 4 to 60000 (3 and 60001: 400 naming the range); ?policy= allowed"

curl -fs "$(url /metrics)" >"$TMP/metrics" || fail "/metrics"
for m in fanoutd_threads fanoutd_branches_in_flight fanoutd_limiter_in_flight_high_water \
	fanoutd_branch_duration_seconds_bucket fanoutd_branch_outcomes_total \
	fanoutd_request_duration_seconds_bucket fanoutd_join_wait_seconds_count \
	fanoutd_admission_wait_seconds_count fanoutd_admission_rejections_total \
	fanoutd_degraded_total process_resident_memory_bytes process_open_fds; do
	grep -q "^$m" "$TMP/metrics" || fail "metric $m missing"
done
if have promtool "the /metrics exposition format"; then
	promtool check metrics <"$TMP/metrics" || fail "promtool check metrics"
	pass "promtool check metrics: clean"
fi
pass "/metrics carries the metrics"
stop_fanoutd

# ---- per-route guardrails: max_budget_ms and allow_policy_override = false
conf=$(make_config -e 's/budget_ms = 300; /budget_ms = 300; max_budget_ms = 500; allow_policy_override = false; /')
grep -q "max_budget_ms = 500; allow_policy_override = false;" "$conf" || fail "the sed did not apply"
start_fanoutd "$conf"
read -r code body <<<"$(get '/product/1?budget_ms=501')"
[ "$code" = 400 ] && echo "$body" | grep -q '"field":"budget_ms"' && echo "$body" | grep -q "\[4, 500\] (route 'product': join_reserve_ms + min_branch_ms + 1 to max_budget_ms)" ||
	fail "budget over max_budget_ms = 500: $code $body"
read -r code body <<<"$(get '/product/1?budget_ms=500')"
[ "$code" = 200 ] || fail "budget at max_budget_ms: $code $body"
read -r code body <<<"$(get '/product/1?policy=failfast')"
[ "$code" = 400 ] && echo "$body" | grep -q '"field":"policy"' && echo "$body" | grep -q "allow_policy_override = false" ||
	fail "policy override on a route that forbids it: $code $body"
read -r code body <<<"$(get '/product/1?policy=besteffort')"
[ "$code" = 200 ] || fail "naming the route's own policy: $code $body"
pass "max_budget_ms = 500: 501 refused (400 naming the limit), 500 served; allow_policy_override = false: ?policy=failfast 400, its own besteffort 200"
stop_fanoutd

# ---- policies with 'reviews' always failing
conf=$(make_config -e 's/always_fail = \[\];/always_fail = ["reviews"];/')
start_fanoutd "$conf"
read -r code body <<<"$(get /product/7)"
[ "$code" = 200 ] || fail "besteffort: $code $body"
echo "$body" | grep -q '"reviews":null' || fail "besteffort kept reviews: $body"
echo "$body" | grep -q '"degraded":\[{"branch":"reviews","outcome":"error"' || fail "no degraded entry: $body"
pass "besteffort: 200 with reviews degraded: $body"
read -r code body <<<"$(get '/product/7?policy=failfast')"
[ "$code" = 502 ] || fail "failfast: $code $body"
echo "$body" | grep -q '"branch":"reviews","outcome":"error"' || fail "failfast error list: $body"
pass "failfast: 502: $body"
read -r code body <<<"$(get '/product/7?policy=collectall')"
[ "$code" = 502 ] && echo "$body" | grep -q '"reviews"' || fail "collectall: $code $body"
pass "collectall: 502 listing the failure"
[ "$(metric 'fanoutd_degraded_total{route="product"}')" = 1 ] || fail "degraded counter"
stop_fanoutd

# ---- budget: a request with 20 ms cannot wait for the 200 ms branches
conf=$(make_config -e 's/base_ms = 5; p99_ms = 200; tail_rate = 0.001/base_ms = 200; p99_ms = 400; tail_rate = 0/')
start_fanoutd "$conf"
read -r code body <<<"$(get '/product/3?budget_ms=20&policy=failfast')"
[ "$code" = 504 ] || fail "deadline under failfast: $code $body"
# besteffort with nothing answered is below min_ok (1 by default): 502 with the timeouts.
read -r code body <<<"$(get '/product/3?budget_ms=20')"
[ "$code" = 502 ] && echo "$body" | grep -q '"outcome":"timeout"' || fail "besteffort budget: $code $body"
ms=$(echo "$body" | sed 's/.*"ms":\([0-9.]*\).*/\1/')
awk -v ms="$ms" 'BEGIN { exit !(ms < 100) }' || fail "the 20 ms budget took $ms ms"
pass "a 20 ms budget cuts the 200 ms branches: 504 failfast, 502 besteffort (0 of min_ok 1) in $ms ms"

# ---- client disconnect cancels every branch at once
curl -s --max-time 0.1 "$(url /product/5)" >/dev/null 2>&1 || true
for _ in $(seq 100); do
	[ "$(metric fanoutd_branches_in_flight)" = 0 ] && break
	sleep 0.01
done
[ "$(metric fanoutd_branches_in_flight)" = 0 ] || fail "branches still in flight after disconnect"
cancelled=$(curl -fs "$(url /metrics)" | awk '/^fanoutd_branch_outcomes_total.*outcome="cancelled"/ {n += $2} END {print n + 0}')
[ "$cancelled" -ge 5 ] || fail "disconnect cancelled $cancelled branches, want 5"
pass "client disconnect: all 5 branches cancelled, in flight back to 0 within 1 s"
stop_fanoutd

# ---- configured names with quotes: every JSON body stays valid (answer, degraded
# list, error messages naming the route, /readyz naming the failing route).
conf=$(make_config -e 's/name = "product";/name = "pro\\"duct";/' \
	-e 's/{ name = "price"; /{ name = "pr\\"ice"; /' -e 's/always_fail = \[\];/always_fail = ["pr\\"ice"]; min_ok = 5; ready_min_success = 0.5; ready_min_requests = 1;/')
grep -q 'name = "pr\\"ice";' "$conf" && grep -q 'always_fail = \["pr\\"ice"\]' "$conf" || fail "the quoted-names sed did not apply"
start_fanoutd "$conf"
PORT=$PORT PYTHONPATH="$SRCDIR/tests/integration" timeout 30 python3 -c '
from rawhttp import *
def test():
    a = get("/product/1")
    b = a.json()  # fails on invalid JSON
    if a.status != 502 or [e["branch"] for e in b["errors"]] != ["pr\"ice"]:
        fail(f"min_ok 5 with pr\"ice failing: {a.status} {a.body!r}")
    a = get("/product/1?budget_ms=1")
    if a.status != 400 or "route \u0027pro\"duct\u0027" not in a.json()["error"]:
        fail(f"a bad budget on route pro\"duct: {a.status} {a.body!r}")
    a = get("/readyz")
    if a.status != 503 or a.json().get("route") != "pro\"duct":
        fail(f"/readyz with pro\"duct failing: {a.status} {a.body!r}")
    ok("names with quotes: the answer, its errors, a 400 naming the route and /readyz are valid JSON")
main(test)' || fail "see above"
stop_fanoutd

# ---- 1,000 clients disconnect mid-request: every branch is cancelled, none leaks
# Branches of 2 s (no spread), a limiter wide enough to start all 5,000 at once.
conf=$(make_config -e 's/module = "aimd";/module = "fixed"; limit = 10000;/' -e '/initial = 2000;/d' \
	-e '/min = 200;/d' -e '/max = 20000;/d' -e '/backoff = 0.9;/d' -e '/latency_threshold_ms = 0;/d' \
	-e 's/base_ms = 5; p99_ms = 200; tail_rate = 0.001/base_ms = 1000; p99_ms = 1000; tail_rate = 0/' \
	-e 's/timeout_ms = 250;/timeout_ms = 20000;/')
start_fanoutd "$conf"
PORT=$PORT PYTHONPATH="$SRCDIR/tests/integration" timeout 90 python3 -c '
import resource, time
from rawhttp import *
def test():
    n = 1000
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, n + 256), hard))
    cancelled = lambda m: sum(v for k, v in m.items()
        if k.startswith("fanoutd_branch_outcomes_total") and "outcome=\"cancelled\"" in k)
    before = cancelled(metrics())
    socks = []
    for i in range(n):
        s = connect(timeout=10)
        s.sendall(request(f"/product/{i}?budget_ms=30000"))
        socks.append(s)
    wait_for(f"{5 * n} branches in flight",
             lambda: metric("fanoutd_branches_in_flight") == 5 * n, timeout=20, every=0.05)
    t0 = time.monotonic()
    for s in socks:
        s.close()
    # Done: no branch left, and no connection but the one reading /metrics.
    def settled():
        m = metrics()
        return m["fanoutd_branches_in_flight"] == 0 and m["fanoutd_http_connections"] == 1
    wait_for("branches and connections back to 0", settled, timeout=5)
    took = time.monotonic() - t0
    if cancelled(metrics()) - before != 5 * n:
        fail(f"{cancelled(metrics()) - before} branches cancelled, want {5 * n}")
    if took > 1.5:
        fail(f"in flight took {took:.3f} s to return to 0")
    ok(f"{n} clients gone mid-request: {5 * n} branches cancelled, in flight 0 after {took:.3f} s")
    a = get("/product/1?budget_ms=5000")
    if a.status != 200 or a.json()["degraded"] != []:
        fail(f"after the disconnects: {a.status} {a.body!r}")
    ok("still serving after the disconnects: /product/1 answered whole")
main(test)' || fail "see above"
stop_fanoutd

# ---- the global limiter caps downstream concurrency across requests
conf=$(make_config -e 's/module = "aimd";/module = "fixed"; limit = 4;/' -e '/initial = 2000;/d' \
	-e '/min = 200;/d' -e '/max = 20000;/d' -e '/backoff = 0.9;/d' -e '/latency_threshold_ms = 0;/d' \
	-e 's/base_ms = 5; p99_ms = 200; tail_rate = 0.001/base_ms = 20; p99_ms = 40; tail_rate = 0/')
start_fanoutd "$conf"
seq 40 | xargs -P 20 -I{} curl -s -o /dev/null -w '%{http_code}\n' "$(url '/product/{}?budget_ms=5000')" >"$TMP/codes"
[ "$(grep -c '^200$' "$TMP/codes")" = 40 ] || fail "under the cap: $(sort "$TMP/codes" | uniq -c)"
hw=$(metric 'fanoutd_limiter_in_flight_high_water{limiter="downstreams"}')
[ "$hw" = 4 ] || fail "high water $hw, want exactly the limit 4"
pass "40 concurrent requests x 5 branches through a limit of 4: high water $hw, all 200"
# Short budgets under the same load: admission waits, then 503, never more in flight.
seq 40 | xargs -P 20 -I{} curl -s -o /dev/null -w '%{http_code}\n' "$(url '/product/{}?budget_ms=30')" >"$TMP/codes"
grep -q '^503$' "$TMP/codes" || fail "no 503 under overload: $(sort "$TMP/codes" | uniq -c)"
[ "$(metric 'fanoutd_limiter_in_flight_high_water{limiter="downstreams"}')" = 4 ] || fail "cap exceeded"
rej=$(metric 'fanoutd_admission_rejections_total{route="product"}')
[ "$rej" -ge 1 ] || fail "rejections not counted"
pass "overload: $(grep -c '^503$' "$TMP/codes") of 40 answered 503 (Retry-After), cap held at 4"
stop_fanoutd

# ---- the weighted limiter counts branch weights: weight 4 against a limit of 6
# lets one branch in at a time, so the weight held never goes past 4 (a fixed
# limiter would admit six).
conf=$(make_config -e 's/module = "aimd";/module = "weighted"; limit = 6;/' -e '/initial = 2000;/d' \
	-e '/min = 200;/d' -e '/max = 20000;/d' -e '/backoff = 0.9;/d' -e '/latency_threshold_ms = 0;/d' \
	-e 's/base_ms = 5; p99_ms = 200; tail_rate = 0.001/base_ms = 2; p99_ms = 4; tail_rate = 0/' \
	-e 's/timeout_ms = 250; }/timeout_ms = 250; weight = 4; }/')
start_fanoutd "$conf"
seq 10 | xargs -P 10 -I{} curl -s -o /dev/null -w '%{http_code}\n' "$(url '/product/{}?budget_ms=5000')" >"$TMP/codes"
[ "$(grep -c '^200$' "$TMP/codes")" = 10 ] || fail "weighted: $(sort "$TMP/codes" | uniq -c)"
hw=$(metric 'fanoutd_limiter_in_flight_high_water{limiter="downstreams"}')
[ "$hw" = 4 ] || fail "weighted: high water $hw, want 4 (one weight-4 branch at a time)"
pass "weighted limiter, limit 6, branches of weight 4: high water $hw, all 10 requests 200"
stop_fanoutd

# ---- a loadable policy: quorum (3 of 5 answer, the rest are cancelled then)
# Three fast branches (~1 ms) and two slow ones (>= 1 s), so the cut is unambiguous.
conf=$(make_config -e 's/policy = "besteffort";/policy = "quorum"; quorum = 3;/' \
	-e 's/base_ms = 5; p99_ms = 200; tail_rate = 0.001/base_ms = 1; p99_ms = 2; tail_rate = 0/' \
	-e 's/{ name = "recommendations"; downstream = "sim"; timeout_ms = 250; }/{ name = "recommendations"; downstream = "sim"; timeout_ms = 5000; sim = { base_ms = 1000; p99_ms = 2000; tail_rate = 0.0; }; }/' \
	-e 's/{ name = "shipping";        downstream = "sim"; timeout_ms = 250; }/{ name = "shipping"; downstream = "sim"; timeout_ms = 5000; sim = { base_ms = 1000; p99_ms = 2000; tail_rate = 0.0; }; }/')
start_fanoutd "$conf"
read -r code body <<<"$(get '/product/11?budget_ms=5000')"
[ "$code" = 200 ] || fail "quorum: $code $body"
n_ok=$(echo "$body" | grep -o '{"v":[0-9]*}' | wc -l)
n_cut=$(echo "$body" | grep -o '"outcome":"cancelled","error":"policy-done"' | wc -l)
[ "$n_ok" = 3 ] && [ "$n_cut" = 2 ] || fail "quorum of 3: $n_ok answered, $n_cut cancelled: $body"
ms=$(echo "$body" | sed 's/.*"ms":\([0-9.]*\).*/\1/')
awk -v ms="$ms" 'BEGIN { exit !(ms < 900) }' || fail "quorum waited for the slow branches: $ms ms"
pass "policy module quorum=3: 3 answers in $ms ms, the 2 slow branches cancelled at the quorum"
stop_fanoutd
