#!/usr/bin/env bash
# The admin socket's path: a regular file there is refused and left alone, a
# stale socket is replaced, a second instance on a live socket refuses to
# start (the first keeps its socket), an exiting instance removes only its own
# socket file, a socket that cannot be opened stops the start, and an empty
# api.socket runs without one on purpose.
. "$SRCDIR/tests/integration/lib.sh"

conf=$(make_config -e 's|mode = "0660";|mode = "0666";|')
ctl() { "$FANOUTCTL" -s "$TMP/api.sock" "$@"; }

# must_refuse LOG PATTERN SOCKET: fanoutd with this socket path exits 1 at once, saying why.
must_refuse() {
	local log=$1 why=$2 sock=$3 rc=0
	timeout 10 "$FANOUTD" -c "$conf" --modules "$MODULES" --listen "127.0.0.1:$(free_port)" \
		--socket "$sock" >"$log" 2>&1 || rc=$?
	[ "$rc" = 1 ] || fail "socket $sock: exit $rc (124: it started), want 1: $(cat "$log")"
	grep -q "$why" "$log" || fail "socket $sock: no '$why' in: $(cat "$log")"
}

# A regular file at the path: refused, never deleted.
echo "precious" >"$TMP/api.sock"
must_refuse "$TMP/file.log" "the path exists and is not a socket: not replacing it" "$TMP/api.sock"
[ "$(cat "$TMP/api.sock")" = precious ] || fail "the regular file at the socket path was touched"
rm "$TMP/api.sock"
pass "a regular file at the socket path: start refused (exit 1, reason logged), file kept"

# A path that cannot be bound (its directory is a file): the start fails, not a warning.
touch "$TMP/notadir"
must_refuse "$TMP/bind.log" "cannot open the admin socket" "$TMP/notadir/api.sock"
pass "an admin socket that cannot be opened stops the start (exit 1)"

# A stale socket (nobody listening): replaced.
python3 -c 'import socket,sys; s=socket.socket(socket.AF_UNIX); s.bind(sys.argv[1])' "$TMP/api.sock"
[ -S "$TMP/api.sock" ] || fail "no stale socket made"
start_fanoutd "$conf"
ctl status >/dev/null || fail "no API after replacing a stale socket"
pass "a stale socket at the path is replaced"

# A second instance on the live socket: refused; the first keeps answering on it, also after.
must_refuse "$TMP/second.log" "answers on it: refusing to take it over" "$TMP/api.sock"
ctl status | grep -q "^generation *1$" || fail "the first instance lost its socket: $(ctl status 2>&1)"
pass "a second instance on a live socket refuses to start; the first still answers"

# An exiting instance removes its own socket only: a file put at the path since stays.
mv "$TMP/api.sock" "$TMP/moved.sock"
echo "someone else's" >"$TMP/api.sock"
stop_fanoutd
[ "$(cat "$TMP/api.sock" 2>/dev/null)" = "someone else's" ] || fail "shutdown removed a file that is not its socket"
rm -f "$TMP/api.sock" "$TMP/moved.sock"
start_fanoutd "$conf"
stop_fanoutd
[ ! -e "$TMP/api.sock" ] || fail "shutdown left its own socket behind"
pass "shutdown unlinks its own socket, not a file that replaced it"

# api.socket = "": no socket, on purpose; HTTP serves.
start_fanoutd "$conf" --socket ""
grep -q "admin socket disabled: api.socket is empty" "$TMP/fanoutd.log" || fail "no note of the disabled socket: $(cat "$TMP/fanoutd.log")"
read -r code _ <<<"$(get /healthz)"
[ "$code" = 200 ] || fail "healthz $code without an admin socket"
stop_fanoutd
pass "api.socket = \"\" runs without an admin socket"
