#!/usr/bin/env bash
# The HTTP listeners: http.listen as a list (IPv4, [IPv6], a host name bound on
# every address it resolves to), --listen overriding the list, bad addresses
# refused with file:line, and http.admin_listen: the internal endpoints there
# (404 on the public port unless http.admin_on_public), still reachable when
# the public port is at max_connections and past its monitoring reserve.
. "$SRCDIR/tests/integration/lib.sh"

# ::1 is needed for the IPv6 and "localhost" parts: say so plainly when it is missing.
python3 -c 'import socket; s = socket.socket(socket.AF_INET6); s.bind(("::1", 0))' 2>/dev/null ||
	fail "IPv6 loopback ::1 is not usable here (ip -6 addr show lo): the IPv6 listeners cannot be tested"

# A port free on 127.0.0.1 and on ::1 at once.
free_port_both() {
	python3 -c '
import socket
for _ in range(100):
    a = socket.socket(); a.bind(("127.0.0.1", 0)); p = a.getsockname()[1]
    b = socket.socket(socket.AF_INET6)
    try:
        b.bind(("::1", p)); print(p); break
    except OSError:
        pass
    finally:
        a.close(); b.close()
'
}

# run_fanoutd CONFIG [args]: starts it with no --listen; waits for http://$1 (host:port)/healthz.
run_fanoutd() {
	local conf=$1 probe=$2
	shift 2
	"$FANOUTD" -c "$conf" --modules "$MODULES" --socket "$TMP/api.sock" "$@" >"$TMP/fanoutd.log" 2>&1 &
	FOD_PID=$!
	for _ in $(seq 200); do
		curl -fs -o /dev/null "http://$probe/healthz" 2>/dev/null && return 0
		kill -0 "$FOD_PID" 2>/dev/null || fail "fanoutd exited at start"
		sleep 0.05
	done
	fail "fanoutd did not answer http://$probe/healthz within 10 s"
}

code() { curl -s -o /dev/null -m 10 -w '%{http_code}' "$1" || true; }

# ---- a list: IPv4, IPv6 and a name resolved to both
p4=$(free_port)
p6=$(free_port_both)
pn=$(free_port_both)
conf=$(make_config -e "s/listen = \"127.0.0.1:8080\";/listen = [\"127.0.0.1:$p4\", \"[::1]:$p6\", \"localhost:$pn\"];/")
grep -q "\"localhost:$pn\"" "$conf" || fail "the sed did not apply"
# The name must resolve to both loopbacks. Where /etc/hosts gives localhost
# only 127.0.0.1 (this sandbox), fanoutd runs in its own mount namespace with
# a hosts file that also lists ::1 (the host's file is left alone).
wrap=()
if ! getent ahosts localhost | grep -q "^::1 "; then
	[ "$(id -u)" = 0 ] && command -v unshare >/dev/null ||
		fail "localhost does not resolve to ::1 here and, not root or without unshare, no private /etc/hosts can say so"
	printf '127.0.0.1 localhost\n::1 localhost\n' >"$TMP/hosts"
	wrap=(unshare --mount sh -c 'mount --bind "$0" /etc/hosts && exec "$@"' "$TMP/hosts")
	note="(localhost given ::1 too by a private /etc/hosts: this one has 127.0.0.1 only)"
fi
"${wrap[@]}" "$FANOUTD" -c "$conf" --modules "$MODULES" --socket "$TMP/api.sock" >"$TMP/fanoutd.log" 2>&1 &
FOD_PID=$!
for _ in $(seq 200); do
	curl -fs -o /dev/null "http://127.0.0.1:$p4/healthz" 2>/dev/null && break
	kill -0 "$FOD_PID" 2>/dev/null || fail "fanoutd exited at start"
	sleep 0.05
done
for u in "http://127.0.0.1:$p4" "http://[::1]:$p6" "http://127.0.0.1:$pn" "http://[::1]:$pn"; do
	[ "$(code "$u/product/1")" = 200 ] || fail "$u/product/1: $(code "$u/product/1")"
done
[ "$(code "http://127.0.0.1:$p6/product/1")" = 000 ] || fail "[::1]:$p6 also took 127.0.0.1"
grep -q "listening on http://\[::1\]:$pn (localhost:$pn)" "$TMP/fanoutd.log" &&
	grep -q "listening on http://127.0.0.1:$pn (localhost:$pn)" "$TMP/fanoutd.log" ||
	fail "the log does not name every address of localhost:$pn: $(grep listening "$TMP/fanoutd.log")"
pass "http.listen = [127.0.0.1:$p4, [::1]:$p6, localhost:$pn]: served on all four addresses ${note:-}"
stop_fanoutd

# ---- --listen replaces the whole list
po=$(free_port)
run_fanoutd "$conf" "127.0.0.1:$po" --listen "127.0.0.1:$po"
[ "$(code "http://127.0.0.1:$po/product/1")" = 200 ] || fail "--listen address"
[ "$(code "http://127.0.0.1:$p4/product/1")" = 000 ] || fail "the configured list was bound despite --listen"
[ "$(code "http://[::1]:$p6/product/1")" = 000 ] || fail "the configured [::1] was bound despite --listen"
pass "--listen 127.0.0.1:$po overrides the configured list"
stop_fanoutd
po6=$(free_port_both)
run_fanoutd "$conf" "[::1]:$po6" --listen "[::1]:$po6"
pass "--listen [::1]:$po6 (IPv6) serves"
stop_fanoutd

# ---- bad addresses: file:line naming the setting; a port in use: the address named
for bad in '42' '[]' '"[::1:80"' '"::1:80"' '"127.0.0.1"' '("127.0.0.1:1", 7)' '"127.0.0.1:99999"'; do
	conf=$(make_config -e "s/listen = \"127.0.0.1:8080\";/listen = $bad;/")
	rc=0
	"$FANOUTD" -t -c "$conf" --modules "$MODULES" >"$TMP/out" 2>&1 || rc=$?
	# the value's type ('listen' must ...) or the address's syntax (listen 'X': the reason)
	[ "$rc" = 1 ] && grep -Eq "fanoutd.conf:[0-9]+: ('listen' must|listen '[^']*': )" "$TMP/out" ||
		fail "listen = $bad: exit $rc, $(cat "$TMP/out")"
done
pass "bad http.listen values refused with file:line"
python3 -c 'import socket,time,sys; s=socket.socket(); s.bind(("127.0.0.1",0)); s.listen(); print(s.getsockname()[1], flush=True); time.sleep(30)' >"$TMP/busy" &
holder=$!
at_exit "kill $holder 2>/dev/null"
for _ in $(seq 100); do [ -s "$TMP/busy" ] && break; sleep 0.05; done
busy=$(cat "$TMP/busy")
pf=$(free_port)
conf=$(make_config -e "s/listen = \"127.0.0.1:8080\";/listen = [\"127.0.0.1:$pf\", \"127.0.0.1:$busy\"];/")
rc=0
timeout 10 "$FANOUTD" -c "$conf" --modules "$MODULES" --socket "$TMP/api.sock" >"$TMP/out" 2>&1 || rc=$?
[ "$rc" = 1 ] && grep -q "cannot listen on 127.0.0.1:$busy (http.listen): Address already in use" "$TMP/out" ||
	fail "a port in use: exit $rc, $(cat "$TMP/out")"
[ ! -e "$TMP/api.sock" ] || fail "the admin socket was left behind"
kill "$holder"
pass "a listen address in use: exit 1 naming it"

# ---- http.admin_listen: the internal endpoints there, not on the public port
pp=$(free_port)
pa=$(free_port)
conf=$(make_config -e "s/listen = \"127.0.0.1:8080\";/listen = \"127.0.0.1:$pp\"; admin_listen = \"127.0.0.1:$pa\";/" \
	-e 's/max_connections = 10000;/max_connections = 2;/')
run_fanoutd "$conf" "127.0.0.1:$pa"
P="http://127.0.0.1:$pp" A="http://127.0.0.1:$pa"
[ "$(code "$P/product/1")" = 200 ] || fail "public /product/1"
for e in /metrics /healthz /readyz /; do
	[ "$(code "$P$e")" = 404 ] || fail "public $e: $(code "$P$e"), want 404"
	[ "$(code "$A$e")" = 200 ] || fail "admin $e: $(code "$A$e")"
done
[ "$(code "$A/product/1")" = 404 ] || fail "a route on the admin listener: $(code "$A/product/1")"
grep -q "listening on http://127.0.0.1:$pa for the internal endpoints" "$TMP/fanoutd.log" || fail "admin listener not logged"
pass "admin_listen: /metrics /healthz /readyz / there (200), 404 on the public port; routes 404 on the admin port"

# The public port full (max_connections 2 plus the reserve of 8): the admin port still answers.
PORT=$pp PA=$pa PYTHONPATH="$SRCDIR/tests/integration" timeout 60 python3 -c '
import os, socket
from rawhttp import *
def test():
    held = []
    for i in range(2 + 8):
        s = connect()
        s.sendall(request("/product/1" if i < 2 else "/nothing"))
        Reader(s).response()
        held.append(s)
    s = connect()
    s.sendall(request("/product/1"))
    a = Reader(s).response()
    if a.status != 503:
        fail(f"past max_connections and the reserve: {a.status}")
    s.close()
    for path in ("/metrics", "/healthz", "/readyz"):
        s = socket.create_connection(("127.0.0.1", int(os.environ["PA"])), timeout=5)
        s.sendall(request(path, close=True))
        a = Reader(s).response()
        s.close()
        if a.status != 200:
            fail(f"admin {path} with the public port full: {a.status}")
    ok("public port full (2 + 8 reserve, the next 503): the admin port still serves /metrics, /healthz, /readyz")
    for h in held:
        h.close()
main(test)' || fail "see above"
stop_fanoutd

# ---- http.admin_on_public = true: the internal endpoints on both
conf=$(make_config -e "s/listen = \"127.0.0.1:8080\";/listen = \"127.0.0.1:$pp\"; admin_listen = \"127.0.0.1:$pa\"; admin_on_public = true;/")
run_fanoutd "$conf" "127.0.0.1:$pa"
for e in /metrics /healthz /readyz; do
	[ "$(code "$P$e")" = 200 ] || fail "public $e with admin_on_public: $(code "$P$e")"
done
pass "admin_on_public = true: the internal endpoints on the public port too"
stop_fanoutd
