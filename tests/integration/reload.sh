#!/usr/bin/env bash
# Graceful reload: 100 SIGHUPs while requests run, not one request fails; a
# bad config at reload is refused and the old generation keeps serving.
. "$SRCDIR/tests/integration/lib.sh"

conf=$(make_config -e 's/budget_ms = 300;/budget_ms = 5000;/')
start_fanoutd "$conf"
gen0=$(metric fanoutd_config_generation)

# The load: 1,500 requests, 8 at a time, until done.
seq 1500 | xargs -P 8 -I{} curl -s -o /dev/null -w '%{http_code}\n' "$(url '/product/{}')" >"$TMP/codes" &
load=$!
for i in $(seq 100); do
	kill -HUP "$FOD_PID"
	# wait for this reload to be done before the next (the counter is the signal)
	for _ in $(seq 500); do
		[ "$(metric 'fanoutd_reloads_total{result="ok"}')" = "$i" ] && break
		sleep 0.01
	done
	[ "$(metric 'fanoutd_reloads_total{result="ok"}')" = "$i" ] || fail "reload $i not done"
done
wait "$load"
total=$(wc -l <"$TMP/codes")
ok=$(grep -c '^200$' "$TMP/codes" || true)
[ "$total" = 1500 ] && [ "$ok" = 1500 ] || fail "during reloads: $ok of $total answered 200: $(sort "$TMP/codes" | uniq -c)"
gen=$(metric fanoutd_config_generation)
[ "$gen" -gt "$gen0" ] || fail "generation did not move: $gen0 -> $gen"
pass "100 reloads under load: $ok/$total requests 200, generation $gen0 -> $gen"

# A broken config at reload: refused, counted, the old one keeps serving.
sed -i 's/budget_ms = 5000;/budget_ms = ;/' "$conf"
kill -HUP "$FOD_PID"
for _ in $(seq 500); do
	[ "$(metric 'fanoutd_reloads_total{result="failed"}')" = 1 ] && break
	sleep 0.01
done
[ "$(metric 'fanoutd_reloads_total{result="failed"}')" = 1 ] || fail "failed reload not counted"
[ "$(metric fanoutd_config_generation)" = "$gen" ] || fail "generation changed on a failed reload"
read -r code _ <<<"$(get /product/9)"
[ "$code" = 200 ] || fail "not serving after a refused reload: $code"
grep -q "reload refused, keeping the running configuration: .*fanoutd.conf:[0-9]*: syntax error" \
	"$TMP/fanoutd.log" || fail "refusal not logged with file:line"
pass "a broken config at reload: refused with file:line, still serving generation $gen"
stop_fanoutd
