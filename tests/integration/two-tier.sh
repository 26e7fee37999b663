#!/usr/bin/env bash
# Two tiers over real loopback HTTP (issue 9): a back fanoutd serving only
# its sim endpoint (etc/two-tier/back.conf) and a front fanoutd whose product
# route calls it through the http downstream (etc/two-tier/front.conf).
# Checked: both shipped configs and the commented example in etc/fanoutd.conf
# pass -t; the front's joined answers equal, id for id, those of a route on
# the in-process sim module with the same seed (values and degraded set), and
# the canonical draw predicts them (tests/integration/simdraw.py); the back's
# answers carry the drawn latency (a straggler takes at least its draw),
# fail_branch is a 503 at the back and a degraded branch at the front; a call
# the front gives up on (its straggler past the branch timeout) is answered
# by the back at once, as the front closes it, and its timer never fires
# later; bad {branch} and {id} get 404 and 400; a reload changes the draw;
# without sim_endpoint the path is the gateway's (404 no such route); both
# daemons exit 0 on SIGTERM (in build-asan: no leak, no late timer).
. "$SRCDIR/tests/integration/lib.sh"
[ -e "$MODULES/http.so" ] || fail "$MODULES/http.so was not built (configure found no libcurl?)"
T=$SRCDIR/etc/two-tier
ge() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(a >= b) }'; } # ge A B: A >= B (decimals)
now() { date +%s.%N; }

# ---- the shipped pair, and the commented example, pass -t
for f in back front; do
	out=$("$FANOUTD" -t -c "$T/$f.conf" --modules "$MODULES" 2>&1) || fail "etc/two-tier/$f.conf: $out"
done
sed -n '/^# sim_endpoint = {/,/^# };/s/^# //p' "$SRCDIR/etc/fanoutd.conf" >"$TMP/example"
grep -q 'enabled = true' "$TMP/example" || fail "no commented sim_endpoint example in etc/fanoutd.conf"
cat "$SRCDIR/etc/fanoutd.conf" "$TMP/example" >"$TMP/example.conf"
out=$("$FANOUTD" -t -c "$TMP/example.conf" --modules "$MODULES" 2>&1) || fail "the uncommented example: $out"
pass "etc/two-tier/{back,front}.conf and etc/fanoutd.conf's example pass -t"

# ---- the section: -T prints it whole; bad settings are refused at their line
out=$("$FANOUTD" -T -c "$T/back.conf" --modules "$MODULES" 2>&1) || fail "-T back.conf: $out"
echo "$out" | tr -d '\n ' | grep -q 'sim_endpoint:{enabled=true;seed=1;base_ms=5;p99_ms=200;tail_rate=0.001;tail_ms=2000;err_rate=0.0;fail_branch="";branches=\["price","inventory","reviews","recommendations","shipping"\];}' ||
	fail "-T does not print the sim_endpoint section: $out"
out=$("$FANOUTD" -T -c "$T/front.conf" --modules "$MODULES" 2>&1) || fail "-T front.conf: $out"
echo "$out" | tr -d '\n ' | grep -q 'sim_endpoint:{enabled=false;' || fail "-T without the section: $out"
refused() { # WHAT PATTERN SED-EXPRESSION: back.conf so edited fails -t saying PATTERN
	sed -e "$3" "$T/back.conf" >"$TMP/bad.conf"
	out=$("$FANOUTD" -t -c "$TMP/bad.conf" --modules "$MODULES" 2>&1) && fail "$1: accepted"
	echo "$out" | grep -qE "$2" || fail "$1: $out"
}
refused "a misspelt setting" "bad.conf:[0-9]+: unknown setting 'eror_rate' in 'sim_endpoint': did you mean 'err_rate'\?" \
	's/err_rate = 0.0;/eror_rate = 0.0;/'
refused "err_rate out of range" "bad.conf:[0-9]+: 'err_rate' = 1.5 is out of range \[0, 1\]" 's/err_rate = 0.0;/err_rate = 1.5;/'
refused "a fail_branch not listed" "bad.conf:[0-9]+: fail_branch 'nope' is not one of the sim_endpoint's branches" \
	's/fail_branch = "";/fail_branch = "nope";/'
refused "a branch listed twice" "bad.conf:[0-9]+: sim branch 'price' is listed twice" 's/"shipping"\]/"price"]/'
refused "a branch name with a slash" "bad.conf:[0-9]+: sim branch name 'a/b' must be letters" 's/"shipping"\]/"a\/b"]/'
refused "no routes and not enabled" "no 'routes'" 's/enabled = true;/enabled = false;/'
pass "-T prints sim_endpoint; misspelt, out-of-range and inconsistent settings are refused at their line"

# ---- the back tier: the shipped back.conf, drawing failures and stragglers
SEED=7 BASE=1 P99=20 RATE=0.05 TAIL=1500 ERR=0.1 FIDX=2 # fail_branch reviews: index 2
BRANCHES=(price inventory reviews recommendations shipping)
BPORT=$(free_port)
B="http://127.0.0.1:$BPORT"
sed -e "s/127.0.0.1:8081/127.0.0.1:$BPORT/" -e "s/seed = 1;/seed = $SEED;/" \
	-e "s/base_ms = 5;/base_ms = $BASE;/" -e "s/p99_ms = 200;/p99_ms = $P99;/" \
	-e "s/tail_rate = 0.001;/tail_rate = $RATE;/" -e "s/tail_ms = 2000;/tail_ms = $TAIL;/" \
	-e "s/err_rate = 0.0;/err_rate = $ERR;/" -e 's/fail_branch = "";/fail_branch = "reviews";/' \
	"$T/back.conf" >"$TMP/back.conf"
grep -q "fail_branch = \"reviews\"" "$TMP/back.conf" || fail "back.conf's settings moved: update this test"
"$FANOUTD" -c "$TMP/back.conf" --modules "$MODULES" --socket "$TMP/back.sock" >"$TMP/back.log" 2>&1 &
BACK_PID=$!
at_exit '[ -z "$BACK_PID" ] || { kill -KILL "$BACK_PID"; wait "$BACK_PID"; } 2>/dev/null'
for _ in $(seq 200); do
	curl -fs "$B/healthz" >/dev/null 2>&1 && break
	kill -0 "$BACK_PID" 2>/dev/null || fail "the back tier exited at start: $(cat "$TMP/back.log")"
	sleep 0.05
done
back_metric() { curl -fs "$B/metrics" | awk -v k="$1" '$1 == k {print $2}'; }
# The back's sim endpoint answers with status $1 so far (a status not yet seen is not rendered).
sim_count() {
	local v
	v=$(back_metric "fanoutd_http_responses_total{route=\"sim_endpoint\",code=\"$1\"}")
	echo "${v:-0}"
}

# ---- the front tier: front.conf to the back's port, plus a route on the in-process sim
sed -e "s/127.0.0.1:8081/127.0.0.1:$BPORT/" -e '$d' "$T/front.conf" >"$TMP/front.conf"
cat >>"$TMP/front.conf" <<CONF
  ,
  { name = "local"; http = "/local/{id}"; policy = "besteffort"; limit = 5; budget_ms = 300;
    join_reserve_ms = 2; always_fail = ["reviews"];
    sim = { seed = $SEED; base_ms = $BASE; p99_ms = $P99; tail_rate = $RATE; tail_ms = $TAIL; err_rate = $ERR; };
    branches = (
      { name = "price";           downstream = "sim"; timeout_ms = 250; },
      { name = "inventory";       downstream = "sim"; timeout_ms = 250; },
      { name = "reviews";         downstream = "sim"; timeout_ms = 250; },
      { name = "recommendations"; downstream = "sim"; timeout_ms = 250; },
      { name = "shipping";        downstream = "sim"; timeout_ms = 250; }
    ); }
);
CONF
start_fanoutd "$TMP/front.conf"
[ "$(sim_count 200)" = 0 ] || fail "the back answered before any call"

# ---- the front over HTTP = the in-process sim = the model, for ids 1..N
N=300
python3 "$SRCDIR/tests/integration/simdraw.py" $SEED $BASE $P99 $RATE $TAIL $ERR $FIDX \
	"$(seq -s, 1 $N)" 0 1 2 3 4 >"$TMP/draws"
START=$(now)
python3 - "$(url '')" "$TMP/draws" "$N" "${BRANCHES[*]}" <<'PY' || fail "the two tiers disagree (above)"
import json, sys, urllib.request
from concurrent.futures import ThreadPoolExecutor
base, draws, n, names = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4].split()
model = {}
for line in open(draws):
    i, b, lat, fail, tail = line.split()
    model[(int(i), int(b))] = (float(lat), fail == "1", tail == "1")
def get(path):
    try:
        with urllib.request.urlopen(base + path, timeout=10) as r:
            return r.status, json.load(r)
    except urllib.error.HTTPError as e:
        return e.code, json.load(e)
def pair(i):
    return i, get(f"/product/{i}"), get(f"/local/{i}")
bad = 0
with ThreadPoolExecutor(16) as ex:
    for i, (s1, front), (s2, local) in ex.map(pair, range(1, n + 1)):
        deg = lambda d: sorted((e["branch"], e["outcome"]) for e in d.get("degraded", []))
        keep = lambda d: {k: v for k, v in d.items() if k not in ("ms", "degraded")}
        want = sorted((names[b], "timeout" if model[(i, b)][2] else "error")
                      for b in range(5) if model[(i, b)][1] or model[(i, b)][2])
        if s1 != s2 or keep(front) != keep(local) or deg(front) != deg(local) or deg(front) != want:
            bad += 1
            if bad <= 3:
                print(f"id {i}: front {s1} {front}\n  local {s2} {local}\n  model degraded {want}")
sys.exit(1 if bad else 0)
PY
pass "ids 1..$N: the front over HTTP answers as the in-process sim (values, degraded set) and as the draw"

# What the back must have answered: a 200 per call drawn neither failed nor a
# straggler, a 503 per failed one; the stragglers' calls ended at once when the
# front gave up on them (250 ms), long before their 1.5 s timer, and count as
# 499 (the client left before its answer).
want200=$(awk '$4 == 0 && $5 == 0' "$TMP/draws" | wc -l)
want503=$(awk '$4 == 1 && $5 == 0' "$TMP/draws" | wc -l)
stragglers=$(awk '$5 == 1' "$TMP/draws" | wc -l)
[ "$stragglers" -gt 10 ] || fail "only $stragglers stragglers drawn: nothing to cancel"
answered() { echo "$(sim_count 200)/$(sim_count 503)/$(sim_count 499)"; }
for _ in $(seq 100); do
	[ "$(answered)" = "$want200/$want503/$stragglers" ] && break
	sleep 0.02
done
[ "$(answered)" = "$want200/$want503/$stragglers" ] ||
	fail "the back answered $(answered) (200/503/499), want $want200/$want503/$stragglers"
pass "the back ended its $stragglers cancelled stragglers at once ($want200 x 200, $want503 x 503, $stragglers x 499)"
# Past the stragglers' drawn time: no timer of theirs fired late.
while ! ge "$(now)" "$(awk -v s="$START" -v t="$TAIL" 'BEGIN { printf "%.6f", s + (t + 300) / 1000 }')"; do
	curl -fs --max-time 5 "$B/healthz" >/dev/null || fail "the back tier died"
	sleep 0.1
done
[ "$(sim_count 200)/$(sim_count 503)" = "$want200/$want503" ] ||
	fail "a cancelled call answered later: $(sim_count 200)/$(sim_count 503), want $want200/$want503"
pass "no cancelled call's timer fired after its drawn ${TAIL} ms"

# ---- the back alone: the draw's latency, the fail branch, bad paths
read -r TID _ <<<"$(awk '$2 == 0 && $5 == 1 && $4 == 0 {print $1; exit}' "$TMP/draws")"
[ -n "$TID" ] || fail "no price straggler drawn"
out=$(curl -s -o "$TMP/body" -w '%{http_code} %{time_total}' "$B/sim/price/$TID")
read -r code secs <<<"$out"
body=$(cat "$TMP/body")
[ "$code" = 200 ] || fail "the straggler /sim/price/$TID: $out $body"
ge "$secs" "$(awk -v t="$TAIL" 'BEGIN { print t / 1000 }')" || fail "the straggler took $secs s, drawn $TAIL ms"
echo "$body" | grep -qE '^\{"v":[0-9]+\}$' || fail "the body: $body"
pass "a straggler takes its drawn ${TAIL} ms ($secs s)"
for row in $(awk '$2 == 1 && $4 == 0 && $5 == 0 {print $1 ":" $3}' "$TMP/draws" | head -5); do
	id=${row%%:*} ms=${row#*:}
	secs=$(curl -fs -o /dev/null -w '%{time_total}' "$B/sim/inventory/$id") || fail "/sim/inventory/$id"
	ge "$(awk -v s="$secs" 'BEGIN { print s * 1000 }')" "$(awk -v m="$ms" 'BEGIN { print m - 1 }')" || fail "/sim/inventory/$id took $secs s, drawn $ms ms"
done
pass "answers take their drawn latency"
out=$(curl -s -w ' %{http_code}' "$B/sim/reviews/1")
[ "$out" = '{"error":"injected"}
 503' ] || fail "fail_branch reviews: $out"
pass "fail_branch: 503 at the back (and degraded at the front, above)"
out=$(curl -s -w ' %{http_code}' "$B/sim/nope/1")
[[ "$out" == *'"field":"branch"'*' 404' && "$out" == *'price, inventory, reviews, recommendations, shipping'* ]] ||
	fail "an unknown branch: $out"
for p in /sim/price/x /sim/price/ /sim/price/1/2 /sim/price/18446744073709551616; do
	out=$(curl -s -w ' %{http_code}' "$B$p")
	[[ "$out" == *'"field":"id"'*' 400' ]] || fail "$p: $out"
done
[ "$(curl -s -o /dev/null -w '%{http_code}' "$B/sim/price")" = 404 ] || fail "/sim/price (no id)"
[ "$(curl -s -o /dev/null -w '%{http_code}' -X POST "$B/sim/price/1")" = 405 ] || fail "POST /sim"
[ "$(curl -s -o /dev/null -w '%{http_code}' "$B/product/1")" = 404 ] || fail "a route on the back"
out=$(curl -s -w ' %{http_code}' "$(url /sim/price/1)")
[[ "$out" == *'no such route'*' 404' ]] || fail "/sim on the front, where it is not enabled: $out"
pass "bad {branch}: 404, bad {id}: 400, POST: 405; not enabled: the gateway's 404"

# ---- a reload changes the draw: fail_branch price
read -r OKID _ <<<"$(awk '$2 == 0 && $4 == 0 && $5 == 0 {print $1; exit}' "$TMP/draws")"
[ "$(curl -s -o /dev/null -w '%{http_code}' "$B/sim/price/$OKID")" = 200 ] || fail "/sim/price/$OKID before the reload"
sed -i 's/fail_branch = "reviews";/fail_branch = "price";/' "$TMP/back.conf"
kill -HUP "$BACK_PID"
for _ in $(seq 100); do
	[ "$(curl -s -o /dev/null -w '%{http_code}' "$B/sim/price/$OKID")" = 503 ] && break
	sleep 0.05
done
[ "$(curl -s -o /dev/null -w '%{http_code}' "$B/sim/price/$OKID")" = 503 ] || fail "the reload did not make price fail"
[ "$(curl -s -o /dev/null -w '%{http_code}' "$B/sim/reviews/$OKID")" != 503 ] ||
	[ "$(awk -v i="$OKID" '$1 == i && $2 == 2 {print $4}' "$TMP/draws")" = 1 ] || fail "reviews still fails after the reload"
pass "a reload changes the sim endpoint's settings"

# ---- both stop cleanly (build-asan: LeakSanitizer would make the exit status non-zero)
stop_fanoutd
kill -TERM "$BACK_PID"
rc=0
wait "$BACK_PID" || rc=$?
BACK_PID=
[ "$rc" = 0 ] || fail "the back tier exited $rc after SIGTERM: $(tail -20 "$TMP/back.log")"
pass "both tiers exit 0"
