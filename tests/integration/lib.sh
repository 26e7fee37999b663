# Shared by the integration tests: start fanoutd on a loopback port, talk to
# it with curl, stop it by PID. Sourced; expects FANOUTD, MODULES, SRCDIR, BUILDDIR.
set -euo pipefail

TMP=$(mktemp -d "${TMPDIR:-/tmp}/fanoutd-test.XXXXXX")
FOD_PID=
PORT=
NOT_CHECKED=
AT_EXIT=()
cleanup() {
	if [ -n "$FOD_PID" ] && kill -0 "$FOD_PID" 2>/dev/null; then
		kill -KILL "$FOD_PID" 2>/dev/null || true
		wait "$FOD_PID" 2>/dev/null || true
	fi
	rm -rf "$TMP"
}
# at_exit COMMAND: a script's own cleanup, run (last added first) before lib.sh's.
at_exit() { AT_EXIT=("$1" "${AT_EXIT[@]}"); }
on_exit() {
	local rc=$1 c
	for c in "${AT_EXIT[@]}"; do eval "$c" || true; done
	cleanup
	# Passed, but parts were not checked (tool missing, outside CI): say so, as a skip.
	if [ "$rc" = 0 ] && [ -n "$NOT_CHECKED" ]; then
		echo "SKIP: everything else passed; not checked:$NOT_CHECKED"
		exit 77
	fi
}
trap 'on_exit $?' EXIT

fail() {
	echo "FAIL: $*" >&2
	[ -f "$TMP/fanoutd.log" ] && { echo "--- fanoutd log:" >&2; tail -30 "$TMP/fanoutd.log" >&2; }
	exit 1
}
pass() { echo "ok: $*"; }

# CI (CI=true, as CI services set it) installs every tool the tests use (tools/setup.sh):
# there a missing tool FAILS its test, naming it, instead of letting checks pass unrun.
in_ci() { case "${CI:-}" in "" | false | 0) return 1 ;; esac; }

# need TOOL WHAT: the whole script needs TOOL. Missing: FAIL in CI, else skip (77) saying why.
need() {
	command -v "$1" >/dev/null && return 0
	if in_ci; then
		echo "FAIL: $1 is not installed, needed for: $2 (CI=$CI; tools/setup.sh installs it)" >&2
		exit 1
	fi
	echo "SKIP: $1 is not installed, needed for: $2 (tools/setup.sh installs it)"
	exit 77
}

# have TOOL WHAT: whether the part of a script that checks WHAT can run. Missing: FAIL
# in CI; elsewhere that part is left out, and a script that otherwise passes exits 77.
have() {
	command -v "$1" >/dev/null && return 0
	in_ci && fail "$1 is not installed, needed for: $2 (CI=$CI; tools/setup.sh installs it)"
	echo "note: $1 is not installed: $2 not checked (tools/setup.sh installs it)"
	NOT_CHECKED="$NOT_CHECKED $2 ($1 missing);"
	return 1
}

need curl "talking to fanoutd over HTTP"
need python3 "picking free ports"

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
