#!/usr/bin/env bash
# Hedged branches (fanoutd.conf(5) hedge; issue #9): a straggling first
# attempt is beaten by its hedge; the loser's connection is closed at once
# (http module, a downstream that holds the first request of each id); the
# token count stops hedges to a failing downstream; the share cap holds; a
# full limiter refuses hedges; a hedge never runs past the deadline and is
# not sent without min_branch_ms left. Sim draws are pure functions of
# (seed, id, branch, attempt): the same ids give the same stragglers on
# every run, so the counts below are the model's, not luck.
. "$SRCDIR/tests/integration/lib.sh"
[ -e "$MODULES/http.so" ] || fail "$MODULES/http.so was not built (configure found no libcurl?)"

http_server

# 30 % of all draws straggle 2 s; the rest take ~5 ms.
STRAG='sim = { seed = 7; base_ms = 5; p99_ms = 20; tail_rate = 0.3; tail_ms = 2000; };'
cat >"$TMP/fanoutd.conf" <<EOF
workers = { loops = 2; pool = 1; };
api = { mode = "0600"; };
limiters = ( { name = "one"; module = "fixed"; limit = 1; },
             { name = "two"; module = "fixed"; limit = 2; } );
downstreams = { http = { max_host_connections = 16; max_connections = 64; }; };
routes = (
  { name = "plain"; http = "/plain/{id}"; budget_ms = 3000; $STRAG
    branches = ( { name = "b"; downstream = "sim"; timeout_ms = 3000; } ); },
  { name = "hedged"; http = "/hedged/{id}"; budget_ms = 3000; $STRAG
    branches = ( { name = "b"; downstream = "sim"; timeout_ms = 3000;
                   hedge = { delay_ms = 30; max_attempts = 5; max_share = 1.0; }; } ); },
  { name = "loser"; http = "/loser/{id}"; budget_ms = 3000;
    branches = ( { name = "b"; downstream = "http"; timeout_ms = 3000;
                   http = { url = "http://127.0.0.1:$DPORT/once-slow/{id}"; };
                   hedge = { delay_ms = 50; max_share = 1.0; }; } ); },
  { name = "failing"; http = "/failing/{id}"; budget_ms = 3000;
    sim = { seed = 3; base_ms = 20; p99_ms = 30; tail_rate = 0.0; err_rate = 0.5; };
    branches = ( { name = "b"; downstream = "sim"; timeout_ms = 3000;
                   hedge = { delay_ms = 1; max_share = 1.0; max_tokens = 10; token_ratio = 0.1; }; } ); },
  { name = "share"; http = "/share/{id}"; budget_ms = 3000;
    sim = { seed = 3; base_ms = 20; p99_ms = 30; tail_rate = 0.0; };
    branches = ( { name = "b"; downstream = "sim"; timeout_ms = 3000;
                   hedge = { delay_ms = 1; }; } ); },
  { name = "full"; http = "/full/{id}"; budget_ms = 3000; limiter = "one";
    sim = { seed = 3; base_ms = 20; p99_ms = 30; tail_rate = 0.0; };
    branches = ( { name = "b"; downstream = "sim"; timeout_ms = 3000;
                   hedge = { delay_ms = 1; max_share = 1.0; }; } ); },
  { name = "room"; http = "/room/{id}"; budget_ms = 3000; limiter = "two";
    sim = { seed = 3; base_ms = 20; p99_ms = 30; tail_rate = 0.0; };
    branches = ( { name = "b"; downstream = "sim"; timeout_ms = 3000;
                   hedge = { delay_ms = 1; max_share = 1.0; }; } ); },
  { name = "deadline"; http = "/deadline/{id}"; budget_ms = 200; min_branch_ms = 100;
    sim = { seed = 3; base_ms = 5; tail_rate = 1.0; tail_ms = 2000; };
    branches = ( { name = "b"; downstream = "sim"; timeout_ms = 3000;
                   hedge = { delay_ms = 60; max_attempts = 5; max_share = 1.0; }; } ); },
  { name = "p95"; http = "/p95/{id}"; budget_ms = 3000;
    sim = { seed = 5; base_ms = 5; p99_ms = 40; tail_rate = 0.0; };
    branches = ( { name = "b"; downstream = "sim"; timeout_ms = 3000;
                   hedge = { delay_ms = "p95"; max_share = 1.0; }; } ); }
);
EOF
"$FANOUTD" -t -c "$TMP/fanoutd.conf" --modules "$MODULES" >"$TMP/t.out" 2>&1 ||
	fail "fanoutd -t: $(cat "$TMP/t.out")"

# Bad hedge settings are refused, naming the setting.
bad() { # SED-EXPR EXPECTED-TEXT
	sed "$1" "$TMP/fanoutd.conf" >"$TMP/bad.conf"
	"$FANOUTD" -t -c "$TMP/bad.conf" --modules "$MODULES" >"$TMP/t.out" 2>&1 &&
		fail "accepted: $1"
	grep -q "$2" "$TMP/t.out" || fail "$1: $(cat "$TMP/t.out")"
}
bad 's|delay_ms = "p95"|delay_ms = "p99"|' "'delay_ms' must be milliseconds or \"p95\""
bad 's|delay_ms = 30; max_attempts = 5|delay_ms = 30; max_attempts = 6|' "max_attempts"
bad 's|delay_ms = 1; }|delay_ms = 1; max_share = 1.5; }|' "max_share"
bad 's|hedge = { delay_ms = 50; max_share = 1.0; }|hedge = { max_share = 1.0; }|' "needs 'delay_ms'"
pass "config: a bad delay, max_attempts over 5, a share over 1, no delay: refused"

start_fanoutd "$TMP/fanoutd.conf"
hm() { metric "fanoutd_branch_hedges_${1}{route=\"$2\",branch=\"b\"}"; }
refused() { metric "fanoutd_branch_hedges_refused_total{route=\"$1\",branch=\"b\",reason=\"$2\"}"; }

# times ROUTE FIRST N: each request's status, time in ms and id, N at once
times() {
	local args=()
	for i in $(seq "$2" $(($2 + $3 - 1))); do args+=(-o /dev/null "$(url "/$1/$i")"); done
	curl -s --no-progress-meter -Z --parallel-max "$3" --max-time 30 -w '%{http_code} %{time_total} %{url_effective}\n' \
		"${args[@]}" | awk '{ n = split($3, p, "/"); printf "%s %d %s\n", $1, $2 * 1000, p[n] }'
}

# ---- a straggler's hedge wins: the same ids, plain and hedged
times plain 1000 60 >"$TMP/plain"
times hedged 1000 60 >"$TMP/hedged"
slow_plain=$(awk '$2 >= 1900' "$TMP/plain" | wc -l)
slow_hedged=$(awk '$2 >= 1000' "$TMP/hedged" | wc -l)
bad_codes=$(awk '$1 != 200' "$TMP/plain" "$TMP/hedged" | wc -l)
[ "$bad_codes" = 0 ] || fail "non-200 answers: $(cat "$TMP/plain" "$TMP/hedged" | sort | uniq -c | head)"
[ "$slow_plain" -ge 10 ] || fail "the model gave only $slow_plain stragglers of 60 unhedged"
# All five attempts of one id straggle with probability 0.3^5: hardly ever.
[ "$slow_hedged" -le 2 ] || fail "hedged: $slow_hedged of 60 still took over 1 s (unhedged: $slow_plain)"
# The first attempt draws the canonical (seed, id, branch) (the Go peer's and
# fanout-load's): its stragglers are exactly the ids the model says; each
# hedge draws under its own seed, so the ids all of whose attempts straggle
# are the ones still slow.
python3 - "$TMP/plain" "$TMP/hedged" <<'PY' || fail "stragglers are not the model's"
import sys
M = (1 << 64) - 1
G = 0x9E3779B97F4A7C15
def mix(x):
    z = (x + G) & M
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & M
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & M
    return z ^ (z >> 31)
def tail(seed, id, attempt):  # the first uniform of the draw, as lib/sim.c
    if attempt:
        seed = mix(seed ^ ((G * attempt) & M))
    s = mix(mix(mix(seed) ^ id) ^ 0)  # the draw state; its first step gives u_tail
    u = ((mix(s) >> 11) + 1) / 9007199254740992.0
    return u <= 0.3
ids = range(1000, 1060)
slow = lambda f, ms: {int(l.split()[2]) for l in open(f) if int(l.split()[1]) >= ms}
want = {i for i in ids if tail(7, i, 0)}
assert slow(sys.argv[1], 1900) == want, (sorted(slow(sys.argv[1], 1900)), sorted(want))
want = {i for i in ids if all(tail(7, i, a) for a in range(5))}
assert slow(sys.argv[2], 1000) == want, (sorted(slow(sys.argv[2], 1000)), sorted(want))
PY
won=$(hm won_total hedged)
[ "$won" -ge $((slow_plain - slow_hedged)) ] || fail "hedges won $won, fewer than the stragglers saved"
pass "stragglers: $slow_plain of 60 over 1.9 s unhedged, $slow_hedged hedged (hedges sent $(hm total hedged), won $won)"

# ---- the loser is cancelled: its connection closes as the hedge answers
before=$(stat_py 'len(s["slow_closed"])')
read -r code ms _ < <(times loser 1 1)
[ "$code" = 200 ] || fail "loser: $code"
[ "$ms" -ge 40 ] && [ "$ms" -lt 500 ] || fail "the hedge (after 50 ms) answered in $ms ms"
for _ in $(seq 100); do
	[ "$(stat_py 'len(s["slow_closed"])')" -gt "$before" ] && break
	sleep 0.02
done
held=$(stat_py 'int((s["slow_closed"][-1] - s["slow_started"][-1]) * 1000)')
[ "$held" -ge 40 ] && [ "$held" -lt 150 ] ||
	fail "the first attempt's connection closed ${held} ms after it started (hedge at 50 ms)"
[ "$(hm won_total loser)" = 1 ] || fail "loser: hedges won $(hm won_total loser)"
pass "loser: answered in $ms ms by the hedge; the first attempt's connection closed after ${held} ms"

# ---- a failing downstream: the token count stops the hedges
# In batches of 10: hedges already due when the first failures come back are
# sent (as in gRPC, the count judges the calls that have answered).
for r in $(seq 20); do times failing $((r * 10)) 10 >/dev/null; done
sent=$(hm total failing) tok=$(refused failing tokens)
# From 10 tokens, hedges go until 5 net failures; then 50 % failures keep it low.
[ "$sent" -le 20 ] || fail "failing downstream: $sent hedges sent of 200 calls"
[ "$tok" -ge 150 ] || fail "failing downstream: only $tok hedges refused for tokens"
pass "failing downstream (50 %): $sent hedges sent, $tok refused for tokens, of 200 calls"

# ---- the share cap: 5 % of calls (+ the first and a window's burst of 10 at most)
for r in $(seq 20); do times share $((r * 100)) 20 >/dev/null; done
sent=$(hm total share) sh=$(refused share share)
[ "$sent" -le $((400 * 5 / 100 + 11)) ] || fail "share: $sent hedges of 400 calls"
[ "$sent" -ge $((400 * 5 / 100 - 1)) ] || fail "share: only $sent hedges of 400 calls, all due"
[ "$sh" -ge 300 ] || fail "share: $sh refused for the share"
pass "share cap: $sent hedges for 400 calls (5 %), $sh refused for the share"

# ---- limiter headroom: a full limiter refuses the hedge; room lets it go
for i in $(seq 20); do get "/full/$i" >/dev/null; done
for i in $(seq 20); do get "/room/$i" >/dev/null; done
[ "$(hm total full)" = 0 ] || fail "limit 1: $(hm total full) hedges sent"
[ "$(refused full limiter)" = 20 ] || fail "limit 1: $(refused full limiter) refused for the limiter"
[ "$(hm total room)" = 20 ] || fail "limit 2: $(hm total room) hedges sent of 20"
for l in one two; do
	[ "$(metric "fanoutd_limiter_in_flight{limiter=\"$l\"}")" = 0 ] || fail "limiter $l: slots left held"
done
# The hedge held a slot of its own beside its first attempt's.
[ "$(metric 'fanoutd_limiter_in_flight_high_water{limiter="two"}')" = 2 ] || fail "limit 2: a hedge took no slot"
pass "limiter: limit 1 refused all 20 hedges; limit 2 sent 20, each in a slot of its own, all given back"

# ---- the deadline: 200 ms budget, every draw straggles
read -r code ms _ < <(times deadline 1 1)
[ "$ms" -lt 320 ] || fail "deadline: answered after $ms ms (budget 200 ms)"
[ "$code" = 502 ] || [ "$code" = 504 ] || fail "deadline: $code"
# The hedge at 60 ms has ~138 ms left (sent); the next at 120 ms would have ~78 (< min_branch 100).
[ "$(hm total deadline)" = 1 ] || fail "deadline: $(hm total deadline) hedges sent, wanted 1"
[ "$(refused deadline budget)" = 1 ] || fail "deadline: $(refused deadline budget) refused for budget"
pass "deadline: answered $code after $ms ms (budget 200); one hedge sent, the next refused for budget"

# ---- delay "p95": no hedge before the branch has a window of 100 answers,
# then hedges for the calls slower than its p95 (about 5 %)
# In batches of 20, so the latencies are the model's rather than a queue's.
for r in $(seq 4); do times p95 $((r * 20)) 20 >/dev/null; done
[ "$(hm total p95)" = 0 ] || fail "p95: $(hm total p95) hedges before 100 answers"
# The window also lasts at least 1 s: batches until the first hedge goes.
for r in $(seq 200); do
	[ "$(hm total p95)" -gt 0 ] && break
	times p95 $((1000 + r * 20)) 20 >/dev/null
done
before=$(hm total p95)
[ "$before" -gt 0 ] || fail "p95: no hedge after 4000 calls"
for r in $(seq 20); do times p95 $((10000 + r * 20)) 20 >/dev/null; done
sent=$(($(hm total p95) - before))
[ "$sent" -ge 4 ] && [ "$sent" -le 60 ] || fail "p95: $sent hedges of 400 calls"
pass "p95 delay: none before 100 answers, then $sent hedges for 400 calls"

for _ in $(seq 100); do
	[ "$(metric fanoutd_branches_in_flight)" = 0 ] && break
	sleep 0.02
done
[ "$(metric fanoutd_branches_in_flight)" = 0 ] || fail "branches in flight after the tests"
stop_fanoutd
