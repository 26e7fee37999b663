#!/usr/bin/env bash
# What bad HTTP input gets (DESIGN.md section 8): 414, 431, 413/405, 400, 408,
# 503 over max_connections; the daemon keeps serving others throughout.
. "$SRCDIR/tests/integration/lib.sh"

conf=$(make_config -e 's/header_timeout_ms = 10000;/header_timeout_ms = 300;/' \
	-e 's/max_connections = 10000;/max_connections = 3;/')
start_fanoutd "$conf"

# raw REQUEST: sends bytes on a fresh connection, prints the status line's code.
raw() {
	exec 3<>"/dev/tcp/127.0.0.1/$PORT"
	printf '%b' "$1" >&3
	timeout 5 head -c 12 <&3 | awk '{print $2}'
	exec 3<&-
}

long=$(head -c 3000 /dev/zero | tr '\0' a)
[ "$(raw "GET /product/$long HTTP/1.1\r\nHost: x\r\n\r\n")" = 414 ] || fail "long URL"
pass "request target over max_url: 414"
hdr=$(head -c 9000 /dev/zero | tr '\0' b)
[ "$(raw "GET /product/1 HTTP/1.1\r\nHost: x\r\nX-Big: $hdr\r\n\r\n")" = 431 ] || fail "big headers"
pass "headers over max_headers: 431"
[ "$(raw "POST /product/1 HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello")" = 413 ] || fail "body"
pass "a body over max_body: 413"
[ "$(raw "DELETE /product/1 HTTP/1.1\r\nHost: x\r\n\r\n")" = 405 ] || fail "method"
pass "a method other than GET: 405"
[ "$(raw "GARBAGE\r\n\r\n")" = 400 ] || fail "garbage"
pass "malformed request: 400"
[ "$(raw "GET /product/1 HTTP/1.1\r\nHost: x\r\n")" = 408 ] || fail "slow headers"
pass "headers not complete within header_timeout_ms: 408"

# Keep-alive: two requests on one connection.
out=$(curl -s -o /dev/null -o /dev/null -w '%{num_connects} ' "$(url /healthz)" "$(url /healthz)")
[ "$out" = "1 0 " ] || fail "keep-alive: connects per request '$out'"
pass "keep-alive: the second request reuses the connection"

# max_connections = 3: hold 3 open, the 4th is refused with 503.
exec 4<>"/dev/tcp/127.0.0.1/$PORT" 5<>"/dev/tcp/127.0.0.1/$PORT" 6<>"/dev/tcp/127.0.0.1/$PORT"
for _ in $(seq 100); do
	[ "$(curl -s -o /dev/null -w '%{http_code}' "$(url /healthz)")" = 503 ] && break
	sleep 0.01
done
[ "$(curl -s -o /dev/null -w '%{http_code}' "$(url /healthz)")" = 503 ] || fail "4th connection not refused"
exec 4<&- 5<&- 6<&-
for _ in $(seq 100); do
	[ "$(curl -s -o /dev/null -w '%{http_code}' "$(url /healthz)")" = 200 ] && break
	sleep 0.01
done
[ "$(curl -s -o /dev/null -w '%{http_code}' "$(url /healthz)")" = 200 ] || fail "not serving after the burst"
pass "over max_connections: 503 and closed; served again once they left"
stop_fanoutd
