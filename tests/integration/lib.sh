# Shared by the integration tests: start fanoutd on a loopback port, talk to
# it with curl, stop it by PID. Sourced; expects FANOUTD, MODULES, SRCDIR, BUILDDIR.
set -euo pipefail

TMP=$(mktemp -d "${TMPDIR:-/tmp}/fanoutd-test.XXXXXX")
FOD_PID=
PORT=
cleanup() {
	if [ -n "$FOD_PID" ] && kill -0 "$FOD_PID" 2>/dev/null; then
		kill -KILL "$FOD_PID" 2>/dev/null || true
		wait "$FOD_PID" 2>/dev/null || true
	fi
	rm -rf "$TMP"
}
trap cleanup EXIT

fail() {
	echo "FAIL: $*" >&2
	[ -f "$TMP/fanoutd.log" ] && { echo "--- fanoutd log:" >&2; tail -30 "$TMP/fanoutd.log" >&2; }
	exit 1
}
pass() { echo "ok: $*"; }

command -v curl >/dev/null || { echo "SKIP: curl is not installed"; exit 77; }

# A config in $TMP derived from the shipped one, with sed expressions applied.
make_config() {
	sed "$@" "$SRCDIR/etc/fanoutd.conf" >"$TMP/fanoutd.conf"
	echo "$TMP/fanoutd.conf"
}

free_port() {
	python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

# start_fanoutd CONFIG [extra args]: runs it in the background, waits for /healthz.
start_fanoutd() {
	local conf=$1
	shift
	PORT=$(free_port)
	"$FANOUTD" -c "$conf" --modules "$MODULES" --listen "127.0.0.1:$PORT" \
		--socket "$TMP/api.sock" "$@" >"$TMP/fanoutd.log" 2>&1 &
	FOD_PID=$!
	for _ in $(seq 200); do
		curl -fs "http://127.0.0.1:$PORT/healthz" >/dev/null 2>&1 && return 0
		kill -0 "$FOD_PID" 2>/dev/null || fail "fanoutd exited at start"
		sleep 0.05
	done
	fail "fanoutd did not answer /healthz within 10 s"
}

stop_fanoutd() {
	kill -TERM "$FOD_PID"
	local rc=0
	wait "$FOD_PID" || rc=$?
	FOD_PID=
	[ "$rc" -eq 0 ] || fail "fanoutd exited $rc after SIGTERM"
}

url() { echo "http://127.0.0.1:$PORT$1"; }

# get PATH: prints "STATUS BODY"
get() {
	curl -s -o "$TMP/body" -w '%{http_code}' "$(url "$1")" >"$TMP/code" || true
	echo "$(cat "$TMP/code") $(cat "$TMP/body")"
}

# metric NAME{labels}: the value of one sample
metric() {
	curl -fs "$(url /metrics)" | awk -v k="$1" '$1 == k {print $2}'
}
