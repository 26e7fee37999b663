#!/usr/bin/env bash
# Graceful reload: 100 SIGHUPs while requests run, not one request fails; a
# bad config at reload is refused and the old generation keeps serving; the
# series of renamed branches and routes go with them.
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

# Renaming reloads: the series of a branch or route that no longer exists go
# at once, the new names' come, and /metrics does not grow reload after reload.
sed 's/budget_ms = ;/budget_ms = 5000;/' "$conf" >"$TMP/base.conf"
reloads=$(metric 'fanoutd_reloads_total{result="ok"}')
rename_reload() { # N: branch price -> price_N, route enrich -> enrich_N, reload, wait for it
	sed -e "s/name = \"price\";/name = \"price_$1\";/" \
		-e "s/name = \"enrich\";/name = \"enrich_$1\";/" "$TMP/base.conf" >"$conf"
	reloads=$((reloads + 1))
	kill -HUP "$FOD_PID"
	for _ in $(seq 500); do
		[ "$(metric 'fanoutd_reloads_total{result="ok"}')" = "$reloads" ] && break
		sleep 0.01
	done
	[ "$(metric 'fanoutd_reloads_total{result="ok"}')" = "$reloads" ] || fail "renaming reload $1 not done"
}
series() { # PATTERN: how many /metrics lines match
	curl -fs "$(url /metrics)" | grep -c "$1" || true
}
read -r code _ <<<"$(get /product/7)"
[ "$code" = 200 ] || fail "/product/7: $code"
[ "$(series 'branch="price"')" -gt 0 ] || fail "no series of branch price to begin with"
rename_reload 1
# A refused reload used no generation number: the next good one is the next number.
[ "$(metric fanoutd_config_generation)" = $((gen + 1)) ] ||
	fail "generation $gen, a refused reload, a good one: generation $(metric fanoutd_config_generation), want $((gen + 1))"
read -r code _ <<<"$(get /product/8)"
[ "$code" = 200 ] || fail "/product/8 after a renaming reload: $code"
[ "$(series 'branch="price"')" = 0 ] || fail "series of the renamed branch price stay: $(series 'branch="price"')"
[ "$(series 'route="enrich"')" = 0 ] || fail "series of the renamed route enrich stay"
[ "$(series 'branch="price_1"')" -gt 0 ] || fail "no series of the new branch price_1"
[ "$(series 'route="enrich_1"')" -gt 0 ] || fail "no series of the new route enrich_1"
lines1=$(curl -fs "$(url /metrics)" | wc -l)
for n in $(seq 2 50); do
	rename_reload "$n"
done
lines50=$(curl -fs "$(url /metrics)" | wc -l)
[ "$lines50" = "$lines1" ] || fail "/metrics grew from $lines1 to $lines50 lines over 49 renaming reloads"
[ "$(series 'branch="price_1"')" = 0 ] || fail "series of price_1 stay after 49 more renames"
[ "$(series 'branch="price_50"')" -gt 0 ] || fail "no series of price_50"
pass "50 renaming reloads: old names' series gone, new ones present, /metrics stays at $lines1 lines"
# The socket API's branch list drops them too, once no generation uses them
# (the last old one goes when its last connection does: poll, bounded).
for _ in $(seq 200); do
	api=$("$FANOUTCTL" -s "$TMP/api.sock" --json branches)
	case $api in *'"branch":"price_49"'*) sleep 0.01 ;; *) break ;; esac
done
n=$(echo "$api" | grep -o '"branch":"[^"]*"' | grep -c '"branch":"price' || true)
[ "$n" = 1 ] || fail "the API lists $n price branches: $(echo "$api" | grep -o '"branch":"price[^"]*"' | tr '\n' ' ')"
echo "$api" | grep -q '"route":"enrich_50"' || fail "the API does not list route enrich_50"
echo "$api" | grep -q '"route":"enrich_49"' && fail "the API still lists route enrich_49"
pass "the API's branch list holds the current names only"

# A refused reload over the API uses no generation number either.
gen=$(metric fanoutd_config_generation)
sed -e 's/budget_ms = 5000;/budget_ms = -1;/' "$TMP/base.conf" >"$conf"
out=$("$FANOUTCTL" -s "$TMP/api.sock" reload 2>&1) && fail "a bad config reloaded over the API: $out"
cp "$TMP/base.conf" "$conf"
"$FANOUTCTL" -s "$TMP/api.sock" --json reload >"$TMP/reply" || fail "reload: $(cat "$TMP/reply")"
grep -q "\"generation\":$((gen + 1))[,}]" "$TMP/reply" ||
	fail "after generation $gen and a refused reload: $(cat "$TMP/reply"), want generation $((gen + 1))"
pass "refused reloads use no generation numbers: $gen, refused, $((gen + 1))"

# Keep-alive connections pin no generation: 8 connections stay open and in use
# across 20 reloads, and after each the replaced generations are gone (the
# gauge back to 1, the thread count to its level), not one more kept per reload.
# A connection's next request gets the new generation's limits.
cat >"$TMP/keepalive.py" <<'PY'
import socket, sys
port = int(sys.argv[1])
conns = [socket.create_connection(("127.0.0.1", port), timeout=10) for _ in range(8)]
def ask(c, path):
    c.sendall(b"GET " + path.encode() + b" HTTP/1.1\r\nHost: t\r\n\r\n")
    buf = b""
    while b"\r\n\r\n" not in buf:
        d = c.recv(65536)
        if not d:
            return "closed"
        buf += d
    head, _, body = buf.partition(b"\r\n\r\n")
    n = int([l.split(b":")[1] for l in head.split(b"\r\n") if l.lower().startswith(b"content-length:")][0])
    while len(body) < n:
        body += c.recv(65536)
    return head.split(b" ")[1].decode()
for line in sys.stdin:  # one path a line: asked on every connection, the statuses printed
    print(" ".join(ask(c, line.strip()) for c in conns), flush=True)
PY
coproc KA { python3 "$TMP/keepalive.py" "$PORT"; }
ka() { echo "$1" >&"${KA[1]}" && read -r -t 20 -u "${KA[0]}" line && echo "$line"; }
[ "$(ka /product/1)" = "200 200 200 200 200 200 200 200" ] || fail "keep-alive connections: no 200s"
threads0=$(metric fanoutd_threads)
[ "$(metric fanoutd_config_generations_live)" = 1 ] || fail "generations live before: $(metric fanoutd_config_generations_live)"
for i in $(seq 20); do
	out=$("$FANOUTCTL" -s "$TMP/api.sock" reload 2>&1) || fail "keep-alive reload $i: $out"
	[ "$(ka /product/$i)" = "200 200 200 200 200 200 200 200" ] || fail "keep-alive after reload $i: not all 200"
	for _ in $(seq 300); do
		[ "$(metric fanoutd_config_generations_live)" = 1 ] && break
		sleep 0.01
	done
	live=$(metric fanoutd_config_generations_live)
	[ "$live" = 1 ] || fail "after reload $i with 8 keep-alive connections open: $live generations live, want 1"
done
threads=$(metric fanoutd_threads)
[ "$threads" = "$threads0" ] || fail "threads $threads0 before 20 reloads, $threads after (connections still open)"
# The new limit reaches the open connections' next request.
long=/product/$(printf '1%.0s' $(seq 300))
[ "$(ka "$long")" != "414 414 414 414 414 414 414 414" ] || fail "a 306-byte target refused before the limit changed"
sed -e 's/max_url = 2048;/max_url = 256;/' "$TMP/base.conf" >"$conf"
out=$("$FANOUTCTL" -s "$TMP/api.sock" reload 2>&1) || fail "reload to max_url 256: $out"
[ "$(ka "$long")" = "414 414 414 414 414 414 414 414" ] || fail "max_url 256 did not reach the open connections"
cp "$TMP/base.conf" "$conf"
out=$("$FANOUTCTL" -s "$TMP/api.sock" reload 2>&1) || fail "reload back: $out"
exec {KA[1]}>&-
wait "$KA_PID"
pass "8 keep-alive connections across 20 reloads: 1 generation live after each, threads $threads0 -> $threads; new limits reach them"

# Settings that apply only at start (the admin socket's mode and group, the loops, the
# listener): a reload that changes one says so in its reply and its log, every time.
sed -e 's/mode = "0660";/mode = "0600";/' -e 's/loops = 0;/loops = 3;/' "$TMP/base.conf" >"$conf"
for i in 1 2; do
	out=$("$FANOUTCTL" -s "$TMP/api.sock" reload 2>&1) || fail "start-only reload $i: $out"
	grep -q "changed but applies only at start: api.mode, workers.loops" <<<"$out" ||
		fail "reload $i does not name the start-only settings: $out"
done
grep -q "reload: changed but applies only at start: api.mode, workers.loops (restart fanoutd to apply)" \
	"$TMP/fanoutd.log" || fail "the log does not name the start-only settings"
[ "$(stat -c %a "$TMP/api.sock")" = 660 ] || fail "the socket's mode changed: $(stat -c %a "$TMP/api.sock")"
cp "$TMP/base.conf" "$conf"
out=$("$FANOUTCTL" -s "$TMP/api.sock" reload 2>&1) || fail "reload back: $out"
grep -q "applies only at start" <<<"$out" && fail "back to the start values, still: $out"
pass "a reload changing start-only settings says so: $(grep -o 'changed but.*' "$TMP/fanoutd.log" | head -1)"
stop_fanoutd
