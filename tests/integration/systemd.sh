#!/usr/bin/env bash
# systemd integration without systemd as PID 1: the sd_notify sequence on a
# fake NOTIFY_SOCKET, the watchdog, socket activation, and the units checked
# by systemd-analyze (verify; security exposure <= 2.5).
. "$SRCDIR/tests/integration/lib.sh"

wait_for() { # file pattern [count]
	for _ in $(seq 500); do
		local n
		n=$(grep -c "^$2" "$1" 2>/dev/null || true)
		[ "${n:-0}" -ge "${3:-1}" ] && return 0
		sleep 0.01
	done
	fail "no '$2' (x${3:-1}) in $(tr '\n' ' ' <"$1")"
}

python3 "$SRCDIR/tests/integration/notify-listener.py" "$TMP/notify" "$TMP/msgs" &
listener=$!
at_exit "kill $listener 2>/dev/null"
wait_for "$TMP/msgs" LISTENING

PORT=$(free_port)
# WATCHDOG_PID must be fanoutd's own pid: exec from a subshell that knows it.
(export NOTIFY_SOCKET="$TMP/notify" WATCHDOG_USEC=200000 WATCHDOG_PID=$BASHPID
 exec "$FANOUTD" -c "$SRCDIR/etc/fanoutd.conf" --modules "$MODULES" --listen "127.0.0.1:$PORT") \
	>"$TMP/fanoutd.log" 2>&1 &
FOD_PID=$!
wait_for "$TMP/msgs" READY=1
curl -fs "$(url /healthz)" >/dev/null || fail "not serving after READY=1"
pass "READY=1 once the listener is bound"
wait_for "$TMP/msgs" WATCHDOG=1 2
pass "WATCHDOG=1 pings while the loops turn"
grep -q "^STATUS=serving" "$TMP/msgs" || fail "no STATUS"
kill -HUP "$FOD_PID"
wait_for "$TMP/msgs" READY=1 2
kill -TERM "$FOD_PID"
wait "$FOD_PID" || fail "exit status $? after SIGTERM"
FOD_PID=
grep -v '^WATCHDOG=1$' "$TMP/msgs" | grep -v '^LISTENING$' | sed 's/=.*//' | tr '\n' ' ' >"$TMP/seq"
seq=$(cat "$TMP/seq")
[[ "$seq" =~ ^READY\ STATUS\ RELOADING\ MONOTONIC_USEC\ READY\ STATUS\ STOPPING\ $ ]] ||
	fail "notify sequence: $seq"
pass "sequence: $seq"

# Socket activation: systemd passes the listening socket as fd 3.
if have systemd-socket-activate "socket activation"; then
	PORT=$(free_port)
	systemd-socket-activate -l "127.0.0.1:$PORT" "$FANOUTD" -c "$SRCDIR/etc/fanoutd.conf" \
		--modules "$MODULES" --listen 127.0.0.1:1 >"$TMP/fanoutd.log" 2>&1 &
	FOD_PID=$!
	for _ in $(seq 200); do curl -fs "$(url /healthz)" >/dev/null 2>&1 && break; sleep 0.05; done
	read -r code _ <<<"$(get /product/1)"
	[ "$code" = 200 ] || fail "socket-activated: $code"
	grep -q "listening on the socket systemd passed" "$TMP/fanoutd.log" || fail "did not use fd 3"
	stop_fanoutd
	pass "socket activation: serves on the socket systemd-socket-activate passed"
	# Two sockets, the second named "admin" (FileDescriptorName=admin): the
	# internal endpoints there, routes on the first, the configured addresses unbound.
	PORT=$(free_port)
	pa=$(free_port)
	systemd-socket-activate -l "127.0.0.1:$PORT" -l "127.0.0.1:$pa" --fdname=http:admin \
		"$FANOUTD" -c "$SRCDIR/etc/fanoutd.conf" --modules "$MODULES" --listen 127.0.0.1:1 \
		>"$TMP/fanoutd.log" 2>&1 &
	FOD_PID=$!
	for _ in $(seq 200); do curl -fs "http://127.0.0.1:$pa/healthz" >/dev/null 2>&1 && break; sleep 0.05; done
	read -r code _ <<<"$(get /product/1)"
	[ "$code" = 200 ] || fail "socket-activated public socket: $code"
	[ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$pa/metrics")" = 200 ] || fail "admin socket /metrics"
	[ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$pa/product/1")" = 404 ] || fail "a route on the admin socket"
	read -r code _ <<<"$(get /metrics)"
	[ "$code" = 404 ] || fail "/metrics on the public socket with an admin socket passed: $code"
	grep -q "listening on the socket systemd passed (fd 4, 127.0.0.1:$pa, internal endpoints)" "$TMP/fanoutd.log" ||
		fail "fd 4 not taken as the admin listener: $(cat "$TMP/fanoutd.log")"
	stop_fanoutd
	pass "socket activation with two sockets: fd 3 public, fd 4 (named admin) the internal endpoints"
fi

if have systemd-analyze "the units (systemd-analyze verify, security)"; then
	# The unit as installed, pointing at this build.
	sed -e "s|@sbindir@/fanoutd|$FANOUTD|g" -e "s|@bindir@/fanoutctl|$FANOUTCTL|g" \
		-e "s|@sysconfdir@|$SRCDIR/etc|g" \
		"$SRCDIR/systemd/fanoutd.service.in" >"$TMP/fanoutd.service"
	cp "$SRCDIR/systemd/fanoutd.socket" "$TMP/fanoutd.socket"
	out=$(cd "$TMP" && systemd-analyze verify --man=no ./fanoutd.service ./fanoutd.socket 2>&1) ||
		fail "systemd-analyze verify: $out"
	pass "systemd-analyze verify: clean"
	exposure=$(cd "$TMP" && systemd-analyze security --offline=true ./fanoutd.service 2>&1 |
		sed -n 's/.*Overall exposure level for fanoutd.service: \([0-9.]*\).*/\1/p')
	[ -n "$exposure" ] || fail "no exposure level from systemd-analyze security"
	awk -v e="$exposure" 'BEGIN { exit !(e <= 2.5) }' || fail "exposure $exposure > 2.5"
	pass "systemd-analyze security: exposure $exposure (<= 2.5)"
fi
